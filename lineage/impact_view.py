"""Blocked invoices as the API serves them: worked out for the whole data set once per data
version (the service keeps it warm in the background while it is being asked for) and narrowed
per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from lineage.impact import BlockedInvoices, all_blocked_invoices, narrowed
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from warehouse.freshness import Fresh, FreshCache
from warehouse.pool import ClientPool

_EVERYTHING = "blocked-invoices"

WARM_WHILE_ASKED_SECONDS = 900.0
"""The warm-up keeps the answer fresh while somebody asked for it this recently (a dashboard is
open); when nobody asks, ingest keeps the CPU and the next request works the answer out."""


class BlockedInvoicesView:
    """Every blocked item, cached by data version; ``warm`` recomputes it when the data changed."""

    def __init__(
        self,
        pool: ClientPool,
        rules: LineageRules,
        owners: OwnerRouting,
        cache: FreshCache[BlockedInvoices],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._rules = rules
        self._owners = owners
        self._cache = cache
        self._clock = clock
        self._last_asked: float | None = None

    def answer(
        self, period: str | None = None, legal_entity: str | None = None
    ) -> tuple[BlockedInvoices, datetime]:
        """The blocked items of ``period`` and ``legal_entity``, and when they were worked out."""
        self._last_asked = self._clock()
        fresh = self._cache.get(_EVERYTHING, self._compute)
        return narrowed(fresh.value, period, legal_entity), fresh.computed_at

    def warm(self) -> Fresh[BlockedInvoices] | None:
        """Work the answer out again if the data changed and it was asked for lately."""
        asked = self._last_asked
        if asked is None or self._clock() - asked > WARM_WHILE_ASKED_SECONDS:
            return None
        return self._cache.refresh(_EVERYTHING, self._compute)

    def _compute(self) -> BlockedInvoices:
        return all_blocked_invoices(self._pool.client(), self._rules, self._owners)
