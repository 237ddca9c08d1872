"""The quarters the simulator tests share: a fixed end, a seed, and an emitted-quarter record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from simulator.run import simulate
from simulator.stats import ScenarioStats

END = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)
"""A Friday afternoon: the quarter runs from 21 March to 20 June 2025."""
SEED = 7


@dataclass(frozen=True)
class EmittedQuarter:
    """A quarter run through ``simulate`` into an in-memory exporter, with its truth file."""

    stats: ScenarioStats
    spans: tuple[ReadableSpan, ...]
    truth: dict[str, Any]
    truth_path: Path


def emit_quarter(scale: str, seed: int, truth_path: Path) -> EmittedQuarter:
    exporter = InMemorySpanExporter()
    stats = simulate(
        end=END, seed=seed, scale=scale, exporter=exporter, truth_path=truth_path, progress=False
    )
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    return EmittedQuarter(stats, exporter.get_finished_spans(), truth, truth_path)
