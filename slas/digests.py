"""64-bit digests of rows held in columns (pure, vectorised): a state row's identity and content
hashed without building it in Python, so that a re-derivation builds rows only where the content
moved (``slas.business_state``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

U64Array = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def text_hash(text: str) -> int:
    """A stable 64-bit hash of ``text`` (the same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def text_hashes(texts: Iterable[str]) -> U64Array:
    """``text_hash`` of each text, hashing each distinct text once."""
    values = np.asarray(list(texts), dtype=object)
    if not len(values):
        return np.zeros(0, np.uint64)
    distinct, index = np.unique(values.astype(str), return_inverse=True)
    table = np.array([text_hash(str(t)) for t in distinct], dtype=np.uint64)
    return table[index.reshape(-1)]


def as_words(column: npt.ArrayLike) -> U64Array:
    """A numeric column as 64-bit words: integers by value, floats by their bits."""
    values = np.asarray(column)
    if values.dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    if values.dtype.kind == "i":
        return np.ascontiguousarray(values, dtype=np.int64).view(np.uint64)
    return values.astype(np.uint64)


def row_digests(columns: Sequence[npt.ArrayLike], count: int) -> U64Array:
    """One digest per row of ``count`` rows whose fields are ``columns`` (each a column of
    ``count`` values, or a scalar that every row shares); order matters."""
    digest = np.full(count, _GOLDEN, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            words = as_words(column)
            digest = _finalize((digest ^ np.broadcast_to(words, (count,))) * _GOLDEN)
    return digest


def _finalize(words: U64Array) -> U64Array:
    """splitmix64's finalizer: every input bit moves about half the output bits."""
    words = (words ^ (words >> np.uint64(30))) * _MIX_1
    words = (words ^ (words >> np.uint64(27))) * _MIX_2
    return words ^ (words >> np.uint64(31))
