"""Finding what the engine refuses for its rows: pieces (requests, or the requests a journaled batch
joined) inserted together, and a group refused for its rows halved down to single pieces, so that
only those are set aside and the rest is stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from warehouse.insert_errors import refusal_reason
from warehouse.span_batch import SpanBatch, join_batches

Piece = TypeVar("Piece")


@dataclass
class SplitOutcome(Generic[Piece]):
    """Where each piece ended: stored, refused (with the engine's reason) or not tried because
    the engine is unavailable."""

    stored: list[Piece] = field(default_factory=list)
    refused: list[tuple[Piece, str]] = field(default_factory=list)
    unavailable: list[Piece] = field(default_factory=list)


def store_in_halves(
    pieces: Sequence[Piece],
    spans_of: Callable[[Piece], SpanBatch],
    insert: Callable[[SpanBatch], Exception | None],
    failure: Exception | None = None,
) -> SplitOutcome[Piece]:
    """Insert ``pieces`` together, halving any group the engine refuses for its rows; stops at
    the first failure that is not a refusal. ``failure``: the whole group's insert, already
    tried."""
    outcome: SplitOutcome[Piece] = SplitOutcome()
    _store(list(pieces), spans_of, insert, failure, outcome)
    return outcome


def _store(
    pieces: list[Piece],
    spans_of: Callable[[Piece], SpanBatch],
    insert: Callable[[SpanBatch], Exception | None],
    failure: Exception | None,
    outcome: SplitOutcome[Piece],
) -> None:
    if not pieces:
        return
    if outcome.unavailable:
        outcome.unavailable += pieces
        return
    if failure is None:
        failure = insert(join_batches([spans_of(piece) for piece in pieces]))
        if failure is None:
            outcome.stored += pieces
            return
    reason = refusal_reason(failure)
    if reason is None:
        outcome.unavailable += pieces
    elif len(pieces) == 1:
        outcome.refused.append((pieces[0], reason))
    else:
        middle = len(pieces) // 2
        _store(pieces[:middle], spans_of, insert, None, outcome)
        _store(pieces[middle:], spans_of, insert, None, outcome)
