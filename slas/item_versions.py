"""Which ``close_items`` version of each item is in effect at a ``known_at``, without sorting every
version: ``close_item_superseded`` (migration 16) holds, for every version another one replaced,
the instant it was replaced (the new version's ``KnownAt``). An item's version known at
``known_at`` is then the one stored by then and not replaced by then: a filter on the versions'
rows against the (few) replaced ones, where ``LIMIT 1 BY`` over the table's order sorted every
version of every item.

``record`` keeps the rows up to the keeper's watermark, from the versions stored since its own
watermark (one ``INSERT … SELECT``, next to ``slas.timer_changes.record``); recorded again, a
version's row is the same row (a set: duplicates change nothing). Under the same watermark it
records the versions' state pieces in event time (``slas.close_item_pieces``), so an answer that
finds the watermark past its ``known_at`` may read both.
"""

from __future__ import annotations

from datetime import datetime

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH, utc
from slas import close_item_pieces
from warehouse.key_ranges import key_ranges, range_parameters, sample_sql
from warehouse.schema import CLOSE_ITEM_SUPERSEDED, CLOSE_ITEM_VERSIONS_WATERMARK, CLOSE_ITEMS
from warehouse.schema_state import read_state, write_state

WATERMARK_KEY = CLOSE_ITEM_VERSIONS_WATERMARK

RECORD = f"""
INSERT INTO {CLOSE_ITEM_SUPERSEDED} (ItemType, ItemId, KnownAt, SupersededAt)
SELECT ItemType, ItemId, previous_known_at, KnownAt
FROM ({close_item_pieces.versions_with_previous()})
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND has_previous = 1
"""
"""For every version stored in ``(since, until]`` that replaced an earlier one: the earlier one,
replaced at the new version's ``KnownAt``."""

RECORD_SLICE_VERSIONS = 200_000
"""Versions one statement records at most (about): the engine sorts every version of their items
at once, and a derivation from scratch stamps every item's version with one ``KnownAt``, so the
window is split by key, not by time (as ``slas.timer_changes`` does)."""

WINDOW_KEYS = sample_sql(CLOSE_ITEMS, "ItemType", "ItemId")
"""Keys of the items with versions in a window, drawn evenly: where the slices split."""

PENDING = f"""
SELECT count(), countIf(KnownAt < {{until:DateTime64(3, 'UTC')}}), ({close_item_pieces.STRAY})
FROM {CLOSE_ITEMS}
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND KnownAt <= {{until:DateTime64(3, 'UTC')}}
"""
"""Versions to record, those of them stored before ``until`` (not by the keeper's tick, which
stamps its versions ``until``), and the pieces past the watermark (a record that died wrote
them): one round trip."""


IN_EFFECT = f"""KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND cityHash64(ItemType, ItemId, KnownAt) NOT IN (
    SELECT cityHash64(ItemType, ItemId, KnownAt) FROM {CLOSE_ITEM_SUPERSEDED}
    WHERE SupersededAt <= {{known_at:DateTime64(3, 'UTC')}})"""
"""The condition on ``close_items``' rows that keeps each item's version in effect at
``known_at`` (deleted ones included: the caller drops them). The replaced versions are matched by
a 64-bit hash of their key, as events travel in snapshots: a set of integers costs a third of a
set of (type, id, instant) tuples to build and probe."""


def watermark(client: Client) -> datetime:
    """The knowledge time up to which ``close_item_superseded`` holds every replaced version."""
    state = read_state(client, WATERMARK_KEY)
    return utc(datetime.fromisoformat(state[WATERMARK_KEY][0])) if WATERMARK_KEY in state else EPOCH


def record(client: Client, until: datetime, *, at: datetime) -> None:
    """Write the replaced versions of the versions stored since the watermark up to ``until`` (the
    keeper's new watermark), then move the watermark."""
    since = watermark(client)
    if until <= since:
        return
    record_window(client, since, until)
    write_state(client, WATERMARK_KEY, utc(until).isoformat(), at=at)


def record_window(
    client: Client,
    since: datetime,
    until: datetime,
    *,
    most: int = RECORD_SLICE_VERSIONS,
    first: bool = False,
) -> None:
    """Write the replaced versions of the versions stored in ``(since, until]``, and their state
    pieces, ``since`` being the watermark (the caller moves it to ``until`` afterwards: the
    keeper's tick, with its own; recorded again after a tick that died first, a replaced version's
    row is the same row and the pieces written past the watermark are taken back first), in
    statements of about ``most`` versions each (slices of the items' keys).

    ``first``: every version the keeper's tick stamped ``until`` is its item's first (the tick
    read no stored version because none could exist: ``BusinessState._rederive_around``'s
    ``new``). When, besides, no version of the window was stored before ``until`` (a tick that
    died after writing leaves some), nothing in the window replaced anything: the replaced
    versions' statements are not run, and the pieces are recorded from the window's versions
    alone (``close_item_pieces.RECORD_FIRST``)."""
    parameters = {"since": since, "until": until}
    versions, earlier, stray = client.query(PENDING, parameters=parameters).result_rows[0]
    if not versions:
        return
    slices = key_ranges(client, WINDOW_KEYS, since, until, versions=int(versions), most=most)
    alone = first and earlier == 0
    if not alone:
        for key_range in slices:
            client.command(RECORD, parameters={**parameters, **range_parameters(key_range)})
    close_item_pieces.record_window(client, since, until, slices, stray=int(stray), first=alone)


def reset(client: Client, *, at: datetime) -> None:
    """Forget every row: the next ``record`` writes them again from every stored version."""
    for table in (CLOSE_ITEM_SUPERSEDED, *close_item_pieces.TABLES):
        client.command(f"TRUNCATE TABLE {table}")
    write_state(client, WATERMARK_KEY, EPOCH.isoformat(), at=at)
