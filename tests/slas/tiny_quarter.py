"""The simulator's tiny quarter (seed 11) streamed into a database insert by insert, the business
state's keeper ticking after each: what the incremental-state tests start from."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from clickhouse_connect.driver.client import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from simulator.run import simulate
from slas.business_state import BusinessState, TickReport
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from syncsight.bulk_load import WarehouseSpanExporter
from tests.templates import (
    Templates,
    admin_client,
    copy_database,
    database_of,
    migrated_template,
)
from warehouse.span_store import span_sink

END = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)
SETTLE = timedelta(milliseconds=1)


def tick(state: BusinessState) -> TickReport:
    time.sleep(0.002)  # every row stored so far is older than the watermark
    return state.tick(datetime.now(UTC))


@functools.cache
def tiny_quarter_spans(scale: str = "tiny") -> Sequence[ReadableSpan]:
    """The quarter's spans, simulated once per pytest process and scale: simulating the small
    quarter costs seconds, and every test that streams it reads the same spans (the exporters
    only read them)."""
    memory = InMemorySpanExporter()
    simulate(end=END, exporter=memory, seed=11, scale=scale, progress=False)
    return tuple(memory.get_finished_spans())


def load_tiny_quarter(
    client: Client, engine_url: str, state: BusinessState, *, scale: str = "tiny", chunk: int = 60
) -> list[TickReport]:
    """Stream a quarter in inserts of ``chunk`` spans, the keeper ticking after each; the ticks."""
    spans = tiny_quarter_spans(scale)
    loader = WarehouseSpanExporter(span_sink(client, engine_url))
    ticks = []
    for first in range(0, len(spans), chunk):
        loader.export(spans[first : first + chunk])
        loader.force_flush()
        ticks.append(tick(state))
    return ticks


def stream_with_late_arrivals(
    client: Client, engine_url: str, *, seed: int, scale: str = "tiny", chunk: int = 80
) -> tuple[list[datetime], BusinessState]:
    """A quarter in inserts of ``chunk`` spans, a keeper ticking after each, a tenth of the spans
    (chosen at random with ``seed``) held back and sent at the end: stops, postings and retries
    that arrive late. The watermark after every tick, in order, and the keeper."""
    spans = list(tiny_quarter_spans(scale))
    late = set(random.Random(seed).sample(range(len(spans)), len(spans) // 10))
    on_time = [span for i, span in enumerate(spans) if i not in late]
    batches = [on_time[i : i + chunk] for i in range(0, len(on_time), chunk)]
    loader = WarehouseSpanExporter(span_sink(client, engine_url))
    keeper = BusinessState(lambda: client, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    watermarks = []
    for batch in [*batches, [spans[i] for i in sorted(late)]]:
        loader.export(batch)
        loader.force_flush()
        tick(keeper)
        watermarks.append(keeper.watermark())
    return watermarks, keeper


Then = Callable[[Client, BusinessState, list[datetime]], BusinessState]
"""More work on a streamed quarter before it becomes a template: given its client, keeper and
watermarks (which it may append to), the keeper as configured last."""

T = TypeVar("T")


def template_copy(
    templates: Templates,
    engine_url: str,
    client: Client,
    key: str,
    stream: Callable[[Client], tuple[BusinessState, T]],
    keeper_on: Callable[[Client, BusinessState], BusinessState],
    *,
    migrated: bool = True,
) -> tuple[BusinessState, T]:
    """What ``stream`` does to a migrated database (an empty one unless ``migrated``), done once
    per process and ``key`` in a template database, copied into ``client``'s empty database
    (streaming is the dear part of the tests that start from it): a keeper on ``client``
    continuing the streaming one (``keeper_on`` sets it up like it; it takes over the windows it
    read lately, ``_read``, where it looks for rows that became visible late), and what
    ``stream`` returned besides."""

    def fill(template: Client) -> tuple[BusinessState, T]:
        if migrated:
            with admin_client(engine_url) as admin:
                copy_database(
                    admin, migrated_template(templates, engine_url), database_of(template)
                )
        return stream(template)

    name, (streamer, streamed) = templates.get(engine_url, key, fill)
    with admin_client(engine_url) as admin:
        copy_database(admin, name, database_of(client))
    keeper = keeper_on(client, streamer)
    keeper._read = list(streamer._read)
    return keeper, streamed


def late_arrivals_copy(
    templates: Templates,
    engine_url: str,
    client: Client,
    *,
    seed: int,
    scale: str = "tiny",
    chunk: int = 80,
    then: tuple[str, Then] | None = None,
) -> tuple[list[datetime], BusinessState]:
    """``stream_with_late_arrivals`` (then ``then``'s work, named by its first item) once per
    process and arguments (``template_copy``), in ``client``'s empty database: the watermarks,
    and a keeper continuing the last one (its definitions and calendars). ``then``'s work starts
    from a copy of the quarter streamed without it, which the tests that read that one share."""

    def stream(template: Client) -> tuple[BusinessState, list[datetime]]:
        if then is None:
            watermarks, keeper = stream_with_late_arrivals(
                template, engine_url, seed=seed, scale=scale, chunk=chunk
            )
            return keeper, watermarks
        watermarks, keeper = late_arrivals_copy(
            templates, engine_url, template, seed=seed, scale=scale, chunk=chunk
        )
        return then[1](template, keeper, watermarks), watermarks

    def keeper_on(c: Client, streamer: BusinessState) -> BusinessState:
        return BusinessState(lambda: c, streamer.definitions, streamer.calendars, settle=SETTLE)

    key = f"late_{scale}_{seed}_{chunk}" + (f"_{then[0]}" if then else "")
    keeper, watermarks = template_copy(
        templates, engine_url, client, key, stream, keeper_on, migrated=then is None
    )
    return list(watermarks), keeper


@dataclass(frozen=True)
class Streamed:
    """The tiny quarter streamed in tick by tick (``load_tiny_quarter``: inserts of 120 spans, a
    keeper with the default settings ticking after each) in a database of the test's own."""

    client: Client
    keeper: BusinessState
    """A keeper on ``client`` that continues the one that streamed the quarter."""
    ticks: tuple[TickReport, ...]
    """The streaming keeper's ticks, in order."""


def streamed_copy(
    templates: Templates,
    engine_url: str,
    client: Client,
    *,
    max_events_per_chunk: int | None = None,
    max_expansion_events: int | None = None,
    chunk: int = 120,
) -> Streamed:
    """The quarter streamed in inserts of ``chunk`` spans once per process and keeper setting
    (``template_copy``), in ``client``'s empty database, and a keeper continuing the one that
    streamed it, with the same settings."""

    limits = {
        name: value
        for name, value in (
            ("max_events_per_chunk", max_events_per_chunk),
            ("max_expansion_events", max_expansion_events),
        )
        if value is not None
    }

    def keeper_on(c: Client, _: BusinessState | None = None) -> BusinessState:
        return BusinessState(lambda: c, DEFAULT_SLAS, CalendarBook(), settle=SETTLE, **limits)

    def stream(template: Client) -> tuple[BusinessState, tuple[TickReport, ...]]:
        keeper = keeper_on(template)
        return keeper, tuple(load_tiny_quarter(template, engine_url, keeper, chunk=chunk))

    key = "tiny_streamed_" + ("_".join(f"{n}{v}" for n, v in sorted(limits.items())) or "default")
    key += f"_{chunk}" if chunk != 120 else ""
    keeper, ticks = template_copy(templates, engine_url, client, key, stream, keeper_on)
    return Streamed(client, keeper, ticks)
