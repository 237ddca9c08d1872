"""The knowledge time an answer describes: the ``known_at`` asked, capped at the business state's
watermark (the watermark when none is asked), and whether what records versions under a watermark
of its own (``slas.item_versions``) has recorded every version known then. One definition for
Python (``capped``, over watermarks already read) and for SQL (``with_knowledge``: the same read
and cap inside an answer's first statement, so that the watermarks cost no statement of their
own)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from warehouse.schema import SCHEMA_STATE

KNOWN_AT_PARAMETER: Final = "{known_at:DateTime64(3, 'UTC')}"
"""How the answers' statements spell the knowledge time they read at."""

KNOWLEDGE_COLUMNS: Final = ("StateWatermark", "RecordedWatermark")
"""The columns ``with_knowledge`` adds to each row, last: the two watermarks as read."""

_NOTHING_ASKED = datetime(1970, 1, 1, tzinfo=UTC)


def capped(requested: datetime | None, watermark: datetime) -> datetime:
    """The ``known_at`` an answer describes: ``requested`` capped at the watermark (the
    watermark when None). Up to the watermark the state is complete, so an answer for it never
    changes. ``_CAPPED`` is the same in SQL."""
    return watermark if requested is None else min(utc(requested), watermark)


_MARK = "parseDateTime64BestEffortOrZero(knowledge_marks.{place}, 6, 'UTC')"
_CAPPED = (
    "if({known_at_asked:Bool}, least({known_at_requested:DateTime64(3, 'UTC')}, "
    "StateWatermark), StateWatermark)"
)
"""``capped`` in SQL, over the watermark read in the same statement."""


def with_knowledge(statement: str) -> str:
    """``statement`` reading the knowledge time it describes itself: the business state's
    watermark and a recorder's (``knowledge_parameters``) read in it, and ``known_at`` (every
    ``KNOWN_AT_PARAMETER``) the asked one capped at the first (``_CAPPED``). The statement lists
    ``KNOWLEDGE_COLUMNS`` last in what it selects (the watermarks as it read them, for
    ``Knowledge.of``)."""
    marks = f"""WITH (
    SELECT (argMaxIf(Value, UpdatedAt, Key = {{watermark_key:String}}),
            argMaxIf(Value, UpdatedAt, Key = {{recorded_key:String}}))
    FROM {SCHEMA_STATE}
    WHERE Key IN ({{watermark_key:String}}, {{recorded_key:String}})
) AS knowledge_marks,
{_MARK.format(place=1)} AS StateWatermark,
{_MARK.format(place=2)} AS RecordedWatermark,
{_CAPPED} AS known_at_capped"""
    return f"{marks}\n{statement.replace(KNOWN_AT_PARAMETER, 'known_at_capped')}"


def with_knowledge_columns(statement: str) -> str:
    """``with_knowledge`` of a statement whose rows come in no particular order: each of its rows
    with ``KNOWLEDGE_COLUMNS`` added last."""
    return with_knowledge(f"SELECT *, {', '.join(KNOWLEDGE_COLUMNS)} FROM ({statement})")


def knowledge_parameters(
    requested: datetime | None, *, watermark_key: str, recorded_key: str
) -> dict[str, Any]:
    """The parameters of a statement ``with_knowledge`` made, for the ``known_at`` asked."""
    return {
        "known_at_asked": requested is not None,
        "known_at_requested": _NOTHING_ASKED if requested is None else utc(requested),
        "watermark_key": watermark_key,
        "recorded_key": recorded_key,
    }


@dataclass(frozen=True)
class Knowledge:
    """What a statement ``with_knowledge`` made found of the knowledge it read at."""

    known_at: datetime
    """``capped``: the knowledge time the answer describes."""
    recorded: bool
    """Whether the recorder had recorded every version known then."""

    @classmethod
    def of(cls, requested: datetime | None, row: Sequence[Any]) -> Knowledge:
        """The knowledge a row of such a statement was read at (its last two columns)."""
        watermark, recorded = (utc(value) for value in row[-len(KNOWLEDGE_COLUMNS) :])
        known = capped(requested, watermark)
        return cls(known, recorded >= known)


def read_knowing(
    client: Client,
    statement: str,
    parameters: dict[str, Any],
    requested: datetime | None,
    *,
    watermark_key: str,
    recorded_key: str,
    knowledge: Callable[[datetime | None], tuple[datetime, bool]],
) -> tuple[Sequence[Sequence[Any]], Knowledge]:
    """The rows of a statement ``with_knowledge`` made, at the ``known_at`` asked, and the
    knowledge they describe, in one read. No row tells none: then ``knowledge`` (the watermarks'
    own read, ``BusinessState.known_at_recorded``) tells it, and the statement is read again at
    the knowledge time it gives (when recorded), so that rows and knowledge always agree."""

    def read(at: datetime | None) -> Sequence[Sequence[Any]]:
        marks = knowledge_parameters(at, watermark_key=watermark_key, recorded_key=recorded_key)
        return client.query(statement, parameters={**parameters, **marks}).result_rows

    rows = read(requested)
    if rows:
        return rows, Knowledge.of(requested, rows[0])
    known, recorded = knowledge(requested)
    rows = read(known) if recorded else []
    return rows, Knowledge.of(known, rows[0]) if rows else Knowledge(known, recorded)
