"""The evidence ledger in ClickHouse: each day's stored business facts as an RFC 9162 Merkle tree
with signed heads, inclusion and consistency proofs from the stored subtrees, and the append-only
access trail of downloads with the evidence roots issued (docs/operations.md, "Evidence and the
ledger").

A day's facts are the ``biz_events`` rows whose knowledge time (``IngestedAt``, UTC) falls on it,
in the order (knowledge time, event id, trace id, span id); a span stored twice as it was is one
fact, the first stored, and each version of a span re-sent with other content is a fact of its own
(warehouse/first_stored.py). Sealing a day up to an instant appends the facts known since its last
head and the subtrees they complete, computed in the engine, then signs the new head. Heads of one
day only grow, so an earlier head is a prefix of a later one (consistency proofs), and the day's
final head, sealed once the day is over, never changes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from lineage.evidence import instant_text
from lineage.ledger_cache import ImmutableCache
from lineage.ledger_queries import (
    DOWNLOADS,
    HEAD_OF_SIZE,
    HEADS,
    INSERT_DOWNLOAD,
    INSERT_HEAD,
    INSERT_LEAF_NODES,
    INSERT_LEAVES,
    INSERT_PARENT_NODES,
    KNOWLEDGE_DAYS,
    LATEST_HEADS,
    LEAF_COUNT,
    LEAVES_OF_FACTS,
    NODES,
    SEALED_UNTIL,
)
from lineage.merkle import (
    NodeKey,
    NodeSource,
    consistency_path,
    inclusion_path,
    needed_nodes,
    root_hash,
)
from lineage.signing import EVIDENCE_ROOT, Signer
from lineage.tree_head import TreeHead
from warehouse.rebuild import rebuild_running

ONE_MS: Final = timedelta(milliseconds=1)

SUBTREES_KEPT: Final = 100_000
"""Stored subtree hashes a ledger keeps in memory (about 200 bytes each) before it starts over."""

FINAL_HEADS_KEPT: Final = 4_096
"""Days' final heads a ledger keeps in memory (over ten years of days) before it starts over."""


def day_end(day: date) -> datetime:
    """The last instant (to the millisecond) of a UTC day: a day's final head is sealed up to it."""
    return datetime.combine(day + timedelta(days=1), time(), UTC) - ONE_MS


def to_millisecond(instant: datetime) -> datetime:
    """``instant`` as knowledge times are stored (DateTime64(3))."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def _naive(instant: datetime) -> datetime:
    return utc(instant).replace(tzinfo=None)


def _head(row: Sequence[Any]) -> TreeHead:
    day, size, root, timestamp, key_id, signature = row
    return TreeHead(day, int(size), str(root), utc(timestamp), str(key_id), str(signature))


@dataclass(frozen=True)
class Requester:
    """Who asked: the API token's name and role (``syncsight/access.py`` sets it per request)."""

    token_name: str
    role: str


REQUESTER_STATE: Final = "requester"
"""The request-state key under which the access middleware leaves the ``Requester``."""

LOCAL_ONLY: Final = Requester("(local-only mode: no API tokens)", "none")


@dataclass(frozen=True)
class FactIdentity:
    """A stored fact: its span identity and knowledge time."""

    event_id: str
    trace_id: str
    span_id: str
    ingested_at: datetime


@dataclass(frozen=True)
class Download:
    """One entry of the access trail."""

    at: datetime
    token_name: str
    role: str
    kind: str
    path: str
    parameters: dict[str, Any]
    root_hash: str
    key_id: str
    signature: str


class SealDuringRebuild(RuntimeError):
    """A day asked to be sealed while a rebuild re-stores the business rows: a head sealed then
    would leave the facts not yet re-stored out of its day's tree for good."""


class Ledger:
    """Seals days, proves facts and records downloads, signing with this service's key."""

    def __init__(self, signer: Signer, *, subtrees_kept: int = SUBTREES_KEPT) -> None:
        self.signer = signer
        self._sealing = threading.Lock()
        self._subtrees: ImmutableCache[tuple[date, int, int], bytes] = ImmutableCache(subtrees_kept)
        self._final_heads: ImmutableCache[date, TreeHead] = ImmutableCache(FINAL_HEADS_KEPT)

    def seal_day(self, client: Client, day: date, *, until: datetime, now: datetime) -> TreeHead:
        """The day's head over its facts known up to ``until`` (capped at the day's end): the
        latest head when nothing is newer, else a new signed head."""
        cutoff = to_millisecond(min(utc(until), day_end(day)))  # as stored: DateTime64(3)
        with self._sealing:
            started = rebuild_running(client, utc(now))
            if started is not None:
                raise SealDuringRebuild(
                    f"day {day}: a rebuild of the business tables has been running since "
                    f"{instant_text(started)} (or failed then); the facts it re-stores are "
                    "missing until one finishes: seal after it"
                )
            latest = self.latest_heads(client, [day]).get(day)
            if latest is not None and latest.timestamp >= cutoff:
                return latest
            previous = latest.tree_size if latest else 0
            after = latest.timestamp if latest else datetime.combine(day, time(), UTC) - ONE_MS
            client.command(
                INSERT_LEAVES,
                parameters={
                    "day": day,
                    "offset": previous,
                    "after": _naive(after),
                    "until": _naive(cutoff),
                },
            )
            size = int(client.query(LEAF_COUNT, parameters={"day": day}).result_rows[0][0])
            self._add_nodes(client, day, previous, size)
            root = self._root(client, day, size)
            head = TreeHead(day, size, root.hex(), cutoff).signed_by(self.signer)
            client.command(
                INSERT_HEAD,
                parameters={
                    "day": day,
                    "size": size,
                    "root": head.root_hash,
                    "timestamp": _naive(cutoff),
                    "key_id": head.key_id,
                    "signature": head.signature,
                    "sealed_at": _naive(now),
                },
            )
            return head

    def seal_finished_days(
        self,
        client: Client,
        *,
        now: datetime,
        settle: timedelta,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Seal, up to their end, the days of stored facts that are over (by ``settle``) and
        have no final head yet; returns how many were sealed (none while a rebuild runs). Ends
        early, between two days, once ``stopping`` says so (a service stopping during its first
        seal of years of history): the days left wait for the next round."""
        if rebuild_running(client, utc(now)) is not None:
            return 0  # the next round, once the rebuild has re-stored every fact
        final = {
            day
            for day, until in client.query(SEALED_UNTIL).result_rows
            if utc(until) >= day_end(day)
        }
        before = datetime.combine((utc(now) - settle).date(), time(), UTC)
        days = client.query(KNOWLEDGE_DAYS, parameters={"before": _naive(before)}).result_rows
        sealed = 0
        for (day,) in days:
            if stopping():
                break
            if day not in final:
                self.seal_day(client, day, until=day_end(day), now=now)
                sealed += 1
        return sealed

    def _add_nodes(self, client: Client, day: date, previous: int, size: int) -> None:
        if size <= previous:
            return
        client.command(INSERT_LEAF_NODES, parameters={"day": day, "first": previous})
        for level in range(1, size.bit_length()):
            if (size >> level) <= (previous >> level):
                continue  # no subtree of this level was completed by the new facts
            first_child = 2 * (previous >> level)
            client.command(
                INSERT_PARENT_NODES,
                parameters={"day": day, "level": level, "first_child": first_child},
            )

    def _nodes(self, client: Client, day: date, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored subtrees of ``keys``; a complete subtree never changes and is remembered."""
        wanted = sorted(keys)
        remembered = self._subtrees.get((day, level, index) for level, index in wanted)
        found = {(level, index): value for (_, level, index), value in remembered.items()}
        unread = [key for key in wanted if key not in found]
        if unread:
            rows = client.query(NODES, parameters={"day": day, "keys": unread}).result_rows
            read = {(int(level), int(index)): bytes(value) for level, index, value in rows}
            self._subtrees.put({(day, *key): value for key, value in read.items()})
            found |= read
        missing = [key for key in wanted if key not in found]
        if missing:
            raise LookupError(
                f"ledger day {day}: stored subtrees {missing[:5]} are missing; seal the day again "
                "(`syncsight ledger seal --day`)"
            )
        return found

    def _root(self, client: Client, day: date, size: int) -> bytes:
        nodes = self._nodes(client, day, needed_nodes(lambda n: root_hash(n, size)))
        return root_hash(lambda level, index: nodes[(level, index)], size)

    def latest_heads(self, client: Client, days: Iterable[date]) -> dict[date, TreeHead]:
        """The latest head of each day that has one; a day's final head (sealed up to its end)
        never changes and is remembered."""
        wanted = set(days)
        found = self._final_heads.get(wanted)
        unread = sorted(wanted - found.keys())
        if not unread:
            return found
        rows = client.query(LATEST_HEADS, parameters={"days": unread}).result_rows
        read = {head.day: head for head in map(_head, rows)}
        self._final_heads.put(
            {day: head for day, head in read.items() if head.timestamp >= day_end(day)}
        )
        return found | read

    def heads(self, client: Client, *, day: date | None, limit: int) -> list[TreeHead]:
        """Published heads, newest day and largest tree first."""
        rows = client.query(HEADS, parameters={"day": day, "limit": limit}).result_rows
        return [_head(row) for row in rows]

    def head_of_size(self, client: Client, day: date, size: int) -> TreeHead | None:
        rows = client.query(HEAD_OF_SIZE, parameters={"day": day, "size": size}).result_rows
        return _head(rows[0]) if rows else None

    def consistency(self, client: Client, day: date, old_size: int, new_size: int) -> list[str]:
        """RFC 9162 consistency proof (hex) between two sizes of the day's tree."""
        nodes = self._nodes(
            client, day, needed_nodes(lambda n: consistency_path(n, old_size, new_size))
        )
        path = consistency_path(lambda lv, i: nodes[(lv, i)], old_size, new_size)
        return [value.hex() for value in path]

    def proofs(self, client: Client, facts: Sequence[FactIdentity]) -> dict[str, Any]:
        """Inclusion proofs of the facts against the latest head of each one's day, the heads
        used, and the facts no head covers yet (their day is not sealed that far)."""
        ids = sorted({(f.event_id, f.trace_id, f.span_id) for f in facts})
        parameters = {"event_ids": sorted({event_id for event_id, _, _ in ids}), "ids": ids}
        rows = client.query(LEAVES_OF_FACTS, parameters=parameters).result_rows if ids else []
        leaves = {
            (str(e), str(t), str(s), utc(at)): (day, int(index)) for e, t, s, at, day, index in rows
        }
        heads = self.latest_heads(client, {day for day, _ in leaves.values()})
        proven: dict[date, list[tuple[FactIdentity, int]]] = {}
        unproven = []
        for fact in sorted(facts, key=lambda f: (f.ingested_at, f.event_id, f.trace_id, f.span_id)):
            day = utc(fact.ingested_at).date()
            leaf = leaves.get((fact.event_id, fact.trace_id, fact.span_id, utc(fact.ingested_at)))
            head = heads.get(day)
            if leaf is None or leaf[0] != day or head is None or leaf[1] >= head.tree_size:
                unproven.append(
                    {**_identity(fact), "day": day.isoformat(), "reason": _why(fact, head)}
                )
                continue
            proven.setdefault(day, []).append((fact, leaf[1]))
        proofs = []
        for day, entries in sorted(proven.items()):
            size = heads[day].tree_size
            paths = self._inclusion_paths(client, day, [index for _, index in entries], size)
            for (fact, index), path in zip(entries, paths, strict=True):
                proofs.append(
                    {
                        **_identity(fact),
                        "day": day.isoformat(),
                        "leaf_index": index,
                        "tree_size": size,
                        "audit_path": [value.hex() for value in path],
                    }
                )
        return {
            "heads": [heads[day].to_json() for day in sorted(proven)],
            "proofs": proofs,
            "unproven": unproven,
        }

    def _inclusion_paths(
        self, client: Client, day: date, indexes: Sequence[int], size: int
    ) -> list[list[bytes]]:
        """Audit paths of leaves of one day's tree of ``size``, from one read of stored nodes."""

        def paths(source: NodeSource) -> list[list[bytes]]:
            return [inclusion_path(source, index, size) for index in indexes]

        nodes = self._nodes(client, day, needed_nodes(paths))
        return paths(lambda level, index: nodes[(level, index)])

    def sign_root(self, root_hash: str) -> dict[str, str]:
        """The signature block of an evidence root."""
        return {
            "algorithm": "ed25519",
            "statement": EVIDENCE_ROOT,
            "key_id": self.signer.key_id,
            "value": self.signer.sign(EVIDENCE_ROOT, {"root_hash": root_hash}),
        }

    def record_download(
        self,
        client: Client,
        requester: Requester,
        *,
        kind: str,
        path: str,
        parameters: dict[str, Any],
        at: datetime,
        root_hash: str = "",
        signature: str = "",
    ) -> None:
        """Append one download to the access trail."""
        client.command(
            INSERT_DOWNLOAD,
            parameters={
                "at": _naive(at),
                "token_name": requester.token_name,
                "role": requester.role,
                "kind": kind,
                "path": path,
                "parameters": json.dumps(parameters, sort_keys=True, separators=(",", ":")),
                "root": root_hash,
                "key_id": self.signer.key_id if signature else "",
                "signature": signature,
            },
        )

    def downloads(self, client: Client, *, before: datetime, limit: int) -> list[Download]:
        """The access trail, newest first."""
        rows = client.query(
            DOWNLOADS, parameters={"before": _naive(before), "limit": limit}
        ).result_rows
        return [
            Download(
                utc(at),
                str(name),
                str(role),
                str(kind),
                str(path),
                json.loads(params),
                str(root),
                str(key_id),
                str(signature),
            )
            for at, name, role, kind, path, params, root, key_id, signature in rows
        ]


def _why(fact: FactIdentity, head: TreeHead | None) -> str:
    """Why a fact has no inclusion proof: its day is not sealed up to it yet, or (a fact that
    became visible only after its day was sealed up to its knowledge time) never will be."""
    day = utc(fact.ingested_at).date()
    if head is not None and utc(fact.ingested_at) <= head.timestamp:
        return (
            f"day {day} was sealed up to {instant_text(head.timestamp)} without this fact: it "
            "became visible after the seal, and the ledger does not cover it"
        )
    return (
        f"day {day} is not sealed up to this fact yet; its heads are published at "
        "/api/v1/ledger/heads once sealed"
    )


def _identity(fact: FactIdentity) -> dict[str, str]:
    return {
        "event_id": fact.event_id,
        "trace_id": fact.trace_id,
        "span_id": fact.span_id,
        "ingested_at": instant_text(fact.ingested_at),
    }
