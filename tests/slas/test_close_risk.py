"""Close risk: which items are at risk before the close, what was realised after it, and levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from domain import semconv as sc
from slas.calendars import CalendarBook, EntityCalendar
from slas.close_items import close_items
from slas.close_risk import (
    BLOCKED,
    NOT_POSTED,
    OTHER_PERIOD,
    POSTED_LATE,
    PROJECTED_LATE,
    EntityRisk,
    assess,
    due_periods,
    level_of,
    remaining_after,
)
from slas.close_state import net_durations
from tests.slas.events import Event, event, snapshot_of

BOOK = CalendarBook(
    {
        "LE-DE01": EntityCalendar(
            "Europe/Berlin", holiday_country="DE", close_day=6, materiality=Decimal(10_000)
        )
    }
)
SEPTEMBER_CLOSE = datetime(2026, 10, 8, 22, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def billing(
    number: str,
    ready_at: datetime,
    amount: float,
    *,
    posted_at: datetime | None = None,
    posted_period: str = "2026-09",
    posting_outcome: str = sc.SUCCESS,
    period: str = "2026-09",
) -> list[Event]:
    """A billing event (on a German project) and, when given, its invoice posting."""
    ready = event(
        sc.BILLING_READY,
        f"BE-{number}",
        {sc.BILLING_EVENT: f"BE-{number}", sc.PROJECT: "PRJ-1"},
        ready_at,
        amount=amount,
        period=period,
    )
    if posted_at is None:
        return [ready]
    posting = event(
        sc.INVOICE_POSTED,
        f"INV-{number}",
        {sc.INVOICE: f"INV-{number}", sc.BILLING_EVENT: f"BE-{number}", sc.PROJECT: "PRJ-1"},
        posted_at,
        outcome=posting_outcome,
        period=posted_period,
        amount=amount,
        legal_entity="LE-DE01",
    )
    return [ready, posting]


def quarter() -> list[Event]:
    project = event(
        sc.PROJECT_ACTIVATED,
        "PRJ-1",
        {sc.PROJECT: "PRJ-1"},
        utc("2026-07-01T08:00"),
        legal_entity="LE-DE01",
    )
    history = [  # August: 24 invoices that each took one business hour to post
        e
        for n in range(24)
        for e in billing(
            f"H{n}",
            utc("2026-08-03T09:00") + timedelta(days=n),
            10.0,
            posted_at=utc("2026-08-03T10:00") + timedelta(days=n),
            period="2026-08",
            posted_period="2026-08",
        )
    ]
    revenue_hold = event(
        sc.REVENUE_POSTED,
        "JE-1",
        {sc.JOURNAL: "JE-1", sc.OBLIGATION: "POB-1", sc.INVOICE: "INV-A"},
        utc("2026-09-21T06:00"),
        outcome=sc.FAILED,
        amount=700.0,
    )
    obligation = event(
        sc.CONTRACT_SIGNED, "CTR-1", {sc.CONTRACT: "CTR-1", sc.OBLIGATION: "POB-1"},
        utc("2026-06-01T10:00"), legal_entity="LE-DE01",
    )  # fmt: skip
    return [
        project,
        obligation,
        *history,
        *billing("A", utc("2026-09-18T05:00"), 1000.0, posted_at=utc("2026-09-18T06:00")),
        *billing("B", utc("2026-09-22T05:00"), 2000.0, posted_at=utc("2026-09-22T06:00"), posting_outcome=sc.FAILED),
        *billing("C", utc("2026-09-14T05:00"), 3000.0),
        *billing("D", utc("2026-10-02T09:00"), 4000.0),
        *billing("E", utc("2026-09-25T05:00"), 5000.0, posted_at=utc("2026-10-01T06:00"), posted_period="2026-10"),
        *billing("F", utc("2026-09-29T05:00"), 6000.0, posted_at=utc("2026-10-09T06:00")),
        revenue_hold,
    ]  # fmt: skip


def risk_at(as_of: datetime) -> tuple[EntityRisk, dict[str, str]]:
    snapshot = snapshot_of(quarter(), as_of)
    items = close_items(snapshot)
    (risk,) = assess(items, snapshot.legal_entities, snapshot.currencies, BOOK, "2026-09", as_of)
    amounts = {float(items.amount[row]): reason for row, reason, _ in risk.contributors}
    names = {
        1000.0: "A", 2000.0: "B", 3000.0: "C", 4000.0: "D", 5000.0: "E", 6000.0: "F", 700.0: "JE-1"
    }  # fmt: skip
    return risk, {names[amount]: reason for amount, reason in amounts.items()}


class TestBeforeTheClose:
    def test_blocked_misposted_and_projected_late_items_are_at_risk(self) -> None:
        """B's invoice failed, E posted into October, C waits far longer than any invoice took;
        A posted, D is waiting an hour like the rest: not at risk."""
        risk, reasons = risk_at(utc("2026-10-02T10:00"))
        assert reasons == {
            "B": BLOCKED,
            "C": PROJECTED_LATE,
            "E": OTHER_PERIOD,
            "JE-1": BLOCKED,
        }
        assert risk.amount_at_risk == {"EUR": Decimal(10_700)}
        assert risk.amount_due == {"EUR": Decimal(21_700)}
        assert risk.level == "critical"
        assert risk.close_date.isoformat() == "2026-10-08"
        assert risk.close_deadline == SEPTEMBER_CLOSE
        assert risk.business_days_left == pytest.approx(4 + 12 / 24)

    def test_the_contributors_come_largest_first(self) -> None:
        """The top items by amount explain the number."""
        risk, _ = risk_at(utc("2026-10-02T10:00"))
        amounts = [reason for _, reason, _ in risk.contributors]
        assert amounts == [OTHER_PERIOD, PROJECTED_LATE, BLOCKED, BLOCKED]


class TestAfterTheClose:
    def test_every_item_not_posted_in_the_period_by_the_deadline_counts(self) -> None:
        """F posted a day after the close; C and D never posted; B, E and JE-1 as before."""
        risk, reasons = risk_at(utc("2026-10-20T00:00"))
        assert reasons == {
            "B": BLOCKED,
            "C": NOT_POSTED,
            "D": NOT_POSTED,
            "E": OTHER_PERIOD,
            "F": POSTED_LATE,
            "JE-1": BLOCKED,
        }
        assert risk.amount_at_risk == {"EUR": Decimal(20_700)}
        assert risk.business_days_left == 0


class TestPeriods:
    def test_items_name_the_periods_they_are_due_in(self) -> None:
        """Without a period the API reports every period with items due: August and September."""
        snapshot = snapshot_of(quarter(), utc("2026-10-20T00:00"))
        assert due_periods(close_items(snapshot)) == ["2026-08", "2026-09"]


class TestLevels:
    @pytest.mark.parametrize(
        ("amounts", "level"),
        [
            ({}, "low"),
            ({"EUR": Decimal("999.9999")}, "low"),
            ({"EUR": Decimal(1_000)}, "medium"),
            ({"EUR": Decimal(5_000)}, "high"),
            ({"EUR": Decimal(10_000)}, "critical"),
            ({"EUR": Decimal(100), "USD": Decimal(6_000)}, "high"),
        ],
    )
    def test_level_is_the_largest_amount_as_a_share_of_materiality(
        self, amounts: dict[str, Decimal], level: str
    ) -> None:
        """10 % medium, 50 % high, 100 % critical (materiality 10,000)."""
        assert level_of(amounts, Decimal(10_000)) == level


class TestProjection:
    @pytest.mark.parametrize(
        ("waited", "remaining"), [(0.0, 20.0), (25.0, 5.0), (39.0, 1.0), (45.0, float("inf"))]
    )
    def test_remaining_time_comes_from_stages_that_took_longer(
        self, waited: float, remaining: float
    ) -> None:
        """The median of what longer stages still took; infinite beyond all history."""
        durations = np.array([10.0, 20.0, 30.0, 40.0])
        assert remaining_after(durations, np.array([waited]), 0.5)[0] == remaining

    @pytest.mark.parametrize(
        ("added", "taken_back", "left"),
        [
            ([30.0, 10.0, 20.0], [], [10.0, 20.0, 30.0]),
            ([30.0, 10.0, 30.0, 20.0, 30.0], [30.0, 30.0], [10.0, 20.0, 30.0]),
            ([5.0, 5.0, 7.0], [7.0, 5.0], [5.0]),
            ([1.5, 2.5], [2.5, 1.5], []),
        ],
    )
    def test_stages_taken_back_leave_the_stages_of_the_versions_in_effect(
        self, added: list[float], taken_back: list[float], left: list[float]
    ) -> None:
        """Each stage taken back removes one equal stage added, however many are equal."""
        assert sorted(net_durations(added, taken_back).tolist()) == left
