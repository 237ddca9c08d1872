"""Grouped timer alerts (``[notifications] timer_alerts = "grouped"``, pure): one alert per
(alert name, SLA, legal entity, severity, owner) in place of one per open timer, so that tens of
thousands of breached timers are a handful of alerts to hold, re-send and ingest. ``TimerGroups``
keeps the groups from evaluation to evaluation and rebuilds only those whose members changed."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Final, Generic, TypeVar
from urllib.parse import quote

from domain.money import money_text
from slas.alerts import (
    AT_RISK_ALERT,
    BREACHED_ALERT,
    ENDED_BY,
    ENDED_BY_BREACH,
    GROUP_LABELS,
    RESOLVED,
    Alert,
    GroupKey,
    TimerAlertFacts,
    group_of,
    is_group,
    iso,
)

EACH: Final = "each"
GROUPED: Final = "grouped"
TIMER_ALERT_MODES: Final = (EACH, GROUPED)
"""``[notifications] timer_alerts``: one alert per timer (the default), or per group."""
OLDEST_NAMED: Final = 5
"""How many of a group's timers its description names, the earliest deadlines first."""
UNKNOWN_ENTITY: Final = "unknown"
"""The ``legal_entity`` label of a timer without one (``slas.alerts.timer_alert``)."""

Timer = TypeVar("Timer", bound=Hashable)
_ALERT_NAME: Final = GROUP_LABELS.index("alertname")
"""Where a ``GroupKey`` holds its alerts' name."""


def _facts(alert: Alert) -> TimerAlertFacts:
    if alert.timer is None:
        raise ValueError(f"alert {alert.labels} was not built from a timer: it cannot be grouped")
    return alert.timer


def group_alert(members: Sequence[Alert]) -> Alert:
    """The one alert of ``members``, timer alerts of one group (at least one).

    It starts at the earliest member's crossing and holds the highest member's threshold; it was
    last crossed when the latest member at that threshold crossed it (what makes it news for a
    direct channel: ``slas.alerts.pending``). Amounts are summed per currency.
    """
    first = members[0]
    labels = {name: first.labels[name] for name in GROUP_LABELS}
    facts = [_facts(member) for member in members]
    breached = labels["alertname"] == BREACHED_ALERT
    threshold = max(member.threshold for member in members)
    crossed = max(m.crossed_at or m.starts_at for m in members if m.threshold == threshold)
    starts = min(member.starts_at for member in members)
    oldest = heapq.nsmallest(
        OLDEST_NAMED, facts, key=lambda f: (f.deadline, f.object_type, f.object_id)
    )
    sums: dict[str, Decimal] = {}
    for fact in facts:
        if fact.amount is not None:
            sums[fact.currency] = sums.get(fact.currency, Decimal(0)) + fact.amount
    amounts = "; ".join(
        f"{money_text(total)} {currency}".strip() for currency, total in sorted(sums.items())
    )
    count = len(members)
    timers = f"{count} timer{'s' if count != 1 else ''}"
    what = "breached" if breached else f"at risk (up to {threshold:.0%} of the target)"
    sla, entity, owner = labels["sla"], labels["legal_entity"], labels["owner"]
    named = ", ".join(f"{f.object_type} {f.object_id} (deadline {iso(f.deadline)})" for f in oldest)
    more = f" and {count - len(oldest)} more" if count > len(oldest) else ""
    description = (
        f"{timers} of {sla} {what} in {entity}, owner {owner}. "
        f"The earliest deadlines: {named}{more}." + (f" Amounts: {amounts}." if amounts else "")
    )
    url = first.generator_url
    if entity != UNKNOWN_ENTITY:
        url += f"&legal_entity={quote(entity, safe='')}"
    return Alert(
        labels=labels,
        annotations={
            "summary": f"{timers} of {sla} {'breached' if breached else 'at risk'} in {entity}, "
            f"owner {owner}",
            "description": description,
            "timers": str(count),
            "threshold": "1" if breached else f"{threshold:g}",
            "earliest_deadline": iso(oldest[0].deadline),
            "amounts": amounts,
            "timers_url": url,
        },
        starts_at=starts,
        threshold=1.0 if breached else threshold,
        crossed_at=crossed,
        generator_url=url,
    )


class TimerGroups(Generic[Timer]):
    """The grouped alerts of the open timers' alerts, kept from evaluation to evaluation.

    ``update`` takes the timer alerts by timer and which timers changed since the last call; it
    rebuilds only the groups a changed timer left or joined, and when none did, it returns the
    very alert objects of the last call (``slas.alerts.reconcile`` then passes over them).
    """

    def __init__(self) -> None:
        self._members: dict[GroupKey, dict[Timer, Alert]] = {}
        self._group: dict[Timer, GroupKey] = {}
        self._alerts: dict[GroupKey, Alert] = {}
        self.ended_by_breach: set[GroupKey] = set()
        """The at-risk groups the last ``update`` emptied whose leaving timers all breached:
        their end is told by the breach (``mark_ended_by_breach``)."""

    def update(
        self, by_timer: Mapping[Timer, Alert], changed: Collection[Timer] | None
    ) -> list[Alert]:
        """The group alerts of ``by_timer``; ``changed``: the timers whose alerts may differ from
        the last call's (None: any, as after a read of every timer)."""
        left = _Departures(
            self._group, by_timer, self._group.keys() if changed is None else changed
        )
        if changed is None:
            self._members, self._group = {}, {}
            changed = by_timer.keys()
            dirty = set(self._alerts)
            self._alerts = {}
        else:
            dirty = set()
        for timer in changed:
            alert = by_timer.get(timer)
            group = self._group.get(timer)
            if group is not None:
                if self._members[group].get(timer) is alert:
                    continue  # the same alert object: nothing about this timer changed
                del self._members[group][timer]
                del self._group[timer]
                dirty.add(group)
            if alert is not None:
                group = group_of(alert)
                self._members.setdefault(group, {})[timer] = alert
                self._group[timer] = group
                dirty.add(group)
        self.ended_by_breach = set()
        for group in dirty:
            members = self._members.get(group)
            if members:
                self._alerts[group] = group_alert(list(members.values()))
            else:
                self._members.pop(group, None)
                self._alerts.pop(group, None)
                if left.all_breached(group):
                    self.ended_by_breach.add(group)
        return list(self._alerts.values())


class _Departures(Generic[Timer]):
    """Which groups timers leave in one ``TimerGroups.update``, and whether to breach."""

    def __init__(
        self,
        was: Mapping[Timer, GroupKey],
        by_timer: Mapping[Timer, Alert],
        timers: Collection[Timer],
    ) -> None:
        self._breached: set[GroupKey] = set()
        self._otherwise: set[GroupKey] = set()
        for timer in timers:
            group = was.get(timer)
            if group is None or group[_ALERT_NAME] != AT_RISK_ALERT:
                continue
            alert = by_timer.get(timer)
            if alert is not None and group_of(alert) == group:
                continue
            breached = alert is not None and alert.name == BREACHED_ALERT
            (self._breached if breached else self._otherwise).add(group)

    def all_breached(self, group: GroupKey) -> bool:
        return group in self._breached and group not in self._otherwise


def mark_ended_by_breach(
    record: dict[str, Alert], changed: Collection[str], ended: Collection[GroupKey]
) -> None:
    """Say on each at-risk group alert that resolved in ``changed`` because its last timers
    breached (``TimerGroups.ended_by_breach``) that the breach ended it: direct channels then
    tell the breach, not an end beside it (``slas.alerts.pending``). An at-risk group whose
    timers were met, or left it otherwise, ends plainly."""
    if not ended:
        return
    for key in changed:
        alert = record.get(key)
        if (
            alert is not None
            and alert.status == RESOLVED
            and is_group(alert)
            and group_of(alert) in ended
        ):
            record[key] = replace(
                alert, annotations={**alert.annotations, ENDED_BY: ENDED_BY_BREACH}
            )
