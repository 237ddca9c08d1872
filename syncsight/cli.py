"""The ``syncsight`` command line: every entry point builds its settings here, once."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from syncsight import __version__
from syncsight.config_file import ConfigFileError, FileConfig, load_config
from syncsight.settings import Settings
from warehouse.c_heap import bound_c_heap
from warehouse.client import ClickHouseURLError, connect
from warehouse.schema import Topology, TopologyError

if TYPE_CHECKING:
    from collector.quarantine import Quarantine
    from rest_client.client import ApiClient

app = typer.Typer(
    name="syncsight",
    help="Observability for the CRM / PSA / ERP / revenue-recognition sync: OTLP traces in, "
    "lineage, business SLAs and close risk out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

ClickHouseURLOption = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-url",
        help="ClickHouse URL (overrides SYNCSIGHT_CLICKHOUSE_URL): chdb:///path, chdb://memory "
        "or http(s)://user:pass@host:8123/db.",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML config file (overrides SYNCSIGHT_CONFIG).", show_default=False
    ),
]
HostOption = Annotated[
    str | None,
    typer.Option("--host", help="Bind address (overrides SYNCSIGHT_HOST).", show_default=False),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port", help="OTLP/HTTP + API port (overrides SYNCSIGHT_PORT).", show_default=False
    ),
]
GrpcPortOption = Annotated[
    int | None,
    typer.Option(
        "--grpc-port", help="OTLP/gRPC port (overrides SYNCSIGHT_GRPC_PORT).", show_default=False
    ),
]


def fail(message: str) -> NoReturn:
    """Print one clear line and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given taking precedence."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        fail(describe_validation_error(error, given))


def describe_validation_error(error: ValidationError, flags: dict[str, Any]) -> str:
    """One line per problem naming the setting (as flag or variable), the value and the rule."""
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        source = f"--{field.replace('_', '-')}" if field in flags else f"SYNCSIGHT_{field.upper()}"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if f"SYNCSIGHT_{field.upper()}=" in message:  # our validators name setting and value
            lines.append(message.replace(f"SYNCSIGHT_{field.upper()}=", f"{source}="))
        else:
            lines.append(f"{source}={problem.get('input')!r}: {message}")
    return "; ".join(lines)


def load_file_config(settings: Settings) -> FileConfig:
    """The TOML config named by the settings, or a clean exit naming what is wrong with it."""
    try:
        return load_config(settings.config)
    except ConfigFileError as error:
        fail(str(error))


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
    client = _connect_or_fail(settings)
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
    """Truncate the derived business tables and re-derive them from otel_traces."""
    from warehouse.migrations import migrate as run_migrations
    from warehouse.rebuild import rebuild as run_rebuild

    settings = build_settings(clickhouse_url=clickhouse_url, config=config)
    file_config = load_file_config(settings)
    client = _connect_or_fail(settings)
    topology = Topology(settings.clickhouse_cluster)
    run_migrations(client, file_config.correlation, topology)
    with console.status("re-deriving business tables from otel_traces …"):
        report = run_rebuild(client, file_config.correlation, topology)
    typer.echo(
        f"rebuilt from {report.spans:,} spans: {report.events:,} business events, "
        f"{report.references:,} object references"
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
        client = _connect_or_fail(settings)
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


ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Base URL of the syncsight API (overrides SYNCSIGHT_API_URL; default "
        "http://127.0.0.1:4318).",
        show_default=False,
    ),
]
ApiTokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", help="API bearer token (overrides SYNCSIGHT_API_TOKEN).", show_default=False
    ),
]


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
            help="With --format evidence: the pack as known at this instant (ISO 8601; a pack's "
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
    client = _api_client(api_url, api_token)
    try:
        if known_at is not None and output != "evidence":
            fail(f"--known-at applies to --format evidence, not {output!r}")
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
            ocel = client.ocel(object_type, object_id, direction)
            text = json.dumps(ocel, indent=2, ensure_ascii=False)
    except ApiError as error:
        fail(str(error))
    typer.echo(text)


LINEAGE_FORMATS = ("text", "json", "ocel", "evidence")
CLI_TIMEOUT_SECONDS = 120.0
"""A lineage of a large object or a quarter's SLA evaluation may take a while on a laptop."""


def _api_client(api_url: str | None, api_token: str | None) -> ApiClient:
    """The REST client of the CLI's read commands, from the settings and their flags."""
    from rest_client.client import ApiClient

    settings = build_settings(api_url=api_url, api_token=api_token)
    return ApiClient(
        base_url=settings.api_url,
        token=settings.api_token.get_secret_value(),
        timeout=CLI_TIMEOUT_SECONDS,
    )


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
    limit: Annotated[int, typer.Option("--limit", help="With --sla: most timers shown.")] = 50,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
) -> None:
    """Every SLA's timers by state, attainment and percentiles (or one SLA's timers)."""
    from rest_client.client import ApiError
    from rest_client.sla_tables import summary_table, timers_table

    if output not in ("table", "json"):
        fail(f"--format {output!r}: expected table or json")
    client = _api_client(api_url, api_token)
    instant = as_of.replace(tzinfo=as_of.tzinfo or UTC) if as_of else None
    try:
        if sla is None:
            summaries = client.slas(as_of=instant).body
            rows: list[Any] = summaries
            table = summary_table(summaries)
        else:
            timers = client.sla_timers(
                sla, as_of=instant, state=state, legal_entity=legal_entity, limit=limit
            ).body
            rows = timers
            table = timers_table(sla, timers)
    except ApiError as error:
        fail(str(error))
    if output == "json":
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
    else:
        Console().print(table)


quarantine_app = typer.Typer(
    help="Batches ClickHouse refused for their data, kept beside the spool: list, retry, drop.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")

SpoolDirOption = Annotated[
    Path | None,
    typer.Option(
        "--spool-dir",
        help="Spool directory (overrides SYNCSIGHT_SPOOL_DIR; default: the one of the ClickHouse "
        "URL, as the service uses).",
        show_default=False,
    ),
]
BatchNamesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Batch names as `syncsight quarantine list` shows them.", show_default=False
    ),
]
AllBatchesOption = Annotated[bool, typer.Option("--all", help="Every quarantined batch.")]


@quarantine_app.command("list")
def quarantine_list(
    clickhouse_url: ClickHouseURLOption = None, spool_dir: SpoolDirOption = None
) -> None:
    """Each quarantined batch: name, size, when and the engine's reason."""
    from rich.table import Table

    area = _quarantine(clickhouse_url, spool_dir)
    batches = area.batches()
    if not batches:
        typer.echo(f"no quarantined batches in {area.directory}")
        return
    table = Table("batch", "bytes", "quarantined at (UTC)", "reason", title=str(area.directory))
    for batch in batches:
        when = batch.quarantined_at.strftime("%Y-%m-%d %H:%M:%S") if batch.quarantined_at else "?"
        table.add_row(batch.name, f"{batch.size:,}", when, batch.reason)
    Console(width=200).print(table)


@quarantine_app.command("retry")
def quarantine_retry(
    names: BatchNamesArgument = None,
    every: AllBatchesOption = False,
    clickhouse_url: ClickHouseURLOption = None,
    spool_dir: SpoolDirOption = None,
) -> None:
    """Send batches back to the spool: a running service replays them within seconds, else the
    next start does (a batch refused again returns to the quarantine)."""
    area = _quarantine(clickhouse_url, spool_dir)
    for name in _chosen(area, names, every):
        area.release(name)
        typer.echo(f"{name}: back in the spool {area.spool_directory}")


@quarantine_app.command("drop")
def quarantine_drop(
    names: BatchNamesArgument = None,
    every: AllBatchesOption = False,
    clickhouse_url: ClickHouseURLOption = None,
    spool_dir: SpoolDirOption = None,
) -> None:
    """Delete quarantined batches for good."""
    area = _quarantine(clickhouse_url, spool_dir)
    for name in _chosen(area, names, every):
        area.drop(name)
        typer.echo(f"{name}: dropped")


def _quarantine(clickhouse_url: str | None, spool_dir: Path | None) -> Quarantine:
    from collector.quarantine import Quarantine
    from collector.spool import SUFFIX

    settings = build_settings(clickhouse_url=clickhouse_url, spool_dir=spool_dir)
    return Quarantine(settings.spool_directory, SUFFIX)


def _chosen(area: Quarantine, names: list[str] | None, every: bool) -> list[str]:
    """The batch names a retry or drop acts on, each checked before any is touched."""
    from collector.quarantine import NotQuarantined

    if every == bool(names):
        fail("name one or more quarantined batches, or give --all (not both)")
    chosen: list[str] = area.names() if every else list(names or [])
    try:
        for name in chosen:
            area.path_of(name)
    except NotQuarantined as error:
        fail(str(error))
    return chosen


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


@app.command("verify-evidence")
def verify_evidence(
    file: Annotated[
        Path | None,
        typer.Argument(help="An evidence pack (lineage --format evidence).", show_default=False),
    ] = None,
    root_hash: Annotated[
        str | None,
        typer.Option(
            "--root-hash", help="The root hash recorded at export, to catch a rebuilt pack."
        ),
    ] = None,
    head: Annotated[
        list[Path] | None,
        typer.Option(
            "--head",
            help="A signed tree head kept from /api/v1/ledger/heads to check the pack's proofs "
            "against (repeat for several days); default: the heads inside the pack.",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="The service's public key (PEM, from /api/v1/ledger/key): check signatures.",
            show_default=False,
        ),
    ] = None,
    consistency: Annotated[
        tuple[Path, Path] | None,
        typer.Option(
            "--consistency",
            help="OLD_HEAD NEW_HEAD: check that the newer head of a day extends the older one "
            "(the newer as /api/v1/ledger/heads/DAY/SIZE?from_size=OLD_SIZE serves it).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check an evidence pack (hash chain, signature, inclusion proofs against tree heads), or two
    tree heads' consistency; exit 0 when every check passes, else name what failed, exit 1."""
    from lineage.evidence import UnreadableFile, read_json
    from lineage.pack_check import check_consistency, check_pack
    from lineage.signing import SigningKeyError, load_public_key
    from lineage.tree_head import HeadError, TreeHead

    if (file is None) == (consistency is None):
        fail("give an evidence pack FILE, or --consistency OLD_HEAD NEW_HEAD (not both)")
    try:
        public_key = (
            load_public_key(key.read_text(encoding="ascii"), source=f"--key {str(key)!r}")
            if key is not None
            else None
        )
        if consistency is not None:
            old_path, new_path = consistency
            old = TreeHead.from_json(read_json(old_path), source=str(old_path))
            checks = check_consistency(old, read_json(new_path), public_key=public_key)
        else:
            assert file is not None
            heads = [TreeHead.from_json(read_json(p), source=str(p)) for p in head or []]
            checks = check_pack(
                read_json(file), public_key=public_key, heads=heads, expected_root=root_hash
            )
    except (OSError, UnicodeDecodeError, UnreadableFile, HeadError, SigningKeyError) as error:
        fail(str(error))
    for check in checks:
        if check.failed:
            label = "tampered" if check.name in ("chain", "proofs", "consistency") else "failed"
            console.print(
                f"[bold red]{label}:[/] {check.name}: {check.message}",
                highlight=False,
                soft_wrap=True,
            )
        else:
            typer.echo(f"{check.status}: {check.name}: {check.message}")
    if any(check.failed for check in checks):
        raise typer.Exit(code=1)


audit_app = typer.Typer(
    help="Reports for auditors, read through the REST API.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("report")
def audit_report(
    period: Annotated[str, typer.Option("--period", help="Fiscal period, YYYY-MM.")],
    legal_entity: Annotated[str, typer.Option("--legal-entity", help="Legal entity id.")],
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="The report as known at this instant (ISO 8601; a report's own known_at "
            "reproduces its root hash). Default: now.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="json, csv or pdf (pdf needs --output).")
    ] = "json",
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write to this file instead of stdout.", show_default=False),
    ] = None,
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
) -> None:
    """The signed completeness-and-accuracy report of every interface for a period and legal
    entity (auditor or admin token), in the format the service renders, so that the access
    trail records the download with that format."""
    from rest_client.client import AUDIT_REPORT_FORMATS, ApiError

    if output_format not in AUDIT_REPORT_FORMATS:
        fail(f"--format {output_format!r}: expected one of {', '.join(AUDIT_REPORT_FORMATS)}")
    if output_format == "pdf" and output is None:
        fail("--format pdf writes a binary file: give --output FILE")
    client = _api_client(api_url, api_token)
    root_hash = ""
    try:
        if output_format == "json":
            report = client.audit_report(
                period=period, legal_entity=legal_entity, known_at=known_at
            ).body
            root_hash = f" {report.root_hash}"
            text = json.dumps(report.model_dump(), indent=2, ensure_ascii=False) + "\n"
            content = text.encode()
        else:
            content = client.audit_report_file(
                period=period,
                legal_entity=legal_entity,
                known_at=known_at,
                file_format=output_format,
            )
    except ApiError as error:
        fail(str(error))
    if output is None:
        typer.echo(content, nl=False)
        return
    try:
        output.write_bytes(content)
    except OSError as error:
        fail(f"--output {str(output)!r}: cannot write it ({error})")
    typer.echo(f"{output_format} report{root_hash} written to {output}")


OCEL_FORMATS = ("json", "sqlite")


@app.command("ocel")
def ocel_export(
    output: Annotated[Path, typer.Option("--output", help="The file to write the log to.")],
    period: Annotated[
        str | None,
        typer.Option("--period", help="Fiscal period, YYYY-MM.", show_default=False),
    ] = None,
    legal_entity: Annotated[
        str | None,
        typer.Option("--legal-entity", help="Legal entity id.", show_default=False),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="json (OCEL 2.0 JSON) or sqlite (OCEL 2.0 SQLite).")
    ] = "json",
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="The log as known at this instant (ISO 8601). Default: now.",
            show_default=False,
        ),
    ] = None,
    api_url: ApiUrlOption = None,
    api_token: ApiTokenOption = None,
) -> None:
    """The OCEL 2.0 event log of a period and/or a legal entity, streamed into a file (auditor or
    admin token); PM4Py, ocpa and Celonis read it."""
    from rest_client.client import ApiError

    if output_format not in OCEL_FORMATS:
        fail(f"--format {output_format!r}: expected one of {', '.join(OCEL_FORMATS)}")
    if period is None and legal_entity is None:
        fail("give --period YYYY-MM, --legal-entity ID, or both")
    client = _api_client(api_url, api_token)
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("wb") as file:
            written = client.ocel_export(
                file,
                period=period,
                legal_entity=legal_entity,
                output_format=output_format,
                known_at=known_at,
            )
        partial.replace(output)
    except ApiError as error:
        partial.unlink(missing_ok=True)
        fail(str(error))
    except OSError as error:
        partial.unlink(missing_ok=True)
        fail(f"--output {str(output)!r}: cannot write it ({error})")
    typer.echo(f"OCEL 2.0 {output_format} log, {written:,} bytes, written to {output}")


ledger_app = typer.Typer(help="The evidence ledger's daily tree heads.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("seal")
def ledger_seal(
    day: Annotated[
        str, typer.Option("--day", help="UTC knowledge day, YYYY-MM-DD (today: what is stored).")
    ],
    clickhouse_url: ClickHouseURLOption = None,
    config: ConfigOption = None,
) -> None:
    """Seal a day's stored facts into a signed tree head now (the service seals each finished
    day by itself; in embedded mode use POST /api/v1/admin/ledger/seal while it runs)."""
    from datetime import date, timedelta

    from lineage.ledger import Ledger
    from lineage.signing import SigningKeyError, load_or_create_signer, load_signer
    from warehouse.migrations import migrate as run_migrations

    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        fail(f"--day {day!r}: expected a date YYYY-MM-DD")
    settings = build_settings(clickhouse_url=clickhouse_url, config=config)
    now = datetime.now(UTC)
    if not date(1970, 1, 1) <= wanted <= now.date():
        fail(f"--day {day}: expected a day from 1970-01-01 to today ({now.date()})")
    try:
        signer = (
            load_signer(settings.signing_key_path)
            if settings.signing_key_file is not None
            else load_or_create_signer(settings.signing_key_path)
        )
    except SigningKeyError as error:
        fail(str(error))
    file_config = load_file_config(settings)
    client = _connect_or_fail(settings)
    run_migrations(client, file_config.correlation, Topology(settings.clickhouse_cluster))
    until = now - timedelta(seconds=settings.state_settle_seconds)
    head = Ledger(signer).seal_day(client, wanted, until=until, now=now)
    typer.echo(json.dumps(head.to_json(), indent=2))


@ledger_app.command("keygen")
def ledger_keygen(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="Where to write the new PEM private key (created readable by its owner only; "
            "never overwritten).",
        ),
    ],
) -> None:
    """Create the Ed25519 key that signs evidence roots and tree heads: point
    SYNCSIGHT_SIGNING_KEY_FILE at it (compose: SIGNING_KEY_FILE, mounted as a secret)."""
    from lineage.signing import SigningKeyError, write_new_key

    try:
        signer = write_new_key(output)
    except SigningKeyError as error:
        fail(str(error))
    typer.echo(f"signing key {signer.key_id} written to {output}")


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

    try:
        app = create_app(settings, file_config)
    except (SpoolOfAnotherDatabase, SigningKeyError) as error:
        fail(str(error))
    run_http(app, host=settings.host, port=settings.port)


def _connect_or_fail(settings: Settings) -> Any:
    try:
        return connect(settings.clickhouse_url)
    except ClickHouseURLError as error:
        fail(str(error))
    except Exception as error:  # the driver's errors vary by engine; the message says enough
        from syncsight.redaction import Redactor, secrets_of

        hide = Redactor(secrets_of(settings))
        fail(hide(f"cannot open ClickHouse at {settings.clickhouse_url!r}: {error}"))


def main() -> None:
    """Console-script entry point. It bounds glibc's heap first
    (``warehouse.c_heap.bound_c_heap``): glibc fixes its arena limit when a thread first needs an
    arena of its own, and the embedded engine starts threads that do as soon as it opens, so a bound
    set later (it was set when the HTTP server started) is ignored and the service ran with 16
    arenas (Soak, eleventh pass)."""
    bound_c_heap()
    app()
