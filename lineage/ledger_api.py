"""REST routes of the evidence ledger (the public key, signed tree heads with consistency proofs,
the access trail, sealing a day on demand); ``lineage.sealing`` seals each day once it is over."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, Request

from domain.instants import EPOCH, asked_instant
from lineage.evidence import instant_text
from lineage.ledger import (
    LOCAL_ONLY,
    REQUESTER_STATE,
    Download,
    Ledger,
    Requester,
    SealDuringRebuild,
    to_millisecond,
)
from lineage.ledger_models import (
    ConsistencyOut,
    DownloadOut,
    DownloadsOut,
    LedgerKeyOut,
    TreeHeadOut,
    TreeHeadProofOut,
    TreeHeadsOut,
)
from warehouse.pool import ClientPool

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAX_TREE_SIZE: Final = 2**62


def requester_of(request: Request) -> Requester:
    """Who sent ``request``, as the access middleware recorded it."""
    requester = getattr(request.state, REQUESTER_STATE, None)
    return requester if isinstance(requester, Requester) else LOCAL_ONLY


def in_range(instant: datetime, name: str) -> datetime:
    """``instant`` in UTC (naive is UTC), or 422 naming ``name``, the value and the range every
    answer takes (``domain.instants.asked_instant``: nothing was stored before 1970)."""
    try:
        return asked_instant(instant, name)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None


def knowledge_instant(
    known_at: datetime | None, *, watermark: datetime, name: str = "known_at"
) -> datetime:
    """The ``known_at`` an answer is given for: the one asked (UTC, to the millisecond, naive is
    UTC), capped at the watermark up to which stored rows are complete; the watermark when none.
    One outside the range every answer takes is refused (``in_range``)."""
    moment = watermark if known_at is None else min(in_range(known_at, name), watermark)
    return to_millisecond(moment)


def _stored_day(day: date, today: date) -> bool:
    """Whether facts can have been stored on ``day``."""
    return EPOCH.date() <= day <= today


def _download_out(download: Download) -> DownloadOut:
    return DownloadOut(**{**asdict(download), "at": instant_text(download.at)})


def ledger_router(
    pool: ClientPool, ledger: Ledger, *, settle: timedelta, clock: Clock = lambda: datetime.now(UTC)
) -> APIRouter:
    router = APIRouter(tags=["ledger"])

    @router.get(
        "/ledger/key",
        response_model=LedgerKeyOut,
        summary="The public key that signs evidence roots and tree heads",
    )
    def key() -> LedgerKeyOut:
        return LedgerKeyOut(
            algorithm="ed25519",
            key_id=ledger.signer.key_id,
            public_key_pem=ledger.signer.public_pem,
        )

    @router.get(
        "/ledger/heads",
        response_model=TreeHeadsOut,
        summary="Signed tree heads of the daily Merkle trees of stored facts, newest first",
    )
    def heads(
        day: Annotated[date | None, Query(description="Only this UTC knowledge day.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> TreeHeadsOut:
        if day is not None and not _stored_day(day, clock().date()):
            return TreeHeadsOut(heads=[])
        found = ledger.heads(pool.client(), day=day, limit=limit)
        return TreeHeadsOut(heads=[TreeHeadOut.model_validate(head.to_json()) for head in found])

    @router.get(
        "/ledger/heads/{day}/{tree_size}",
        response_model=TreeHeadProofOut,
        response_model_exclude_none=True,
        summary="One tree head, with a consistency proof from an earlier size of the same day",
        responses={404: {"description": "No head of that day and size."}},
    )
    def head(
        day: date,
        tree_size: Annotated[int, Path(ge=0, le=MAX_TREE_SIZE)],
        from_size: Annotated[
            int | None,
            Query(
                ge=1,
                le=MAX_TREE_SIZE,
                description="Tree size of an earlier head of the day to prove against.",
            ),
        ] = None,
    ) -> TreeHeadProofOut:
        client = pool.client()
        found = (
            ledger.head_of_size(client, day, tree_size)
            if _stored_day(day, clock().date())
            else None
        )
        if found is None:
            raise HTTPException(404, f"no tree head of day {day} with tree_size {tree_size}")
        if from_size is None:
            return TreeHeadProofOut.model_validate(found.to_json())
        if from_size > tree_size:
            raise HTTPException(
                400, f"from_size={from_size}: expected at most the head's tree_size {tree_size}"
            )
        proof = ConsistencyOut(
            from_size=from_size, path=ledger.consistency(client, day, from_size, tree_size)
        )
        return TreeHeadProofOut.model_validate({**found.to_json(), "consistency": proof})

    @router.get(
        "/ledger/downloads",
        response_model=DownloadsOut,
        summary="The access trail: every evidence, OCEL and report download, newest first",
    )
    def downloads(
        before: Annotated[
            datetime | None, Query(description="Only downloads before this instant (paging).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> DownloadsOut:
        until = knowledge_instant(before, watermark=clock() + timedelta(seconds=1), name="before")
        found = ledger.downloads(pool.client(), before=until, limit=limit)
        return DownloadsOut(downloads=[_download_out(d) for d in found])

    @router.post(
        "/admin/ledger/seal",
        response_model=TreeHeadOut,
        summary="Seal a day's facts now (up to the end of the day, or what is stored so far)",
        responses={
            400: {"description": "Not a UTC day from the epoch to today."},
            409: {"description": "A rebuild of the business tables is running."},
        },
    )
    def seal(day: Annotated[date, Query(description="UTC knowledge day to seal.")]) -> TreeHeadOut:
        now = clock()
        if not _stored_day(day, now.date()):
            raise HTTPException(
                400, f"day={day}: expected a UTC day from {EPOCH.date()} to today ({now.date()})"
            )
        try:
            sealed = ledger.seal_day(pool.client(), day, until=now - settle, now=now)
        except SealDuringRebuild as error:
            raise HTTPException(409, str(error)) from error
        return TreeHeadOut.model_validate(sealed.to_json())

    return router
