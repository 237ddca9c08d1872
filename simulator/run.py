"""Public entry points of the simulator: run a quarter into an exporter, list its invoices.

The CLI (``syncsight simulate`` and ``syncsight demo``) calls these; nothing else imports the
simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator.emitter import TraceEmitter
from simulator.firm import FIRM_NAME, scale_named
from simulator.otlp import HTTP_PROTOBUF, otlp_span_exporter
from simulator.scenario import Scenario
from simulator.stats import ScenarioStats, StatsTally
from simulator.truth import TruthWriter


def simulate(
    *,
    end: datetime,
    endpoint: str | None = None,
    protocol: str = HTTP_PROTOBUF,
    seed: int = 7,
    scale: str = "small",
    truth_path: Path | None = None,
    exporter: SpanExporter | None = None,
    token: str | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> ScenarioStats:
    """Generate the quarter ending at ``end`` and stream it as traces; return its statistics.

    Spans go to ``exporter`` when given, else to the OTLP ``endpoint`` over ``protocol``
    (``http/protobuf`` or ``grpc``) with an optional bearer ``token``; with neither, nothing is
    emitted and the statistics count the spans that would have been. The ground truth is written to
    ``truth_path`` when given. The exporter is shut down at the end.
    """
    scenario = Scenario.build(seed=seed, scale=scale_named(scale), end=end)
    if exporter is None and endpoint is not None:
        exporter = otlp_span_exporter(endpoint, protocol, token=token)
    tally = StatsTally(scenario)
    with ExitStack() as stack:
        emitter = stack.enter_context(TraceEmitter(exporter, seed=seed)) if exporter else None
        truth = stack.enter_context(TruthWriter(truth_path, scenario)) if truth_path else None
        bar = stack.enter_context(_progress(console, enabled=progress))
        task = bar.add_task(f"{FIRM_NAME}, {scale} quarter", total=scenario.contract_count, spans=0)
        for event in scenario.customer_events():
            tally.add_event(event)
            if emitter:
                emitter.emit(event)
            if truth:
                truth.add_customer_event(event)
        for number, history in enumerate(scenario.contract_histories(), start=1):
            tally.add(history)
            if emitter:
                for event in history.events:
                    emitter.emit(event)
                emitter.forget_links()
            if truth:
                truth.add(history)
            bar.update(task, completed=number, spans=tally.spans)
        bar.update(task, completed=scenario.contract_count, spans=tally.spans)
    return tally.stats(spans_emitted=exporter is not None)


def scenario_invoice_ids(*, seed: int, scale: str, end: datetime) -> list[str]:
    """Ids of every invoice the scenario attempts to post (posted or failed), in generation order.

    Regenerates the scenario without emitting; cheap at ``small`` scale.
    """
    return list(_invoice_ids(Scenario.build(seed=seed, scale=scale_named(scale), end=end)))


def _invoice_ids(scenario: Scenario) -> Iterator[str]:
    for history in scenario.contract_histories():
        for item in history.billing:
            if item.invoice is not None:
                yield item.invoice_id


def _progress(console: Console | None, *, enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("contracts · {task.fields[spans]:,} spans"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
