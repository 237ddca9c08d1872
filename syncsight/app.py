"""The FastAPI application factory: the composition root that wires settings, warehouse, the
ingest path and the feature routers together. Nothing here holds business logic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import disable_created_metrics

from collector.admission import ExportAdmission
from collector.grpc_receiver import TraceExportHandler, create_grpc_server
from collector.http_receiver import otlp_http_router
from collector.ingest import IngestPipeline
from collector.limits import DecodeLimits
from collector.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from collector.metrics import IngestMetrics
from collector.spool import Spool
from collector.writer import BatchWriter, WriterLimits
from lineage.api import lineage_router
from lineage.audit_api import audit_router
from lineage.ledger import Ledger
from lineage.ledger_api import ledger_router
from lineage.objects_api import objects_router
from lineage.ocel_api import ocel_router
from lineage.sealing import Sealer
from lineage.signing import load_or_create_signer, load_signer
from slas.ocel_states import BusinessStateFacts
from slas.service import SlaService
from syncsight import __version__
from syncsight.access import AccessControl
from syncsight.admin_api import admin_router
from syncsight.answer_gate import HeavyAnswerGate
from syncsight.caller_api import caller_router
from syncsight.config_file import FileConfig
from syncsight.hosts import HostAllowList
from syncsight.query_names import refuse_unknown_query_parameters
from syncsight.settings import Settings
from warehouse.client import (
    READ_LIMIT_ERRORS,
    ReadLimits,
    chdb_data_path,
    connect,
    describe_database,
    redact,
)
from warehouse.durable_parts import fsync_inserted_parts
from warehouse.migrations import migrate
from warehouse.mutations import MutationWatch
from warehouse.pool import ClientPool
from warehouse.python_heap import HeapFreezer
from warehouse.schema import Topology
from warehouse.span_store import span_sink

logger = logging.getLogger(__name__)

EVALUATOR_FAILURES_DEGRADED = 3
"""Failed evaluator ticks in a row from which /readyz says ``degraded``."""


def create_app(settings: Settings, config: FileConfig, *, database: str | None = None) -> FastAPI:
    """Build the service: migrations and receivers start in the lifespan, and stop with it."""
    # no `_created` series beside every counter and histogram: nothing reads them, and they
    # doubled the families a scrape carries (docs/operations.md, Metrics reference)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    pool = ClientPool(settings.clickhouse_url, database=database)
    read_pool = ClientPool(
        settings.read_url,
        database=database,
        read_limits=ReadLimits(
            max_execution_seconds=settings.api_read_max_seconds,
            max_memory_bytes=settings.api_read_max_memory_bytes,
            max_result_rows=settings.api_read_max_result_rows,
        ),
    )
    topology = Topology(settings.clickhouse_cluster)
    metrics = IngestMetrics()
    mutations = MutationWatch(pool.client)
    spool = Spool(  # raises SpoolOfAnotherDatabase: the CLI reports it
        settings.spool_directory,
        max_bytes=settings.spool_max_bytes,
        database=describe_database(settings.clickhouse_url, database=database),
    )
    tokens = settings.ingest_tokens
    writer = BatchWriter(
        span_sink(
            connect(settings.insert_url, database=database),
            settings.insert_url,
            insert_quorum=settings.clickhouse_insert_quorum,
        ),
        spool,
        metrics,
        WriterLimits(
            batch_min_rows=settings.batch_min_rows,
            batch_max_rows=settings.batch_max_rows,
            batch_max_wait_seconds=settings.batch_max_wait_seconds,
            max_pending_rows=settings.max_pending_spans,
            stuck_after_seconds=settings.ingest_ack_timeout_seconds,
            acknowledge_from_journal=settings.ingest_acknowledge == "journal",
        ),
    )
    sla = SlaService(
        pool,
        config.sla,
        config.lineage,
        config.owners,
        interval_seconds=settings.sla_interval,
        public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        alertmanager_url=settings.alertmanager_url,
        webhook_url=settings.webhook_url.get_secret_value(),
        slack_webhook_url=settings.slack_webhook_url.get_secret_value(),
        evaluate=settings.evaluator == "auto",
        settle_seconds=settings.state_settle_seconds,
        read_pool=read_pool,
        topology=topology,
    )
    pipeline = IngestPipeline(
        writer,
        DecodeLimits(
            max_attributes_per_span=settings.max_attributes_per_span,
            max_attribute_value_length=settings.max_attribute_value_length,
            max_business_attributes_per_span=settings.max_business_attributes_per_span,
            max_business_attributes_per_resource=settings.max_business_attributes_per_resource,
            max_request_row_bytes=settings.max_request_row_bytes,
        ),
        metrics,
        ack_timeout_seconds=settings.ingest_ack_timeout_seconds,
    )
    # raises SigningKeyError (a named key file that is not an Ed25519 key): the CLI reports it
    signer = (
        load_signer(settings.signing_key_path)
        if settings.signing_key_file is not None
        else load_or_create_signer(settings.signing_key_path)
    )
    ledger = Ledger(signer)
    settle = timedelta(seconds=settings.state_settle_seconds)
    sealer = Sealer(pool.client, ledger, settle=settle) if settings.evaluator == "auto" else None
    heap = (
        HeapFreezer(settings.python_heap_freeze_interval)
        if settings.python_heap_freeze_interval > 0
        else None
    )
    admission = ExportAdmission(
        max_requests=settings.max_concurrent_exports, max_bytes=settings.max_decoding_bytes
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        report = migrate(pool.client(), config.correlation, topology, settings.retention)
        if report.applied:
            logger.info("applied migrations %s", report.applied)
        if chdb_data_path(settings.clickhouse_url) is not None:
            # journal files are deleted once their insert returns: its parts must be on disk
            fsynced = fsync_inserted_parts(pool.client())
            if fsynced:
                logger.info("inserts into %s now fsync their parts", ", ".join(fsynced))
        logger.info("ClickHouse ready at %s", redact(settings.clickhouse_url))
        writer.start()
        grpc_server = create_grpc_server(
            TraceExportHandler(pipeline, tokens, metrics, admission),
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
        if sealer is not None:
            sealer.start()
        if heap is not None:
            heap.start()
        try:
            yield
        finally:
            if heap is not None:
                heap.stop()
            if sealer is not None:
                sealer.stop()
            sla.stop()
            await grpc_server.stop(grace=10)
            writer.close()
            read_pool.close()
            pool.close()
            logger.info("stopped; every acknowledged span is durable")

    app = FastAPI(
        title="syncsight",
        version=__version__,
        description="OTLP ingest, lineage, business SLAs and close risk for the CRM / PSA / ERP / "
        "revenue-recognition sync of professional-services firms.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_unknown_query_parameters)],
    )
    app.include_router(
        otlp_http_router(
            pipeline, tokens, metrics, admission, max_body_bytes=settings.max_body_bytes
        )
    )
    app.include_router(objects_router(read_pool), prefix="/api/v1")
    app.include_router(
        lineage_router(
            read_pool,
            config.lineage,
            config.owners,
            ledger,
            record_pool=pool,
            settle=settle,
            missing_evidence=sla.missing_evidence,
            max_nodes=settings.lineage_max_nodes,
        ),
        prefix="/api/v1",
    )
    app.include_router(ledger_router(pool, ledger, settle=settle), prefix="/api/v1")
    app.include_router(
        audit_router(
            read_pool,
            config.lineage,
            ledger,
            lambda entity, period: sla.calendars.for_entity(entity).close_deadline(period),
            record_pool=pool,
            settle=settle,
            watermark=sla.business_state.watermark,
        ),
        prefix="/api/v1",
    )
    app.include_router(
        ocel_router(
            read_pool,
            config.lineage,
            ledger,
            BusinessStateFacts(),
            record_pool=pool,
            settle=settle,
        ),
        prefix="/api/v1",
    )

    @app.exception_handler(DatabaseError)
    async def read_over_its_limits(request: Request, error: DatabaseError) -> Response:
        """A read stopped by its ReadLimits is 503 saying which; other engine errors propagate.
        The client whose read failed was dropped where it failed, on its worker thread (a read
        the engine cut short mid-stream leaves its rest to that client's next query,
        ``ClientPool``); every other client goes on."""
        limit = next((name for name in READ_LIMIT_ERRORS if name in str(error)), None)
        if limit is None:
            raise error
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": "5"},
            content={
                "detail": f"the answer needs more than the API's read limits allow ({limit}; "
                "settings api_read_max_seconds, api_read_max_memory_bytes, "
                "api_read_max_result_rows): narrow the request"
            },
        )

    app.include_router(
        admin_router(pool, config.correlation, topology, raw_days=settings.retention_raw_days),
        prefix="/api/v1",
    )
    app.include_router(caller_router(settings.api_tokens), prefix="/api/v1")
    app.include_router(sla.router, prefix="/api/v1")
    # inside the access check: a request without the right token never takes a slot
    app.add_middleware(HeavyAnswerGate, limit=settings.max_concurrent_heavy_answers)
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
        """ClickHouse answers a query, the spool is below its limit and the write loops run
        (else 503); ``degraded`` (still 200) while refused batches wait in the quarantine, the
        SLA evaluator keeps failing or is paused for a rebuild (one cut short leaves business
        tables half filled), the ledger's sealer fails (``lineage.sealing``), a
        background mutation of the engine fails or ``system.mutations`` cannot be read
        (``warehouse.mutations``), or the Python heap's freezer fails (``warehouse.python_heap``);
        ``mutations_pending`` while one runs, such as a changed retention's rewrite of the stored
        parts."""
        problems: dict[str, str] = {}
        try:
            pool.client().query("SELECT 1")
        except Exception as error:  # any failure means "not ready"; the reason is reported
            problems["clickhouse"] = str(error)
        if spool.is_full():
            problems["spool"] = f"{spool.size_bytes} bytes, limit {spool.max_bytes}"
        problems.update(writer.problems())
        if problems:
            return JSONResponse(status_code=503, content={"status": "unavailable", **problems})
        ready = {"status": "ok", "clickhouse": "ok", "spool_bytes": str(spool.size_bytes)}
        evaluator = sla.evaluator
        if evaluator is not None and evaluator.failures_in_a_row >= EVALUATOR_FAILURES_DEGRADED:
            ready["status"] = "degraded"
            ready["evaluator"] = (
                f"{evaluator.failures_in_a_row} ticks in a row failed: {evaluator.last_error}"
            )
        elif (
            evaluator is not None
            and evaluator.last_tick is not None
            and evaluator.last_tick.skipped
        ):
            ready["status"] = "degraded"
            ready["evaluator"] = f"paused: {evaluator.last_tick.skipped}"
        if sealer is not None and (sealing := sealer.problem()) is not None:
            ready["status"] = "degraded"
            ready["ledger"] = sealing
        if heap is not None and (frozen := heap.problem()) is not None:
            ready["status"] = "degraded"
            ready["python_heap"] = frozen
        mutations_degrade, mutation_fields = mutations.readiness()
        if mutations_degrade:
            ready["status"] = "degraded"
        ready.update(mutation_fields)
        if spool.quarantined_count:
            ready["status"] = "degraded"
            ready["quarantine"] = (
                f"{spool.quarantined_count} batch(es) refused by ClickHouse for their data wait "
                f"in {spool.quarantine_area.directory}: see `syncsight quarantine list`"
            )
        return ready

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Ingest and evaluator metrics in the Prometheus text format."""
        return Response(
            metrics.render()
            + sla.metrics.render()
            + (sealer.render() if sealer is not None else b"")
            + mutations.render()
            + (heap.render() if heap is not None else b""),
            media_type=METRICS_CONTENT_TYPE,
        )

    return app
