"""The FastAPI application factory: the composition root that wires settings, warehouse and the
feature routers together. Nothing here holds business logic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from syncsight import __version__
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from warehouse.client import redact
from warehouse.migrations import migrate
from warehouse.pool import ClientPool

logger = logging.getLogger(__name__)


def create_app(settings: Settings, config: FileConfig, *, database: str | None = None) -> FastAPI:
    """Build the service: migrations run at start-up, clients close at shutdown."""
    pool = ClientPool(settings.clickhouse_url, database=database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        report = migrate(pool.client(), config.correlation)
        if report.applied:
            logger.info("applied migrations %s", report.applied)
        logger.info("ClickHouse ready at %s", redact(settings.clickhouse_url))
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="syncsight",
        version=__version__,
        description="OTLP ingest, lineage, business SLAs and close risk for the CRM / PSA / ERP / "
        "revenue-recognition sync of professional-services firms.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.config = config
    app.state.pool = pool

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz() -> Any:
        """ClickHouse answers a query."""
        try:
            pool.client().query("SELECT 1")
        except Exception as error:  # any failure means "not ready"; the reason is reported
            return JSONResponse(
                status_code=503, content={"status": "unavailable", "clickhouse": str(error)}
            )
        return {"status": "ok", "clickhouse": "ok"}

    return app
