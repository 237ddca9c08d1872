"""Alerts from SLA timers, and what changed since the last evaluation (pure).

An open timer past a warning threshold is an ``SlaAtRisk`` alert, an open timer past its deadline
an ``SlaBreached`` alert. Labels identify the timer (they are Alertmanager's identity); whatever
moves between evaluations (elapsed time, amounts) goes in annotations. ``reconcile`` compares the
alerts an evaluation wants with the recorded ones: new alerts fire, a higher threshold escalates,
an alert no longer wanted resolves. ``pending`` says what one channel has not been told yet; a
change whose threshold was crossed before the grace period (backfill, late data, a restart after
downtime) is ``stale``, and direct channels send those as one digest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, Protocol

from domain.money import money_text

# Alert names (Alertmanager's alertname); the timer states of the same words are slas.timers' codes.
AT_RISK_ALERT: Final = "SlaAtRisk"
BREACHED_ALERT: Final = "SlaBreached"
TIMER_ALERTS: Final = (AT_RISK_ALERT, BREACHED_ALERT)
GROUP_LABELS: Final = ("alertname", "sla", "legal_entity", "severity", "owner")
"""The labels a grouped timer alert keeps (``slas.alert_groups``): its group."""
ENDED_BY: Final = "ended_by"
"""The annotation a resolved at-risk group alert carries when its last timers breached."""
ENDED_BY_BREACH: Final = "breach"
GroupKey = tuple[str, ...]
FIRING: Final = "firing"
RESOLVED: Final = "resolved"
FIRE, ESCALATE, RESOLVE = "fire", "escalate", "resolve"
_FNV_OFFSET: Final = 14695981039346656037
_FNV_PRIME: Final = 1099511628211
_SEPARATOR: Final = 0xFF
FINGERPRINTS_KEPT: Final = 1 << 12


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted names and values."""
    return _fingerprint(tuple(sorted(labels.items())))


@lru_cache(maxsize=FINGERPRINTS_KEPT)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    """The FNV-1a of ``fingerprint``, byte by byte in Python: remembered for the label sets that
    come back as new alert objects every tick (the business alerts, the timer groups). An open
    timer's alert is held from tick to tick and keeps its own (``Alert.fingerprint``), which its
    copies carry (``Alert.replaced``): a cache the size of the open timers would hold some 700
    bytes of label tuples per timer for nothing."""
    value = _FNV_OFFSET
    for pair in items:
        for text in pair:
            for byte in text.encode():
                value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            value = ((value ^ _SEPARATOR) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. ``threshold`` is the share of the target passed (1.0 for a breach);
    ``crossed_at`` when it was passed; ``ends_at`` is None while firing.

    Slotted: the evaluator holds every open timer's alert from tick to tick (85,862 at the large
    quarter), so each one's size counts; a timer alert's annotations are ``TimerAnnotations``,
    spelt from its facts when read."""

    labels: dict[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    status: str = FIRING
    ends_at: datetime | None = None
    threshold: float = 1.0
    crossed_at: datetime | None = None
    generator_url: str = ""
    timer: TimerAlertFacts | None = field(default=None, compare=False, repr=False)
    """What a timer's alert was built from (None for other alerts and those read back from the
    store): grouped timer alerts (``slas.alert_groups``) are worked out from it."""
    _fingerprint: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """Worked out once per alert object (the evaluator holds the open timers' alerts from tick
        to tick; the label sets outnumber any cache of them at a quarter's scale)."""
        known = self._fingerprint
        if known is None:
            known = fingerprint(self.labels)
            object.__setattr__(self, "_fingerprint", known)
        return known

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def cycle(self) -> tuple[str, str]:
        """The timer the alert belongs to: (SLA, start event); for a grouped timer alert, which
        has no timer, its group's (SLA, legal entity and owner)."""
        labels = self.labels
        if "cycle" in labels:
            return labels.get("sla", ""), labels["cycle"]
        return labels.get("sla", ""), f"{labels.get('legal_entity', '')}\n{labels.get('owner', '')}"

    def resolved(self, at: datetime) -> Alert:
        return self.replaced(status=RESOLVED, ends_at=at)

    def replaced(self, **changes: Any) -> Alert:
        """``dataclasses.replace``, keeping the fingerprint worked out so far when the labels stay."""
        copy = replace(self, **changes)
        if "labels" not in changes and self._fingerprint is not None:
            object.__setattr__(copy, "_fingerprint", self._fingerprint)
        return copy


@dataclass(frozen=True)
class Change:
    """One alert that must be told: ``kind`` fire / escalate / resolve.

    ``superseded``: an at-risk alert resolving because its timer breached in the same evaluation
    (the breach says it; direct channels skip it); for grouped timer alerts, an at-risk group
    resolving while its breached group fires; and a timer alert resolving while an alert of the
    other form (``[notifications] timer_alerts`` switched) fires for its group.
    """

    kind: str
    alert: Alert
    stale: bool = False
    superseded: bool = False


class AlertSource(Protocol):
    """Alerts beside the SLA timers' that the evaluator reconciles and dispatches the same way."""

    def alerts(self, now: datetime) -> list[Alert]:
        """Every alert that should fire at ``now``; one missing from the list resolves."""
        ...


@dataclass(frozen=True, slots=True)
class TimerAlertFacts:
    """What the alert builder needs to know about one alerting timer."""

    sla: str
    severity: str
    owner: str
    legal_entity: str
    object_type: str
    object_id: str
    start_event_id: str
    started_at: datetime
    deadline: datetime
    elapsed_hours: float
    target_hours: float
    threshold: float
    crossed_at: datetime
    breached: bool
    amount: Decimal | None
    currency: str


def timer_alert(facts: TimerAlertFacts, *, public_url: str) -> Alert:
    """The alert of one at-risk or breached open timer."""
    name = BREACHED_ALERT if facts.breached else AT_RISK_ALERT
    labels = {
        "alertname": name,
        "sla": facts.sla,
        "legal_entity": facts.legal_entity or "unknown",
        "severity": facts.severity if facts.breached else "warning",
        "owner": facts.owner or "unassigned",
        "object_type": facts.object_type,
        "object_id": facts.object_id,
        "cycle": facts.start_event_id,
    }
    return Alert(
        labels=labels,
        annotations=TimerAnnotations(facts, public_url),
        starts_at=_to_milliseconds(facts.crossed_at),
        threshold=1.0 if facts.breached else facts.threshold,
        crossed_at=facts.crossed_at,
        generator_url=_timers_url(public_url, facts.sla, facts.breached),
        timer=facts,
    )


def _to_milliseconds(instant: datetime) -> datetime:
    """A timer alert starts when its threshold was crossed, to the millisecond: the precision its
    record keeps (``sla_alert_state.StartsAt``), so that the start read back after a restart is
    the start it had, and the record holds the evaluator's alert itself rather than a copy."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


@lru_cache(maxsize=1024)
def _timers_url(public_url: str, sla: str, breached: bool) -> str:
    """The generator URL of a timer alert: one string per SLA and state, shared by its alerts."""
    state = "breached" if breached else "at_risk"
    return f"{public_url}/api/v1/slas/{sla}/timers?state={state}"


class TimerAnnotations(Mapping[str, str]):
    """A timer alert's annotations, spelt from its facts whenever they are read and never kept:
    the evaluator holds every open timer's alert between ticks, and the eleven strings of each
    one's annotations were most of its memory (about 1.2 KB a timer), while they are read only
    when the alert is told, stored or listed. Equal to the dict it spells."""

    __slots__ = ("_facts", "_public_url")

    def __init__(self, facts: TimerAlertFacts, public_url: str) -> None:
        self._facts = facts
        self._public_url = public_url

    def spelt(self) -> dict[str, str]:
        """The annotations as a dict (what a JSON body or a stored row takes)."""
        facts = self._facts
        percent = 100 * facts.elapsed_hours / facts.target_hours if facts.target_hours else 0.0
        amount = "" if facts.amount is None else money_text(facts.amount)
        what = "breached" if facts.breached else f"past {facts.threshold:.0%} of its target"
        lineage = f"{self._public_url}/api/v1/lineage/{facts.object_type}/{facts.object_id}"
        deadline = _iso(facts.deadline)
        return {
            "summary": f"{facts.sla} {what}: {facts.object_type} {facts.object_id}",
            "description": (
                f"{facts.object_type} {facts.object_id} ({facts.legal_entity or 'unknown entity'}) "
                f"has run {facts.elapsed_hours:.1f} of {facts.target_hours:g} business hours "
                f"({percent:.0f} %); deadline {deadline}."
            ),
            "elapsed_business_hours": f"{facts.elapsed_hours:.2f}",
            "target_business_hours": f"{facts.target_hours:g}",
            "percent_elapsed": f"{percent:.0f}",
            "threshold": "1" if facts.breached else f"{facts.threshold:g}",
            "started_at": _iso(facts.started_at),
            "deadline": deadline,
            "amount": amount,
            "currency": facts.currency,
            "lineage_url": lineage,
        }

    def __getitem__(self, name: str) -> str:
        return self.spelt()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.spelt())

    def __len__(self) -> int:
        return len(self.spelt())

    def __repr__(self) -> str:
        return repr(self.spelt())


def annotations_of(alert: Alert) -> dict[str, str]:
    """An alert's annotations as a plain dict, for JSON and stored rows."""
    notes = alert.annotations
    return notes.spelt() if isinstance(notes, TimerAnnotations) else dict(notes)


def reconcile(
    recorded: Mapping[str, Alert],
    wanted: Sequence[Alert],
    *,
    now: datetime,
    before: Sequence[Alert] | None = None,
) -> tuple[dict[str, Alert], set[str]]:
    """The alert record after an evaluation, and the fingerprints whose status or level changed.

    A wanted alert that already fires keeps its start and its highest threshold; a recorded
    firing alert that is no longer wanted resolves now (its timer stopped or moved on).

    ``before``: the alerts the last reconciliation that gave ``recorded`` was handed. Only the
    wanted alert objects that are not among them are then reconciled, and only theirs that are
    no longer wanted can resolve: the same record as reconciling everything (every firing alert
    of ``recorded`` is one of ``before``'s, and each of ``before``'s was reconciled into it),
    at the cost of what changed rather than of every open timer.
    """
    changed: set[str] = set()
    if before is None:
        fresh: Sequence[Alert] = wanted
        gone = list(recorded)
    else:
        held = {id(alert) for alert in before}
        kept = {id(alert) for alert in wanted}
        fresh = [alert for alert in wanted if id(alert) not in held]
        gone = [alert.fingerprint for alert in before if id(alert) not in kept]
        if not fresh and not gone:  # the record stands as it is
            return dict(recorded) if not isinstance(recorded, dict) else recorded, changed
    result = dict(recorded)
    for alert in fresh:
        key = alert.fingerprint
        before_alert = recorded.get(key)
        if before_alert is not None and before_alert.status == FIRING:
            threshold = max(alert.threshold, before_alert.threshold)
            if threshold > before_alert.threshold:
                changed.add(key)
            if (alert.starts_at, alert.threshold) == (before_alert.starts_at, threshold):
                result[key] = alert  # the record holds the wanted alert itself, not a copy
            else:
                result[key] = alert.replaced(starts_at=before_alert.starts_at, threshold=threshold)
        else:
            result[key] = alert
            changed.add(key)
    if gone:
        wanted_prints = {alert.fingerprint for alert in wanted}
        for key in gone:
            if key in wanted_prints or key not in recorded:
                continue
            if recorded[key].status == FIRING:
                result[key] = recorded[key].resolved(now)
                changed.add(key)
    return result, changed


def pending(
    record: Mapping[str, Alert],
    delivered: Mapping[str, Alert],
    *,
    now: datetime,
    grace: timedelta,
) -> list[Change]:
    """What a channel has not been told yet, given what it was told (``delivered``).

    A resolution is owed only for an alert the channel saw firing. A change whose threshold was
    crossed before ``now - grace`` is stale (backfill or late data).
    """
    breached_cycles = {a.cycle for a in record.values() if a.name == BREACHED_ALERT}
    covered: set[tuple[bool, tuple[str, ...]]] | None = None
    changes: list[Change] = []
    ended_by_breach: list[int] = []
    for key, alert in record.items():
        told = delivered.get(key)
        stale = alert.crossed_at is not None and alert.crossed_at < now - grace
        if alert.status == FIRING:
            if told is None or told.status == RESOLVED:
                changes.append(Change(FIRE, alert, stale=stale))
            elif alert.threshold > told.threshold:
                changes.append(Change(ESCALATE, alert, stale=stale))
        elif told is not None and told.status == FIRING:
            grouped = is_group(alert)
            superseded = (
                not grouped and alert.name == AT_RISK_ALERT and alert.cycle in breached_cycles
            )
            if grouped and alert.annotations.get(ENDED_BY) == ENDED_BY_BREACH:
                ended_by_breach.append(len(changes))  # superseded if the breach is told now
            elif not superseded and alert.name in TIMER_ALERTS:
                if covered is None:  # only once a timer alert resolves: a pass over the record
                    covered = {
                        (is_group(a), group_of(a)) for a in record.values() if a.status == FIRING
                    }
                superseded = (not grouped, group_of(alert)) in covered
            changes.append(Change(RESOLVE, alert, superseded=superseded))
    if ended_by_breach:
        # an at-risk group whose timers breached: its breach group's first message tells it; a
        # breach group already told takes them in silently, so the end is told (as a breach)
        fired = {
            c.alert.cycle for c in changes if c.kind == FIRE and c.alert.name == BREACHED_ALERT
        }
        for index in ended_by_breach:
            if changes[index].alert.cycle in fired:
                changes[index] = replace(changes[index], superseded=True)
    return changes


def is_group(alert: Alert) -> bool:
    """Whether a timer alert is a group's (``slas.alert_groups``): it names no timer cycle."""
    return "cycle" not in alert.labels


def group_of(alert: Alert) -> GroupKey:
    """The group a timer alert belongs to, or is: its values of ``GROUP_LABELS``."""
    return tuple(alert.labels.get(name, "") for name in GROUP_LABELS)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso(instant: datetime | None) -> str:
    """RFC 3339 UTC with ``Z``; Alertmanager's zero time for None."""
    return "0001-01-01T00:00:00Z" if instant is None else _iso(instant)
