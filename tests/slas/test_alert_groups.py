"""Grouped timer alerts: one per SLA, legal entity, severity and owner, counting its timers, money
per currency, the earliest start; escalation by a member's higher threshold, never by membership;
resolution with the last member; and how the direct channels render a group."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from slas.alert_groups import TimerGroups, group_alert, mark_ended_by_breach
from slas.alerts import (
    AT_RISK_ALERT,
    ESCALATE,
    FIRE,
    FIRING,
    RESOLVE,
    RESOLVED,
    Alert,
    pending,
    reconcile,
    timer_alert,
)
from slas.notifiers.slack import change_message, digest_message
from tests.slas.test_notifiers import make_alert

T0 = datetime(2026, 9, 7, 12, 0, tzinfo=UTC)
URL = "https://syncsight.example"
GRACE = timedelta(minutes=1)


def member(
    number: int,
    *,
    breached: bool = True,
    threshold: float = 1.0,
    amount: str | None = "100",
    currency: str = "EUR",
    entity: str = "LE-US01",
    crossed_hours: float = 0.0,
) -> Alert:
    """The alert of billing event BE-<number>, its deadline <number> hours after T0 (the
    notifier tests' timer, in the group of ``entity``)."""
    base = make_alert(f"BE-{number}").timer
    assert base is not None
    facts = replace(
        base,
        owner="billing-ops",
        legal_entity=entity,
        started_at=T0,
        deadline=T0 + timedelta(hours=number),
        elapsed_hours=30.0,
        threshold=threshold,
        crossed_at=T0 + timedelta(hours=crossed_hours),
        breached=breached,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
    )
    return timer_alert(facts, public_url=URL)


def at_risk(number: int, threshold: float, crossed_hours: float = 0.0) -> Alert:
    return member(number, breached=False, threshold=threshold, crossed_hours=crossed_hours)


class TestGroupAlert:
    def test_one_alert_counts_its_timers_and_sums_money_per_currency(self) -> None:
        """Labels without objects; amounts summed per currency, never across; no amount skipped."""
        alert = group_alert(
            [
                member(1, amount="1200.50"),
                member(2, amount="1199.50"),
                member(3, amount="99.5", currency="USD"),
                member(4, amount=None),
            ]
        )
        assert alert.labels == {
            "alertname": "SlaBreached",
            "sla": "time-to-invoice-posting",
            "legal_entity": "LE-US01",
            "severity": "critical",
            "owner": "billing-ops",
        }
        notes = alert.annotations
        assert notes["timers"] == "4"
        assert notes["amounts"] == "2400.00 EUR; 99.50 USD"
        assert notes["summary"] == (
            "4 timers of time-to-invoice-posting breached in LE-US01, owner billing-ops"
        )
        assert "Amounts: 2400.00 EUR; 99.50 USD." in notes["description"]
        assert alert.threshold == 1.0

    def test_it_starts_at_the_earliest_crossing_and_names_the_oldest_five(self) -> None:
        """The earliest deadlines first, the rest counted; the link filters by entity."""
        members = [member(n, crossed_hours=n) for n in (7, 3, 9, 1, 5, 8, 2)]
        alert = group_alert(members)
        assert alert.starts_at == T0 + timedelta(hours=1)
        assert alert.crossed_at == T0 + timedelta(hours=9)  # the latest news of the group
        description = alert.annotations["description"]
        named = [f"BE-{n} (" for n in (1, 2, 3, 5, 7)]
        assert all(name in description for name in named)
        assert "BE-8 (" not in description
        assert "BE-9 (" not in description
        assert [description.index(name) for name in named] == sorted(
            description.index(name) for name in named
        )
        assert "and 2 more" in description
        assert alert.annotations["earliest_deadline"] == "2026-09-07T13:00:00Z"
        assert alert.generator_url == (
            f"{URL}/api/v1/slas/time-to-invoice-posting/timers?state=breached&legal_entity=LE-US01"
        )
        assert alert.annotations["timers_url"] == alert.generator_url

    def test_an_at_risk_group_holds_its_highest_threshold(self) -> None:
        """One member past 75 % makes the group's level 0.75."""
        alert = group_alert([at_risk(1, 0.5), at_risk(2, 0.75, crossed_hours=2)])
        assert alert.labels["severity"] == "warning"
        assert (alert.threshold, alert.annotations["threshold"]) == (0.75, "0.75")
        assert alert.crossed_at == T0 + timedelta(hours=2)


def reconciled(
    record: dict[str, Alert],
    wanted: list[Alert],
    hours: float,
    groups: TimerGroups[str] | None = None,
) -> tuple[dict[str, Alert], set[str]]:
    """``wanted`` reconciled with ``record`` as the evaluator does (``groups``: the groups that
    gave it, whose ends by breach it marks)."""
    record, changed = reconcile(record, wanted, now=T0 + timedelta(hours=hours))
    if groups is not None:
        mark_ended_by_breach(record, changed, groups.ended_by_breach)
    return record, changed


class TestTimerGroups:
    def test_nothing_changed_gives_the_same_alert_objects(self) -> None:
        """A tick with no timer change rebuilds no group (reconciling then passes over it)."""
        groups: TimerGroups[str] = TimerGroups()
        by_timer = {"a": member(1), "b": member(2, entity="LE-DE01")}
        first = groups.update(by_timer, None)
        assert groups.update(by_timer, ()) == first
        assert all(a is b for a, b in zip(groups.update(by_timer, ()), first, strict=True))
        moved = {**by_timer, "c": member(3, entity="LE-DE01")}
        after = groups.update(moved, {"c"})
        by_entity = {a.labels["legal_entity"]: a for a in after}
        (us,) = [a for a in first if a.labels["legal_entity"] == "LE-US01"]
        assert by_entity["LE-US01"] is us  # no changed timer left or joined it: not rebuilt
        assert by_entity["LE-DE01"].annotations["timers"] == "2"

    def test_membership_changes_are_not_escalations(self) -> None:
        """Timers joining and leaving a group change its annotations, never page again."""
        groups: TimerGroups[str] = TimerGroups()
        by_timer = {"a": member(1)}
        record, changed = reconciled({}, groups.update(by_timer, None), 1)
        (key,) = changed
        by_timer = {"a": member(1), "b": member(2, amount="50", crossed_hours=3)}
        record, changed = reconciled(record, groups.update(by_timer, {"b"}), 4)
        assert changed == set()
        assert record[key].annotations["timers"] == "2"
        assert record[key].starts_at == T0  # the first member's crossing stays the start
        delivered = {key: replace(record[key], annotations={"timers": "1"})}
        assert pending(record, delivered, now=T0 + timedelta(hours=4), grace=GRACE) == []

    def test_a_member_past_a_higher_threshold_escalates_the_group(self) -> None:
        """At risk 50 % → one member past 75 %: one escalation of the same group."""
        groups: TimerGroups[str] = TimerGroups()
        now = T0 + timedelta(hours=5)
        by_timer = {"a": at_risk(1, 0.5, crossed_hours=1), "b": at_risk(2, 0.5, crossed_hours=2)}
        record, changed = reconciled({}, groups.update(by_timer, None), 2)
        (key,) = changed
        delivered = dict(record)
        by_timer = {**by_timer, "b": at_risk(2, 0.75, crossed_hours=5)}
        record, changed = reconcile(record, groups.update(by_timer, {"b"}), now=now)
        assert changed == {key}
        (change,) = pending(record, delivered, now=now, grace=GRACE)
        assert (change.kind, change.stale, change.alert.threshold) == (ESCALATE, False, 0.75)

    def test_the_group_resolves_when_its_last_member_stops(self) -> None:
        """Two members stop one after the other: firing until the second, then resolved."""
        groups: TimerGroups[str] = TimerGroups()
        by_timer = {"a": member(1), "b": member(2)}
        record, changed = reconciled({}, groups.update(by_timer, None), 1)
        (key,) = changed
        record, changed = reconciled(record, groups.update({"b": member(2)}, {"a"}), 2)
        assert (changed, record[key].status, record[key].annotations["timers"]) == (
            set(),
            FIRING,
            "1",
        )
        record, changed = reconciled(record, groups.update({}, {"b"}), 3)
        assert changed == {key}
        assert (record[key].status, record[key].ends_at) == (RESOLVED, T0 + timedelta(hours=3))
        assert groups.update({}, ()) == []

    def test_an_at_risk_group_whose_timers_breached_is_superseded(self) -> None:
        """Its members breached: direct channels hear the breach, not a resolution beside it."""
        groups: TimerGroups[str] = TimerGroups()
        record, _ = reconciled({}, groups.update({"a": at_risk(1, 0.75)}, None), 1, groups)
        delivered = dict(record)
        update = groups.update({"a": member(1, crossed_hours=2)}, {"a"})
        record, _ = reconciled(record, update, 2, groups)
        changes = pending(record, delivered, now=T0 + timedelta(hours=2), grace=GRACE)
        assert sorted((c.kind, c.superseded) for c in changes) == [(FIRE, False), (RESOLVE, True)]

    def test_an_at_risk_group_whose_timers_were_met_ends_beside_a_firing_breach_group(
        self,
    ) -> None:
        """The same group's breached timers fire (told before); its at-risk timer is met: the
        at-risk group's end is told, where before any breach group of the same SLA, entity and
        owner silenced it."""
        groups: TimerGroups[str] = TimerGroups()
        both = {"a": at_risk(1, 0.75), "b": member(2)}
        record, _ = reconciled({}, groups.update(both, None), 1, groups)
        delivered = dict(record)
        record, _ = reconciled(record, groups.update({"b": member(2)}, {"a"}), 2, groups)
        changes = pending(record, delivered, now=T0 + timedelta(hours=2), grace=GRACE)
        assert [(c.kind, c.alert.name, c.superseded) for c in changes] == [
            (RESOLVE, AT_RISK_ALERT, False)
        ]
        assert change_message(changes[0])["text"].startswith(":large_green_circle:")

    def test_timers_that_breach_into_a_group_already_told_end_the_at_risk_group_aloud(
        self,
    ) -> None:
        """The breach group was told before, so it takes the breached timer in silently (only
        its count changes): the at-risk group's end is told, as a breach."""
        groups: TimerGroups[str] = TimerGroups()
        both = {"a": at_risk(1, 0.75), "b": member(2)}
        record, _ = reconciled({}, groups.update(both, None), 1, groups)
        delivered = dict(record)
        update = groups.update({"a": member(1, crossed_hours=2), "b": member(2)}, {"a"})
        record, _ = reconciled(record, update, 2, groups)
        (change,) = pending(record, delivered, now=T0 + timedelta(hours=2), grace=GRACE)
        assert (change.kind, change.alert.name, change.superseded) == (
            RESOLVE,
            AT_RISK_ALERT,
            False,
        )
        assert change_message(change)["text"].startswith(":red_circle:")
        assert "no longer at risk: breached" in change_message(change)["text"]

    def test_an_at_risk_group_left_by_one_breach_and_one_met_timer_ends_plainly(self) -> None:
        """Not every leaving timer breached: the end is not the breach's."""
        groups: TimerGroups[str] = TimerGroups()
        groups.update({"a": at_risk(1, 0.75), "b": at_risk(2, 0.75)}, None)
        groups.update({"a": member(1, crossed_hours=2)}, {"a", "b"})
        assert groups.ended_by_breach == set()

    def test_switching_back_to_each_the_timers_alerts_say_the_groups_end(self) -> None:
        """The group resolves as its timers' own alerts fire: direct channels skip the former."""
        groups: TimerGroups[str] = TimerGroups()
        record, _ = reconciled({}, groups.update({"a": member(1)}, None), 1)
        delivered = dict(record)
        record, _ = reconciled(record, [member(1, crossed_hours=2)], 2)
        changes = pending(record, delivered, now=T0 + timedelta(hours=2), grace=GRACE)
        assert sorted((c.kind, c.superseded, "cycle" in c.alert.labels) for c in changes) == [
            (FIRE, False, True),
            (RESOLVE, True, False),
        ]


class TestSlack:
    def test_a_group_is_one_message_with_its_count_and_link(self) -> None:
        """The headline counts the timers; the link opens the filtered timers list."""
        alert = group_alert([member(1), member(2, amount="5", currency="USD")])
        (fire,) = pending({alert.fingerprint: alert}, {}, now=T0, grace=GRACE)
        message = change_message(fire)
        assert message["text"] == ":red_circle: time-to-invoice-posting breached: 2 timers"
        text = str(message["blocks"])
        assert "100.00 EUR; 5.00 USD" in text
        assert "LE-US01" in text
        assert f"<{alert.generator_url}|Timers>" in text

    def test_a_digest_counts_the_timers_of_its_groups(self) -> None:
        """Three breached timers in a group and one alone: four timers in the headline."""
        grouped = group_alert([member(1), member(2), member(3)])
        alone = member(4, entity="LE-DE01")
        changes = pending(
            {grouped.fingerprint: grouped, alone.fingerprint: alone},
            {},
            now=T0 + timedelta(days=5),
            grace=GRACE,
        )
        assert digest_message(changes)["text"].startswith(
            ":card_index_dividers: 4 SLA timers were already past a threshold when first seen "
            "(4 breached, 0 at risk)"
        )
