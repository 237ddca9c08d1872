"""64-bit digests of rows held in columns (pure, vectorised): a state row's identity and content
hashed without building it in Python, so that a re-derivation builds rows only where the content
moved (``slas.business_state``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

U64Array = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def text_hash(text: str) -> int:
    """A stable 64-bit hash of ``text`` (the same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def text_hashes(texts: Iterable[str] | pa.Array) -> U64Array:
    """``text_hash`` of each text, hashing each distinct text once (told apart by Arrow's
    dictionary encoding: no sort of Python strings; texts given as Arrow are not made Python
    strings but the distinct ones)."""
    array = texts if isinstance(texts, pa.Array) else pa.array(list(texts), type=pa.string())
    encoded = array.dictionary_encode()
    if not len(encoded):
        return np.zeros(0, np.uint64)
    table = np.array([text_hash(t) for t in encoded.dictionary.to_pylist()], dtype=np.uint64)
    return np.asarray(table[encoded.indices.to_numpy(zero_copy_only=False)], dtype=np.uint64)


def sorted_members(values: U64Array, ordered: U64Array) -> npt.NDArray[np.bool_]:
    """Whether each of ``values`` is in ``ordered`` (sorted): ``np.isin`` without sorting
    ``ordered`` again at every call."""
    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.asarray(ordered[at] == values)


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
