"""Ed25519 signatures of what the ledger issues: evidence roots and daily tree heads. A signed
statement is the canonical JSON of ``{"statement": KIND, ...fields}``, so a verifier rebuilds the
exact bytes from the document it holds; signatures travel as base64, keys as PEM."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lineage.evidence import canonical_json

EVIDENCE_ROOT: Final = "syncsight.evidence-root/1"
TREE_HEAD: Final = "syncsight.tree-head/1"
SIGNATURE_ALGORITHM: Final = "ed25519"


class SigningKeyError(ValueError):
    """A key file or PEM text that is not an Ed25519 key; the message names the file."""


def statement(kind: str, fields: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers."""
    return canonical_json({"statement": kind, **fields})


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@dataclass(frozen=True)
class Signer:
    """This service's signing key."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def sign(self, kind: str, fields: Mapping[str, Any]) -> str:
        """The base64 signature of the statement ``kind`` over ``fields``."""
        return base64.b64encode(self.private_key.sign(statement(kind, fields))).decode("ascii")

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())


def load_signer(path: Path) -> Signer:
    """The Ed25519 private key of a PEM (PKCS #8, unencrypted) file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"signing key file {str(path)!r}: cannot read it ({error})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(
            f"signing key file {str(path)!r}: not an unencrypted PEM private key ({error}); "
            "expected the output of `openssl genpkey -algorithm ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"signing key file {str(path)!r}: a {type(key).__name__}, expected an Ed25519 key "
            "(`openssl genpkey -algorithm ed25519`)"
        )
    return Signer(key)


def load_or_create_signer(path: Path) -> Signer:
    """The key at ``path``; when there is none, a new key written there readable by the owner
    only (the development default: production names its own key file)."""
    if path.exists():
        return load_signer(path)
    return write_new_key(path)


def write_new_key(path: Path) -> Signer:
    """A new key written to ``path`` as PEM (PKCS #8, unencrypted), readable by the owner only;
    an existing file is never replaced (its key may have signed published heads)."""
    signer = Signer.generate()
    pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(
            f"signing key file {str(path)!r} exists already; a key that signed published heads "
            "must not be replaced (remove the file yourself if it never did)"
        ) from None
    except OSError as error:
        raise SigningKeyError(
            f"signing key file {str(path)!r}: cannot create it ({error.strerror})"
        ) from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return signer


def load_public_key(text: str, *, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text (``source`` names where it came from in errors)."""
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SigningKeyError(f"{source}: not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{source}: a {type(key).__name__}, expected an Ed25519 public key")
    return key


def signature_valid(
    public_key: Ed25519PublicKey, kind: str, fields: Mapping[str, Any], signature: Any
) -> bool:
    """Whether ``signature`` (base64) signs the statement ``kind`` over ``fields``."""
    if not isinstance(signature, str):
        return False
    try:
        public_key.verify(base64.b64decode(signature, validate=True), statement(kind, fields))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
