"""Ranges of a versioned table's (type, id) key that split the versions stored in a knowledge-time
window into slices of bounded size: what records a window one slice per statement
(``slas.timer_changes``, ``slas.item_versions``), so that a window of millions of versions (a
derivation from scratch stamps every version with one ``KnownAt``, which no split by time can
divide) costs the engine a slice's memory, not the window's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client

KeyRange = tuple[tuple[str, str], tuple[str, str]]
"""(low type, low id) inclusive, (high type, high id) exclusive; an empty high type: no bound."""

WHOLE: Final[KeyRange] = (("", ""), ("", ""))
"""Every key (types are never empty, so the empty low bound is below every key)."""


def in_range_sql(type_column: str, id_column: str) -> str:
    """SQL of "the row's (type, id) lies in the range ``{low_type}``, ``{low_id}``,
    ``{high_type}``, ``{high_id}``" (``range_parameters``), spelt as comparisons of the key's own
    columns so that the engine narrows the read to the range by the table's sorting key."""
    low = (
        f"({type_column} > {{low_type:String}} OR ({type_column} = {{low_type:String}}"
        f" AND {id_column} >= {{low_id:String}}))"
    )
    high = (
        f"({{high_type:String}} = '' OR {type_column} < {{high_type:String}}"
        f" OR ({type_column} = {{high_type:String}} AND {id_column} < {{high_id:String}}))"
    )
    return f"{low} AND {high}"


def range_parameters(key_range: KeyRange) -> dict[str, str]:
    """The parameters of ``in_range_sql`` for one range."""
    (low_type, low_id), (high_type, high_id) = key_range
    return {"low_type": low_type, "low_id": low_id, "high_type": high_type, "high_id": high_id}


def sample_sql(table: str, type_column: str, id_column: str) -> str:
    """SQL of keys drawn evenly from the versions of ``table`` stored in ``(since, until]``,
    sorted: where the slices split."""
    return f"""
SELECT arraySort(groupArraySample({{size:UInt32}}, 1)(({type_column}, {id_column})))
FROM {table}
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND KnownAt <= {{until:DateTime64(3, 'UTC')}}
"""


def split(sample: list[tuple[str, str]], parts: int) -> list[KeyRange]:
    """Ranges that split the keys ``sample`` was drawn from (sorted) into about ``parts`` slices
    of equal size, in order, together covering every key."""
    if parts <= 1 or not sample:
        return [WHOLE]
    bounds = sorted({sample[len(sample) * part // parts] for part in range(1, parts)})
    lows = [("", ""), *bounds]
    highs = [*bounds, ("", "")]
    return list(zip(lows, highs, strict=True))


def key_ranges(
    client: Client,
    sample: str,
    since: datetime,
    until: datetime,
    *,
    versions: int,
    most: int,
) -> list[KeyRange]:
    """Ranges of the key that split the ``versions`` stored in ``(since, until]`` into slices
    of about ``most`` each (``sample``: ``sample_sql`` of the table); one when they are fewer."""
    parts = -(-versions // most)
    if parts <= 1:
        return [WHOLE]
    found = client.query(
        sample, parameters={"size": 100 * parts, "since": since, "until": until}
    ).result_rows[0][0]
    return split([(str(t), str(i)) for t, i in found], parts)
