"""The business state's versions written as columns: one Arrow block per insert, each column typed
after the table's own (read once per process), built from the derivation's numpy arrays or from
row values. clickhouse-connect's row inserts spelled every value in Python (a ``datetime`` into
ticks, a ``Decimal`` through its text, a dictionary per low-cardinality value); here a numeric
column is one buffer and the engine parses the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from domain.money import SCALE
from slas.snapshot import I64Array

DESCRIBE: Final = "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String}"
"""A table's column types (the state tables are plain tables here, ``Distributed`` on a cluster:
either way the columns an insert names)."""

_TYPES: dict[str, dict[str, pa.DataType]] = {}
"""Table → column → Arrow type, as read by ``DESCRIBE`` (the schema does not change under a
running process; a column missing from it is read again)."""

_WRAPPERS = re.compile(r"^(?:LowCardinality|Nullable)\((.*)\)$")
_INTEGERS: Final = {
    f"{sign}Int{bits}": getattr(pa, f"{sign.lower()}int{bits}")()
    for sign in ("", "U")
    for bits in (8, 16, 32, 64)
}
_UNITS: Final = {0: "s", 3: "ms", 6: "us", 9: "ns"}


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type a column of ``clickhouse_type`` reads exactly (nullability is the array's)."""
    text = clickhouse_type.strip()
    if wrapped := _WRAPPERS.match(text):
        return arrow_type(wrapped.group(1))
    if text.startswith("Array(") and text.endswith(")"):
        return pa.list_(arrow_type(text[len("Array(") : -1]))
    if text == "String":
        return pa.string()
    if text in _INTEGERS:
        return _INTEGERS[text]
    if text in ("Float64", "Float32"):
        return pa.float64() if text == "Float64" else pa.float32()
    if instant := re.fullmatch(r"DateTime64\((\d), 'UTC'\)", text):
        return pa.timestamp(_UNITS[int(instant.group(1))], tz="UTC")
    if decimal := re.fullmatch(r"Decimal\((\d+), (\d+)\)", text):
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    raise ValueError(
        f"column type {clickhouse_type!r} has no Arrow spelling here: expected String, an "
        "integer, Float64, DateTime64(p, 'UTC'), Decimal(p, s), or Array/Nullable/LowCardinality "
        "of one"
    )


def column_types(client: Client, table: str, names: list[str]) -> dict[str, pa.DataType]:
    """The Arrow type of each of ``names``' columns of ``table``."""
    known = _TYPES.get(table, {})
    if any(name not in known for name in names):
        rows = client.query(DESCRIBE, parameters={"table": table}).result_rows
        known = _TYPES[table] = {str(name): arrow_type(str(kind)) for name, kind in rows}
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"table {table!r} has no column {missing[0]!r}")
    return {name: known[name] for name in names}


def insert_columns(client: Client, table: str, *parts: Mapping[str, Any]) -> None:
    """Insert the rows of ``parts`` in one Arrow block. A part is a set of columns, each an Arrow
    array, a numpy array or a list (converted to the column's type), or one value for every row
    (a part with no other column holds no rows). A column a part does not name is null there, and a
    null in a column that is not ``Nullable`` becomes the column's default (the engine's
    ``input_format_null_as_default``)."""
    sized = [(part, _rows(part)) for part in parts]
    sized = [(part, rows) for part, rows in sized if rows]
    if not sized:
        return
    names = list(dict.fromkeys(name for part, _ in sized for name in part))
    types = column_types(client, table, names)
    blocks = [
        pa.table([_array(part.get(name), types[name], rows) for name in names], names=names)
        for part, rows in sized
    ]
    client.insert_arrow(table, blocks[0] if len(blocks) == 1 else pa.concat_tables(blocks))


def _rows(part: Mapping[str, Any]) -> int:
    """How many rows a part holds: as many as its columns (none when it has only single values)."""
    return next((len(values) for values in part.values() if isinstance(values, _COLUMNS)), 0)


_COLUMNS = (pa.Array, pa.ChunkedArray, np.ndarray, list, tuple)


def _array(values: Any, kind: pa.DataType, rows: int) -> pa.Array:
    if values is None:
        return pa.nulls(rows, type=kind)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values if values.type == kind else values.cast(kind)
    elif isinstance(values, _COLUMNS):
        array = pa.array(values, type=kind)
    else:
        array = pa.repeat(pa.scalar(values, type=kind), rows)
    if len(array) != rows:
        raise ValueError(f"a column has {len(array)} values where its part has {rows} rows")
    return array


def instants(micros: I64Array, *, missing: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch as UTC instants; null where ``missing``."""
    return pa.array(
        np.asarray(micros, dtype=np.int64), type=pa.timestamp("us", tz="UTC"), mask=missing
    )


def amounts(units: I64Array, *, missing: np.ndarray) -> pa.Array:
    """Money held in units (``domain.money``: ten-thousandths) as exact decimals; null where
    ``missing``. The units are the decimal's unscaled value, written straight into its buffer."""
    units = np.where(missing, 0, np.asarray(units, dtype=np.int64))
    wide = np.empty((len(units), 2), dtype=np.int64)  # 128-bit little-endian: low word, sign
    wide[:, 0] = units
    wide[:, 1] = units >> 63
    validity = pa.array(~np.asarray(missing, dtype=bool)).buffers()[1]
    return pa.Array.from_buffers(
        pa.decimal128(18, SCALE),
        len(units),
        [validity, pa.py_buffer(wide.tobytes())],
        null_count=int(np.count_nonzero(missing)),
    )


def lists(values: pa.Array, width: int, rows: int) -> pa.Array:
    """``values`` (``rows`` by ``width``, row-major) as one list of ``width`` per row."""
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
    return pa.ListArray.from_arrays(offsets, values)
