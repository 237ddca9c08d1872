"""The auditors' commands: ``verify-evidence`` (offline checks of a pack or two tree heads),
``audit report``, ``ocel`` and ``ledger seal`` / ``keygen``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from syncsight.cli_common import (
    ApiTokenOption,
    ApiUrlOption,
    ClickHouseURLOption,
    ConfigOption,
    api_client,
    build_settings,
    connect_or_fail,
    console,
    fail,
    load_file_config,
)
from warehouse.schema import Topology


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
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="A completeness-and-accuracy report (audit report --format json): check its "
            "root hash, query hash and (with --key) signature.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check an evidence pack (hash chain, signature, inclusion proofs against tree heads), two
    tree heads' consistency, or a report's root and signature; exit 0 when every check passes,
    else name what failed, exit 1."""
    from lineage.evidence import UnreadableFile, read_json
    from lineage.pack_check import check_consistency, check_pack
    from lineage.report_check import check_report
    from lineage.signing import SigningKeyError, load_public_key
    from lineage.tree_head import HeadError, TreeHead

    if [file, consistency, report].count(None) != 2:
        fail("give one of: an evidence pack FILE, --consistency OLD_HEAD NEW_HEAD, --report FILE")
    try:
        public_key = (
            load_public_key(key.read_text(encoding="ascii"), source=f"--key {str(key)!r}")
            if key is not None
            else None
        )
        if report is not None:
            checks = check_report(read_json(report), public_key=public_key)
        elif consistency is not None:
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
            tampering = ("chain", "proofs", "consistency", "report")
            label = "tampered" if check.name in tampering else "failed"
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
    client = api_client(api_url, api_token)
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
    client = api_client(api_url, api_token)
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

    from domain.instants import EPOCH
    from lineage.ledger import Ledger, SealDuringRebuild
    from lineage.signing import SigningKeyError, load_or_create_signer, load_signer
    from warehouse.migrations import migrate as run_migrations

    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        fail(f"--day {day!r}: expected a date YYYY-MM-DD")
    settings = build_settings(clickhouse_url=clickhouse_url, config=config)
    now = datetime.now(UTC)
    if not EPOCH.date() <= wanted <= now.date():
        fail(f"--day {day}: expected a day from {EPOCH.date()} to today ({now.date()})")
    try:
        signer = (
            load_signer(settings.signing_key_path)
            if settings.signing_key_file is not None
            else load_or_create_signer(settings.signing_key_path)
        )
    except SigningKeyError as error:
        fail(str(error))
    file_config = load_file_config(settings)
    client = connect_or_fail(settings)
    run_migrations(client, file_config.correlation, Topology(settings.clickhouse_cluster))
    until = now - timedelta(seconds=settings.state_settle_seconds)
    try:
        head = Ledger(signer).seal_day(client, wanted, until=until, now=now)
    except SealDuringRebuild as error:
        fail(str(error))
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
