"""The FastAPI application factory: the composition root that wires settings, warehouse, the
ingest path and the feature routers together. Nothing here holds business logic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from collector.grpc_receiver import TraceExportHandler, create_grpc_server
from collector.http_receiver import otlp_http_router
from collector.ingest import IngestPipeline
from collector.limits import DecodeLimits
from collector.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from collector.metrics import IngestMetrics
from collector.spool import Spool
from collector.writer import BatchWriter, WriterLimits
from lineage.api import lineage_router
from lineage.impact_view import BlockedInvoicesView
from lineage.objects_api import objects_router
from slas.service import SlaService
from syncsight import __version__
from syncsight.access import AccessControl
from syncsight.admin_api import admin_router
from syncsight.config_file import FileConfig
from syncsight.hosts import HostAllowList
from syncsight.settings import Settings
from syncsight.warmer import Warmer
from warehouse.client import connect, redact
from warehouse.freshness import DataVersion, FreshCache
from warehouse.migrations import migrate
from warehouse.pool import ClientPool
from warehouse.schema import Topology
from warehouse.span_store import span_sink

logger = logging.getLogger(__name__)


def create_app(settings: Settings, config: FileConfig, *, database: str | None = None) -> FastAPI:
    """Build the service: migrations and receivers start in the lifespan, and stop with it."""
    pool = ClientPool(settings.clickhouse_url, database=database)
    topology = Topology(settings.clickhouse_cluster)
    metrics = IngestMetrics()
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    tokens = settings.ingest_tokens
    writer = BatchWriter(
        span_sink(connect(settings.clickhouse_url, database=database), settings.clickhouse_url),
        spool,
        metrics,
        WriterLimits(
            batch_min_rows=settings.batch_min_rows,
            batch_max_rows=settings.batch_max_rows,
            batch_max_wait_seconds=settings.batch_max_wait_ms / 1000,
            max_pending_rows=settings.max_pending_spans,
        ),
    )
    version = DataVersion(pool.client, topology)
    blocked_view = BlockedInvoicesView(
        pool,
        config.lineage,
        config.owners,
        FreshCache(version, max_staleness=settings.view_max_staleness, size=1),
    )
    warmer = Warmer(pool, [blocked_view.warm], interval_seconds=settings.sla_interval)
    sla = SlaService(
        pool,
        config.sla,
        version,
        interval_seconds=settings.sla_interval,
        max_staleness_seconds=settings.view_max_staleness,
        public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        alertmanager_url=settings.alertmanager_url,
        webhook_url=settings.webhook_url.get_secret_value(),
        slack_webhook_url=settings.slack_webhook_url.get_secret_value(),
    )
    pipeline = IngestPipeline(
        writer,
        DecodeLimits(
            max_attributes_per_span=settings.max_attributes_per_span,
            max_attribute_value_length=settings.max_attribute_value_length,
        ),
        metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        report = migrate(pool.client(), config.correlation, topology)
        if report.applied:
            logger.info("applied migrations %s", report.applied)
        logger.info("ClickHouse ready at %s", redact(settings.clickhouse_url))
        writer.start()
        grpc_server = create_grpc_server(
            TraceExportHandler(pipeline, tokens, metrics),
            host=settings.host,
            port=settings.grpc_port,
            max_message_bytes=settings.max_body_bytes,
        )
        await grpc_server.start()
        logger.info(
            "OTLP/HTTP on http://%s:%d/v1/traces, OTLP/gRPC on %s:%d%s",
            settings.host,
            settings.port,
            settings.host,
            settings.grpc_port,
            " (bearer token required)" if tokens.enabled else "",
        )
        sla.start()
        warmer.start()
        try:
            yield
        finally:
            warmer.stop()
            sla.stop()
            await grpc_server.stop(grace=10)
            writer.close()
            pool.close()
            logger.info("stopped; every acknowledged span is durable")

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
    app.include_router(
        otlp_http_router(pipeline, tokens, metrics, max_body_bytes=settings.max_body_bytes)
    )
    app.include_router(objects_router(pool), prefix="/api/v1")
    app.include_router(
        lineage_router(pool, config.lineage, config.owners, blocked_view), prefix="/api/v1"
    )
    app.include_router(admin_router(pool, config.correlation, topology), prefix="/api/v1")
    app.include_router(sla.router, prefix="/api/v1")
    # every request passes syncsight/access.py's table (without SYNCSIGHT_API_TOKENS: reads only)
    app.add_middleware(AccessControl, tokens=settings.api_tokens)
    # added last, so it runs first: a request for a foreign Host name reaches nothing
    app.add_middleware(HostAllowList, allowed=settings.allowed_host_names)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz() -> Any:
        """ClickHouse answers a query and the spool is below its limit."""
        problems: dict[str, str] = {}
        try:
            pool.client().query("SELECT 1")
        except Exception as error:  # any failure means "not ready"; the reason is reported
            problems["clickhouse"] = str(error)
        if spool.is_full():
            problems["spool"] = f"{spool.size_bytes} bytes, limit {spool.max_bytes}"
        if problems:
            return JSONResponse(status_code=503, content={"status": "unavailable", **problems})
        return {"status": "ok", "clickhouse": "ok", "spool_bytes": str(spool.size_bytes)}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Ingest metrics in the Prometheus text format."""
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app
