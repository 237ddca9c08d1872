"""An item's digest (``slas.item_rows.item_digests``), pure: it covers every column a stored item
holds, and the same values digest the same whether a derivation built them or the engine gave
them back (low-cardinality texts as dictionaries, columns in chunks, arrays with offsets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from slas.item_rows import VALUE_COLUMNS, item_digests
from slas.state_queries import HASHED_ITEM_COLUMNS

AT = datetime(2026, 9, 30, 23, 59, 59, 999_999, tzinfo=UTC)


def _column(name: str, values: list[Any]) -> pa.Array:
    """``values`` in the Arrow type a derivation writes column ``name`` with."""
    if name == "Amount":
        return pa.array(values, pa.decimal128(18, 4))
    if name.endswith(("At", "Since")):
        return pa.array(values, pa.timestamp("us", tz="UTC"))
    if name == "StageSeconds":
        return pa.array(values, pa.float64())
    return pa.array(values, pa.string())


def _rows(name: str) -> list[Any]:
    """Two rows of column ``name``: a value, and none (or empty)."""
    if name == "Amount":
        return [Decimal("12.5"), None]
    if name.endswith(("At", "Since")):
        return [AT, None]
    if name == "StageSeconds":
        return [1.5, -1.0]
    return ["a", ""]


def _other(name: str, value: Any) -> Any:
    """Another value of column ``name`` than ``value``, as close to it as the column spells."""
    if name == "Amount":
        return Decimal("0") if value is None else value + Decimal("0.0001")
    if name.endswith(("At", "Since")):
        return AT if value is None else value + timedelta(microseconds=1)
    if name == "StageSeconds":
        return value + 0.001
    return value + "b"


def _items() -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
    values = {name: _column(name, _rows(name)) for name in VALUE_COLUMNS}
    hashes = {name: np.array([7, 0], dtype=np.uint64) for name in HASHED_ITEM_COLUMNS}
    return values, hashes


class TestItemDigests:
    @pytest.mark.parametrize("name", VALUE_COLUMNS)
    @pytest.mark.parametrize("row", [0, 1])
    def test_another_value_in_any_column_moves_that_item_s_digest_only(
        self, name: str, row: int
    ) -> None:
        """A value changed in one column of one item, a none that became a value included,
        moves that item's digest and leaves the other's."""
        values, hashes = _items()
        before = item_digests(values, hashes, 2)
        rows = _rows(name)
        rows[row] = _other(name, rows[row])
        after = item_digests({**values, name: _column(name, rows)}, hashes, 2)
        assert after[row] != before[row]
        assert after[1 - row] == before[1 - row]

    @pytest.mark.parametrize("name", HASHED_ITEM_COLUMNS)
    def test_another_id_moves_that_item_s_digest_only(self, name: str) -> None:
        """An item naming another event, object or customer (another hash) has another digest."""
        values, hashes = _items()
        before = item_digests(values, hashes, 2)
        moved = hashes[name].copy()
        moved[0] ^= np.uint64(1)
        after = item_digests(values, {**hashes, name: moved}, 2)
        assert after[0] != before[0]
        assert after[1] == before[1]

    def test_columns_as_the_engine_gives_them_back_digest_as_the_derivation_s(self) -> None:
        """Texts as dictionaries (``LowCardinality``), columns in chunks and arrays that are
        slices of longer ones digest as the plain arrays a derivation builds."""
        values, hashes = _items()
        given_back: dict[str, Any] = {}
        for number, (name, column) in enumerate(values.items()):
            if number % 3 == 0 and pa.types.is_string(column.type):
                given_back[name] = column.dictionary_encode()
            elif number % 3 == 1:
                given_back[name] = pa.chunked_array([column.slice(0, 1), column.slice(1)])
            else:
                padded = pa.concat_arrays([_column(name, _rows(name)[:1]), column])
                given_back[name] = padded.slice(1)
        assert np.array_equal(item_digests(given_back, hashes, 2), item_digests(values, hashes, 2))
