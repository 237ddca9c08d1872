"""The lineage routes as an app over a test's own engine, with a fresh signing key, settling
nothing (what is stored counts at once)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from lineage.api import lineage_router
from lineage.ledger import Ledger
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from lineage.signing import Signer
from warehouse.pool import ClientPool


def lineage_app(pool: ClientPool, rules: LineageRules, *, max_nodes: int) -> FastAPI:
    app = FastAPI()
    app.include_router(
        lineage_router(
            pool,
            rules,
            OwnerRouting(),
            Ledger(Signer.generate()),
            record_pool=pool,
            settle=timedelta(0),
            max_nodes=max_nodes,
        ),
        prefix="/api/v1",
    )
    return app
