"""``syncsight quarantine``: the batches ClickHouse refused for their data, kept beside the spool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from syncsight.cli_common import ClickHouseURLOption, build_settings, fail

if TYPE_CHECKING:
    from collector.quarantine import Quarantine

quarantine_app = typer.Typer(
    help="Batches ClickHouse refused for their data, kept beside the spool: list, retry, drop.",
    no_args_is_help=True,
)

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
