"""Ground truth: consistent with the emitted spans and with itself."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from opentelemetry.trace import SpanKind

from domain import semconv
from tests.simulator.quarters import EmittedQuarter


def outcomes_by_event(quarter: EmittedQuarter) -> dict[str, list[tuple[int, str]]]:
    """(attempt, outcome) of every emitted CLIENT span, by business event id (a replay's is the
    event it replays, whatever id it carries)."""
    outcomes: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for span in quarter.spans:
        if span.kind == SpanKind.CLIENT and span.attributes is not None:
            event_id = str(
                span.attributes.get(semconv.REPLAY_OF) or span.attributes[semconv.EVENT_ID]
            )
            attempt = int(str(span.attributes[semconv.ATTEMPT]))
            outcomes[event_id].append((attempt, str(span.attributes[semconv.OUTCOME])))
    return outcomes


def latest_outcome(attempts: list[tuple[int, str]]) -> str:
    return max(attempts)[1]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestAgainstSpans:
    def test_a_blocked_items_blocking_events_never_succeeded(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """Each event blocking an item was emitted and its latest attempt is not a success."""
        outcomes = outcomes_by_event(small_quarter)
        blocked = small_quarter.truth["blocked_items"] + small_quarter.truth["blocked_revenue"]
        assert blocked
        for item in blocked:
            for event_id in item["blocking_event_ids"]:
                assert latest_outcome(outcomes[event_id]) != semconv.SUCCESS
                assert all(outcome != semconv.SUCCESS for _, outcome in outcomes[event_id])

    def test_every_invoice_chain_was_emitted_and_its_upstream_succeeded(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """Chain events exist as spans; every hop before the invoice took effect."""
        outcomes = outcomes_by_event(small_quarter)
        invoices = small_quarter.truth["invoices"]
        assert invoices
        for invoice in invoices:
            *upstream, invoice_event = invoice["chain_event_ids"]
            assert invoice_event == invoice["invoice_event_id"]
            for event_id in upstream:
                assert latest_outcome(outcomes[event_id]) == semconv.SUCCESS
            posted = latest_outcome(outcomes[invoice_event]) == semconv.SUCCESS
            assert posted == (invoice["status"] == "posted")

    def test_failed_events_match_the_spans(self, small_quarter: EmittedQuarter) -> None:
        """Recovered events end in success, unrecovered ones do not, attempt counts agree."""
        outcomes = outcomes_by_event(small_quarter)
        for event in small_quarter.truth["failed_events"]:
            attempts = outcomes[event["event_id"]]
            assert len(attempts) == event["attempts"]
            assert (latest_outcome(attempts) == semconv.SUCCESS) == event["recovered"]


class TestSelfConsistency:
    def test_timer_statuses_follow_their_deadlines(self, small_quarter: EmittedQuarter) -> None:
        """Met timers stopped by the deadline; open ones are before it; missing ones past it."""
        end = instant(small_quarter.truth["scenario"]["end"])
        for timer in small_quarter.truth["sla_timers"]:
            deadline = instant(timer["deadline"])
            if timer["status"] == "met":
                assert instant(timer["stopped_at"]) <= deadline
            elif timer["status"] == "open":
                assert timer["stopped_at"] is None
                assert deadline >= end
            elif timer["breach_reason"] == "missing":
                assert deadline < end
            else:
                assert timer["breach_reason"] in ("late", "wrong_period")

    def test_close_amounts_add_up(self, small_quarter: EmittedQuarter) -> None:
        """Due = posted before close + not posted before close, and blocked money is unposted."""
        blocked: dict[tuple[str, str], float] = defaultdict(float)
        for item in small_quarter.truth["blocked_items"]:
            blocked[item["legal_entity"], item["period"]] += item["amount"]
        closed = [row for row in small_quarter.truth["close"] if row["closed_by_end"]]
        assert closed
        assert any(row["amount_not_posted_before_close"] > 0 for row in closed)
        for row in small_quarter.truth["close"]:
            invoices = row["invoices"]
            if row["closed_by_end"]:
                parts = invoices["posted_before_close"] + invoices["not_posted_before_close"]
                assert abs(invoices["due"] - parts) < 0.01
            amount = blocked[row["legal_entity"], row["period"]]
            assert amount <= invoices["unposted_at_end"] + 0.01

    def test_the_summary_counts_its_sections(self, small_quarter: EmittedQuarter) -> None:
        """The summary agrees with the sections and with the statistics."""
        truth = small_quarter.truth
        summary = truth["summary"]
        assert summary["invoices"] == len(truth["invoices"])
        assert summary["blocked_items"] == len(truth["blocked_items"])
        assert summary["failed_events"] == len(truth["failed_events"])
        assert summary["blocked_items"] == small_quarter.stats.blocked_items
        assert summary["contracts"] == small_quarter.stats.contracts
        posted = sum(1 for invoice in truth["invoices"] if invoice["status"] == "posted")
        assert posted == small_quarter.stats.invoices_posted

    def test_the_document_names_its_format_entities_and_slas(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """Readers find the format, the three entities with calendars, and the four SLAs."""
        truth = small_quarter.truth
        assert truth["format"] == "syncsight.simulator.truth/1"
        entities = {entity["code"]: entity for entity in truth["legal_entities"]}
        assert set(entities) == {"US01", "UK01", "DE01"}
        assert entities["UK01"]["close_day"] == 4
        assert "2025-05-26" in entities["UK01"]["holidays"]
        assert [sla["name"] for sla in truth["slas"]] == [
            "time-to-project-creation",
            "time-to-bill-readiness",
            "time-to-invoice-posting",
            "time-to-revenue-posting",
        ]
