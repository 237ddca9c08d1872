"""The ``syncsight`` command line: every entry point builds its settings here, once. The shared
options and helpers are in ``syncsight.cli_common``; the quarantine's commands in
``syncsight.cli_quarantine``, the auditors' in ``syncsight.cli_evidence``."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from syncsight import __version__
from syncsight.cli_common import (
    ApiTokenOption,
    ApiUrlOption,
    ClickHouseURLOption,
    ConfigOption,
    GrpcPortOption,
    HostOption,
    PortOption,
    api_client,
    build_settings,
    connect_or_fail,
    console,
    fail,
    load_file_config,
    refuse_held_directory,
)
from syncsight.cli_evidence import audit_app, ledger_app, ocel_export, verify_evidence
from syncsight.cli_quarantine import quarantine_app
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from warehouse.c_heap import bound_c_heap
from warehouse.schema import Topology, TopologyError

app = typer.Typer(
    name="syncsight",
    help="Observability for the CRM / PSA / ERP / revenue-recognition sync: OTLP traces in, "
    "lineage, business SLAs and close risk out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def configure_logging(verbose: bool, settings: Settings, file_config: FileConfig) -> None:
    """Log to stderr, every record with the secrets these settings hold masked."""
    from syncsight.redaction import Redactor, redact_log_records, secrets_of

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_log_records(Redactor(secrets_of(settings, file_config)))


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"syncsight {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Observability for the CRM / PSA / ERP / revenue-recognition sync."""


@app.command()
def migrate(
    clickhouse_url: ClickHouseURLOption = None,
    config: ConfigOption = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the DDL instead of running it.")
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Render ON CLUSTER DDL with Replicated engines and Distributed tables.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or upgrade the ClickHouse schema (idempotent)."""
    from warehouse.migrations import migrate as run_migrations
    from warehouse.migrations import render_ddl

    settings = build_settings(clickhouse_url=clickhouse_url, config=config)
    file_config = load_file_config(settings)
    try:
        topology = Topology(cluster or settings.clickhouse_cluster)
    except TopologyError as error:
        fail(str(error))
    if print_only:
        statements = render_ddl(topology, file_config.correlation, settings.retention)
        typer.echo(";\n\n".join(statements) + ";")
        return
    client = connect_or_fail(settings)
    report = run_migrations(client, file_config.correlation, topology, settings.retention)
    applied = ", ".join(map(str, report.applied)) or "none (already up to date)"
    typer.echo(f"migrations applied: {applied}")
    for statement in report.retention_changes:
        typer.echo(f"retention: {statement}")
    if report.retention_changes:
        typer.echo(
            "retention: the stored parts take the new TTLs in the engine's background; "
            "SELECT table, parts_to_do FROM system.mutations WHERE NOT is_done shows what is left"
        )
    if report.rules_changed:
        typer.echo("correlation rules changed: run `syncsight rebuild` to re-derive stored spans")


@app.command()
def rebuild(
    clickhouse_url: ClickHouseURLOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-derive the business tables from otel_traces (events older than the raw retention or the
    oldest raw span stored are kept as stored)."""
    from warehouse.migrations import migrate as run_migrations
    from warehouse.rebuild import rebuild as run_rebuild

    settings = build_settings(clickhouse_url=clickhouse_url, config=config)
    file_config = load_file_config(settings)
    client = connect_or_fail(settings)
    topology = Topology(settings.clickhouse_cluster)
    run_migrations(client, file_config.correlation, topology)
    with console.status("re-deriving business tables from otel_traces …"):
        report = run_rebuild(
            client, file_config.correlation, topology, raw_days=settings.retention_raw_days
        )
    typer.echo(
        f"rebuilt from {report.spans:,} spans: {report.events:,} business events, "
        f"{report.references:,} object references; {report.new_knowledge:,} events known from "
        "now on (derived differently, for the first time, or stored while it ran), the others as "
        "first stored"
    )
    if report.kept_before is not None:
        days = settings.retention_raw_days
        retention = f"{days} days" if days else "forever"
        typer.echo(
            f"events before {report.kept_before:%Y-%m-%d %H:%M:%S} UTC kept as stored: the raw "
            f"spans are kept from there on (raw retention: {retention}, or the oldest raw span "
            "stored if later)"
        )


@app.command()
def serve(
    clickhouse_url: ClickHouseURLOption = None,
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    grpc_port: GrpcPortOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the service: OTLP ingest, REST API, SLA evaluator."""
    settings = build_settings(
        clickhouse_url=clickhouse_url, config=config, host=host, port=port, grpc_port=grpc_port
    )
    file_config = load_file_config(settings)
    refuse_unprotected_bind(settings)
    configure_logging(verbose, settings, file_config)
    _run_service(settings, file_config)


@app.command()
def demo(
    clickhouse_url: ClickHouseURLOption = None,
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    grpc_port: GrpcPortOption = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete ./.syncsight/ and load a new quarter.")
    ] = False,
) -> None:
    """Start everything on the embedded engine with a simulated quarter of a consulting firm."""
    from syncsight.demo import run_demo, write_firm_config

    settings = build_settings(
        clickhouse_url=clickhouse_url, config=config, host=host, port=port, grpc_port=grpc_port
    )
    if settings.config is None:  # the simulated firm's calendars, as a site would configure its own
        settings = settings.model_copy(update={"config": write_firm_config()})
    file_config = load_file_config(settings)
    refuse_unprotected_bind(settings)
    refuse_held_directory(settings)  # before --fresh could delete a running demo's directory
    configure_logging(False, settings, file_config)
    from collector.spool import SpoolOfAnotherDatabase

    try:
        run_demo(settings, file_config, fresh=fresh, console=console)
    except SpoolOfAnotherDatabase as error:
        fail(str(error))


@app.command()
def simulate(
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="Base URL of syncsight or an OpenTelemetry Collector.")
    ] = "http://127.0.0.1:4318",
    protocol: Annotated[
        str, typer.Option("--protocol", help="OTLP protocol: http/protobuf or grpc (host:port).")
    ] = "http/protobuf",
    scale: Annotated[
        str,
        typer.Option("--scale", help="tiny, small (the demo), medium (~1M spans), large (~10M)."),
    ] = "small",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same quarter.")] = 7,
    end: Annotated[
        datetime | None,
        typer.Option(
            "--end", help="End of the simulated quarter (UTC); default now.", show_default=False
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth", help="Write the scenario's ground truth JSON here.", show_default=False
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Bearer token for an ingest that requires one.", show_default=False
        ),
    ] = None,
    firm_config: Annotated[
        Path | None,
        typer.Option(
            "--firm-config",
            help="Write the simulated firm's legal-entity calendars here, as a TOML config file "
            "for the service it feeds (SYNCSIGHT_CONFIG).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Generate (and write --truth) without sending.")
    ] = False,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="Write straight into ClickHouse (--clickhouse-url) through the collector's row "
            "builder instead of OTLP: for loading benchmark datasets. No service may hold the "
            "embedded data directory meanwhile.",
        ),
    ] = False,
    clickhouse_url: ClickHouseURLOption = None,
) -> None:
    """Stream a simulated quarter of a consulting firm's sync traffic over OTLP."""
    from simulator.run import simulate as run_simulation

    if firm_config is not None:
        from simulator.firm import firm_config_toml

        firm_config.write_text(firm_config_toml(), encoding="utf-8")
    end_time = (end or datetime.now(UTC)).replace(
        tzinfo=(end.tzinfo if end and end.tzinfo else UTC)
    )
    exporter = None
    if direct:
        from syncsight.bulk_load import WarehouseSpanExporter
        from warehouse.migrations import migrate as run_migrations
        from warehouse.span_store import span_sink

        settings = build_settings(clickhouse_url=clickhouse_url)
        client = connect_or_fail(settings)
        run_migrations(client, load_file_config(settings).correlation)
        exporter = WarehouseSpanExporter(span_sink(client, settings.clickhouse_url))
    try:
        stats = run_simulation(
            end=end_time,
            endpoint=None if dry_run or direct else endpoint,
            exporter=exporter,
            protocol=protocol,
            seed=seed,
            scale=scale,
            truth_path=truth,
            token=token,
            console=console,
        )
    except ValueError as error:
        fail(str(error))
    Console().print(stats)
    if truth:
        typer.echo(f"ground truth written to {truth}")


@app.command()
def lineage(
    object_type: Annotated[str, typer.Argument(help="Object type (invoice, …) or `event`.")],
    object_id: Annotated[str, typer.Argument(help="The object's id, or a biz.event.id.")],
    direction: Annotated[
        str, typer.Option("--direction", help="upstream, downstream or both.")
    ] = "upstream",
    output: Annotated[
        str, typer.Option("--format", help="text, json, ocel (OCEL 2.0 JSON) or evidence.")
    ] = "text",
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="With --format evidence or ocel: as known at this instant (ISO 8601; a pack's "
            "own known_at reproduces it byte for byte).",
            show_default=False,
        ),
    ] = None,
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
) -> None:
    """Trace an object to its source events (or to its postings) through the REST API."""
    from lineage.render import render_text
    from rest_client.client import ApiError

    if output not in LINEAGE_FORMATS:
        fail(f"--format {output!r}: expected one of {', '.join(LINEAGE_FORMATS)}")
    client = api_client(api_url, api_token)
    try:
        if known_at is not None and output not in ("evidence", "ocel"):
            fail(f"--known-at applies to --format evidence or ocel, not {output!r}")
        if output == "text":
            text = render_text(client.lineage(object_type, object_id, direction))
        elif output == "json":
            text = client.lineage(object_type, object_id, direction).model_dump_json(
                indent=2, by_alias=True
            )
        elif output == "evidence":
            pack = client.evidence(object_type, object_id, direction, known_at=known_at)
            text = json.dumps(pack, indent=2, ensure_ascii=False)
        else:
            ocel = client.ocel(object_type, object_id, direction, known_at=known_at)
            text = json.dumps(ocel, indent=2, ensure_ascii=False)
    except ApiError as error:
        fail(str(error))
    typer.echo(text)


LINEAGE_FORMATS = ("text", "json", "ocel", "evidence")
sla_app = typer.Typer(help="Business SLAs, read through the REST API.", no_args_is_help=True)
app.add_typer(sla_app, name="sla")


@sla_app.command("status")
def sla_status(
    sla: Annotated[
        str | None,
        typer.Option(
            "--sla", help="Show this SLA's timers instead of the summary.", show_default=False
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="With --sla: met, breached, at_risk or on_track.", show_default=False
        ),
    ] = None,
    legal_entity: Annotated[
        str | None,
        typer.Option("--legal-entity", help="With --sla: one legal entity.", show_default=False),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", help="Evaluate as of this instant (UTC); default now.", show_default=False
        ),
    ] = None,
    known_at: Annotated[
        datetime | None,
        typer.Option(
            "--known-at",
            help="Count only what syncsight had stored by this instant (UTC), to reproduce an "
            "earlier answer; default: how far the state is complete.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="With --sla: most timers shown.")] = 50,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
) -> None:
    """Every SLA's timers by state, attainment and percentiles (or one SLA's timers); the table
    names the instants it describes (as of, known at)."""
    from rest_client.client import ApiError
    from rest_client.sla_tables import instants_caption, print_whole, summary_table, timers_table

    if output not in ("table", "json"):
        fail(f"--format {output!r}: expected table or json")
    client = api_client(api_url, api_token)
    instant = as_of.replace(tzinfo=as_of.tzinfo or UTC) if as_of else None
    known = known_at.replace(tzinfo=known_at.tzinfo or UTC) if known_at else None
    try:
        if sla is None:
            answer: Any = client.slas(as_of=instant, known_at=known)
            table = summary_table(answer.body)
        else:
            answer = client.sla_timers(
                sla,
                as_of=instant,
                known_at=known,
                state=state,
                legal_entity=legal_entity,
                limit=limit,
            )
            table = timers_table(sla, answer.body)
    except ApiError as error:
        fail(str(error))
    if output == "json":
        typer.echo(json.dumps([row.model_dump(mode="json") for row in answer.body], indent=2))
    else:
        table.caption = instants_caption(answer.as_of, answer.known_at)
        print_whole(table, Console())


@app.command()
def dashboard(
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
    host: HostOption = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Dashboard port (overrides SYNCSIGHT_DASHBOARD_PORT; default 8501).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the Streamlit dashboard, which reads only the REST API, until Ctrl-C."""
    import os

    from dashboard.launcher import dashboard_url, streamlit_command, streamlit_environment

    settings = build_settings(
        api_url=api_url, api_token=api_token, host=host, dashboard_port=dashboard_port
    )
    env = streamlit_environment(
        os.environ,
        api_url=settings.api_url,
        api_token=settings.api_token.get_secret_value(),
        address=settings.host,
    )
    command = streamlit_command(settings.dashboard_port)
    console.print(
        f"dashboard on {dashboard_url(env['STREAMLIT_SERVER_ADDRESS'], settings.dashboard_port)}"
        f" reading {settings.api_url}",
        highlight=False,
    )
    os.execve(command[0], command, env)  # Streamlit takes over this process and its signals


app.command("verify-evidence")(verify_evidence)
app.command("ocel")(ocel_export)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")
app.add_typer(ledger_app, name="ledger")


@app.command("config-reference")
def config_reference(
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Replace the generated block in this Markdown file (docs/operations.md) "
            "instead of printing the table.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the reference of every SYNCSIGHT_* setting and the API access rules, from the code."""
    from syncsight.settings_reference import (
        ReferenceBlockMissing,
        generated_blocks,
        replace_block,
    )

    blocks = generated_blocks(flags=settings_flags(), cwd=Path.cwd())
    if write is None:
        typer.echo("\n".join(blocks.values()), nl=False)
        return
    try:
        document = write.read_text(encoding="utf-8")
        for name, content in blocks.items():
            document = replace_block(document, name, content)
        write.write_text(document, encoding="utf-8")
    except (OSError, ReferenceBlockMissing) as error:
        fail(f"--write {str(write)!r}: {error}")
    typer.echo(f"configuration reference written to {write}")


def settings_flags() -> dict[str, str]:
    """Setting name → the command-line option that overrides it, from the commands' options."""
    flags: dict[str, str] = {}
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    for command in commands.values():
        for param in command.params:
            long_names = [opt for opt in param.opts if opt.startswith("--")]
            if param.name in Settings.model_fields and long_names:
                flags.setdefault(param.name, long_names[0])
    return flags


def refuse_unprotected_bind(settings: Settings) -> None:
    """Local-only mode: without API and ingest tokens the service binds loopback addresses only."""
    from syncsight.access import UnprotectedBind, require_tokens_for_bind

    try:
        require_tokens_for_bind(
            settings.host,
            api_tokens=settings.api_tokens.enabled,
            ingest_tokens=settings.ingest_tokens.enabled,
        )
    except UnprotectedBind as error:
        fail(str(error))


def _run_service(settings: Settings, file_config: FileConfig) -> None:
    from collector.spool import SpoolOfAnotherDatabase
    from lineage.signing import SigningKeyError
    from syncsight.app import create_app
    from syncsight.runner import run_http

    refuse_held_directory(settings)
    try:
        app = create_app(settings, file_config)
    except (SpoolOfAnotherDatabase, SigningKeyError) as error:
        fail(str(error))
    run_http(app, host=settings.host, port=settings.port)


def main() -> None:
    """Console-script entry point. It bounds glibc's heap first
    (``warehouse.c_heap.bound_c_heap``): glibc fixes its arena limit when a thread first needs an
    arena of its own, and the embedded engine starts threads that do as soon as it opens, so a bound
    set later (it was set when the HTTP server started) is ignored and the service ran with 16
    arenas (Soak, eleventh pass)."""
    bound_c_heap()
    app()
