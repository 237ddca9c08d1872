"""The soak reads the service's ``/metrics`` as Prometheus text (``benchmarks.soak``): samples
summed by name, export requests by status, the evaluator's windows by path, from the registries
the service renders."""

from __future__ import annotations

from benchmarks.lineage_under_ingest import evaluator_ticks, tick_figures
from benchmarks.soak import by_label, non_ok_requests, parse_samples, totals_by_name
from collector.metrics import IngestMetrics
from slas.metrics import EvaluatorMetrics

REQUESTS = (("http", "200", 5), ("http", "503", 2), ("grpc", "OK", 3), ("grpc", "UNAVAILABLE", 1))
"""Export requests the service counted: transport, status, how many."""


def exposition() -> str:
    """``/metrics`` as the service renders it (ingest, then evaluator) after some traffic."""
    ingest, evaluator = IngestMetrics(), EvaluatorMetrics()
    for transport, status, count in REQUESTS:
        ingest.requests.labels(transport, status).inc(count)
    ingest.batch_rows.observe(1_000)
    ingest.batch_rows.observe(250)
    ingest.insert_failures.inc()
    evaluator.paths.labels("index").inc(4)
    evaluator.paths.labels("graph").inc()
    evaluator.lag_seconds.set(12.5)
    return (ingest.render() + evaluator.render()).decode()


class TestSoakMetrics:
    def test_samples_are_summed_over_their_labels_by_name(self) -> None:
        """Counters over their labels, a histogram's sum and a gauge, each by its sample name."""
        totals = totals_by_name(parse_samples(exposition()))
        assert totals["syncsight_export_requests_total"] == 11
        assert totals["syncsight_insert_batch_rows_sum"] == 1_250
        assert totals["syncsight_insert_failures_total"] == 1
        assert totals["syncsight_evaluator_lag_seconds"] == 12.5

    def test_requests_answered_neither_200_nor_ok_are_not_ok(self) -> None:
        """HTTP 503 and gRPC UNAVAILABLE count; HTTP 200 and gRPC OK do not."""
        assert non_ok_requests(parse_samples(exposition())) == 3

    def test_the_evaluator_s_windows_are_read_by_path(self) -> None:
        """Each ``path`` label's count, in the order the service lists them."""
        windows = by_label(
            parse_samples(exposition()), "syncsight_evaluator_window_paths_total", "path"
        )
        assert list(windows.items()) == [("index", 4), ("graph", 1)]

    def test_the_ticks_between_two_scrapes_are_counted_with_their_mean_wall(self) -> None:
        """``lineage_under_ingest.py``'s tick figures: the histogram's count and sum as the
        evaluator renders them, differenced between two scrapes."""
        evaluator = EvaluatorMetrics()
        evaluator.tick_seconds.observe(0.5)
        before = evaluator_ticks(totals_by_name(parse_samples(evaluator.render().decode())))
        for seconds in (1.0, 2.0, 4.5):
            evaluator.tick_seconds.observe(seconds)
        after = evaluator_ticks(totals_by_name(parse_samples(evaluator.render().decode())))
        assert before == (1, 0.5)
        assert tick_figures(before, after) == {
            "evaluator_ticks": 3,
            "evaluator_tick_mean_seconds": 2.5,
        }
        assert tick_figures(after, after)["evaluator_tick_mean_seconds"] is None
