"""The SLA evaluator of the service: every interval, if this process holds the evaluator lease, it
brings the timer state up to date (``slas.business_state``), turns the open timers at risk or breached
into alerts (one SQL read, ``slas.timer_answers``), adds the alerts of its other sources (close risk,
blocked money: ``slas.business_alerts``), records what changed and hands it to the
notifiers. Its cost follows what arrived since the last tick, not the history."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH
from slas.alert_groups import EACH, GROUPED, TimerGroups, mark_ended_by_breach
from slas.alert_store import RECORD, AlertStore
from slas.alerts import Alert, AlertSource, TimerAlertFacts, reconcile, timer_alert
from slas.business_state import RECORDED, BusinessState, DerivationStopped, TickReport
from slas.definitions import SlaDefinition
from slas.dispatch import Dispatcher
from slas.lease import Heartbeat, Lease
from slas.metrics import EvaluatorMetrics
from slas.timer_answers import AlertingRead, AlertingTimer, TimerAnswers, TimerKey
from warehouse.background import BackgroundLoop
from warehouse.compaction import QuietCompaction

logger = logging.getLogger(__name__)

KEEP_RESOLVED = timedelta(hours=24)
ALERTS_REFRESH = timedelta(hours=1)
"""How long the open timers' alerts are kept up to date by reading only the timers that changed
(``TimerAnswers.alerting_changes``) before every open timer is read again: a safety net, since
the changes cover every version written and every instant passed."""


@dataclass(frozen=True)
class TimerAlerts:
    """The open timers' alerts by timer, as of ``read.as_of`` and ``read.known_at``; every open
    timer was last read at ``full_at``. ``next_change`` (read on the first tick that wrote no
    version after it, ``checked``) says until when they hold without any read."""

    by_timer: dict[TimerKey, Alert]
    read: AlertingRead
    """Its instants and what it looked at, not the timers it found: their alerts hold what they
    say, and the list would hold every open timer a second time (dropped on construction)."""
    full_at: datetime
    next_change: datetime | None = None
    checked: bool = False

    def __post_init__(self) -> None:
        if self.read.timers:
            object.__setattr__(self, "read", replace(self.read, timers=[]))

    def fresh(self, now: datetime, refresh: timedelta) -> bool:
        """Whether reading what changed since brings them to ``now`` (else read every timer)."""
        return self.read.as_of <= now and now - self.full_at < refresh

    def hold(self, now: datetime) -> bool:
        return self.next_change is None or now < self.next_change


def open_timer_alert(timer: AlertingTimer, definition: SlaDefinition, *, public_url: str) -> Alert:
    """The alert of one alerting timer of ``definition``."""
    facts = TimerAlertFacts(
        sla=timer.sla,
        severity=definition.severity,
        owner=definition.owner,
        legal_entity=timer.legal_entity,
        object_type=timer.key_type,
        object_id=timer.key_id,
        start_event_id=timer.start_event_id,
        started_at=timer.started_at,
        deadline=timer.deadline,
        elapsed_hours=timer.elapsed_seconds / 3600,
        target_hours=timer.target_seconds / 3600,
        threshold=timer.threshold,
        crossed_at=timer.crossed_at,
        breached=timer.breached,
        amount=timer.amount,
        currency=timer.currency,
    )
    return timer_alert(facts, public_url=public_url)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SlaEvaluator:
    """Runs ``evaluate_once`` every ``interval`` on its own thread until ``stop``."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        state: BusinessState,
        answers: TimerAnswers,
        dispatcher: Dispatcher,
        store: AlertStore | None,
        *,
        interval: timedelta,
        public_url: str,
        lease: Lease | None = None,
        metrics: EvaluatorMetrics | None = None,
        sources: Sequence[AlertSource] = (),
        record: dict[str, Alert] | None = None,
        clock: Callable[[], datetime] = utc_now,
        knowledge_clock: Callable[[], datetime] = utc_now,
        alerts_refresh: timedelta = ALERTS_REFRESH,
        timer_alerts: str = EACH,
        compaction: QuietCompaction | None = None,
    ) -> None:
        self._client = client_factory
        self._compaction = compaction
        self._state = state
        self._answers = answers
        self._by_name: dict[str, SlaDefinition] = {d.name: d for d in answers.definitions}
        self._dispatcher = dispatcher
        self._sources = list(sources)
        self._store = store
        self._interval = interval
        self._public_url = public_url
        self._lease = lease
        self._clock = clock
        self._knowledge_clock = knowledge_clock
        self._record: dict[str, Alert] = dict(record or {})
        self._lock = threading.Lock()
        self._loop = BackgroundLoop("sla-evaluator", client_factory, self._evaluate_now)
        self.last_error: str | None = None
        self.last_tick: TickReport | None = None
        self.holds_lease = lease is None
        self.metrics = metrics or EvaluatorMetrics()
        self._heartbeat = (
            None
            if lease is None
            else Heartbeat(lease, knowledge_clock, self.metrics.heartbeat_failures.inc)
        )
        self.failures_in_a_row = 0
        self._reported_unresolved: set[str] = set()
        self._timer_alerts: TimerAlerts | None = None
        self._alerts_refresh = alerts_refresh
        self._groups: TimerGroups[TimerKey] | None = (
            TimerGroups() if timer_alerts == GROUPED else None
        )
        """The grouped timer alerts (``[notifications] timer_alerts = "grouped"``), else None."""
        self._versions_unread = False
        """A tick wrote versions that the held timer alerts have not read yet."""
        self._reached: datetime | None = None
        """The watermark the last tick reached; before this process's first tick ends, the one
        stored when it began (None before this process first held the lease)."""
        self.metrics.lag_seconds.set_function(self._lag_seconds)
        self._wanted: list[Alert] | None = None
        """What the last reconciliation was given (None: reconcile at the next tick)."""
        self._prune_at: datetime | None = None
        """The first end of a resolved alert in the record: until it is ``KEEP_RESOLVED`` old,
        a tick that changed nothing has nothing to drop (None: look at the next tick)."""

    def start(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.start()
        self._loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._state.stop_deriving()
        self._loop.stop(timeout)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._dispatcher.close()
        if self._loop.running():
            # a tick still writes: another process must not take the lease before it has ended
            logger.warning(
                "the SLA evaluator's tick outlived the stop; its lease expires by itself"
            )
        elif self._lease is not None and self.holds_lease:
            try:
                self._lease.release()
            except Exception:  # stopping: the lease then simply expires
                logger.exception("releasing the evaluator lease failed")

    def alerts(self) -> list[Alert]:
        """The current record: firing alerts and those resolved in the last day."""
        with self._lock:
            return list(self._record.values())

    def _evaluate_now(self) -> float:
        """One tick of the loop; the seconds until the next: what is left of the interval since
        this one began."""
        started = time.monotonic()
        behind = False
        try:
            report = self.evaluate_once(self._clock())
            behind = report is not None and report.capped
            self.last_error = None
            self.failures_in_a_row = 0
            outcome = "standby" if report is None else "paused" if report.skipped else "ok"
            self.metrics.ticks.labels(outcome).inc()
            self.metrics.last_success.set(time.time())
        except DerivationStopped as stopped:  # stopping: not a failure, and nothing is lost
            logger.info("SLA evaluation %s; the next start goes on from there", stopped)
            return self._interval.total_seconds()  # the loop's stop ends the wait
        except Exception as error:  # the loop outlives a bad tick; the reason is logged
            self.last_error = str(error)
            self.failures_in_a_row += 1
            self.metrics.errors.inc()
            self.metrics.ticks.labels("error").inc()
            logger.exception("SLA evaluation failed")
        took = time.monotonic() - started
        self.metrics.tick_seconds.observe(took)
        if behind:
            return 0.0  # the window was cut: the rest follows at once
        # ticks begin an interval apart (a deadline that passes waits at most about one interval
        # for the tick that alerts on it); after a tick longer than half of one, as long as it
        # took, so that evaluating keeps at most half a core busy, but never more than an
        # interval: a tick that long (a derivation from scratch after a changed config took
        # minutes at 10M spans) left the state that far behind, and waiting as long again
        # doubled the catching up
        interval = self._interval.total_seconds()
        return max(interval - took, min(took, interval))

    def _lag_seconds(self) -> float:
        """The watermark's age when asked, so that a tick running long shows as growing lag
        (0 until this process first evaluates; an empty state's age counts from then)."""
        if self._reached is None:
            return 0.0
        return max(0.0, (self._knowledge_clock() - self._reached).total_seconds())

    def _observe(self, report: TickReport) -> None:
        self.metrics.versions.inc(report.versions)
        self.metrics.objects.inc(report.touched)
        if report.path:
            self.metrics.paths.labels(report.path).inc()
        self._reached = report.until
        if not report.skipped:
            for key in RECORDED:
                self.metrics.recorders_behind.labels(key).set(key in report.recorders_behind)
        if report.unresolved:
            self.metrics.unresolved.inc(report.unresolved)
            new = [e for e in report.unresolved_sample if e not in self._reported_unresolved]
            if new and len(self._reported_unresolved) < 10_000:
                self._reported_unresolved.update(new)
                logger.warning(
                    "%d business event(s) stored without any object id but dimensions: no SLA "
                    "timer or close item can be keyed on them (e.g. %s)",
                    report.unresolved,
                    ", ".join(new),
                )

    def evaluate_once(self, now: datetime) -> TickReport | None:
        """If this process holds the lease: update the timer state, the alert record, notify."""
        if self._lease is not None:
            held = self._lease.hold(self._knowledge_clock())
            if held and not self.holds_lease and self._store is not None:
                # taking over: another process may have alerted since this one last did
                state = self._store.load(now=now, keep=KEEP_RESOLVED)
                with self._lock:
                    self._record = dict(state.get(RECORD, {}))
                    self._prune_at = None
                self._timer_alerts = None  # the other process may have written versions
                self._wanted = None
                logger.info("this process now evaluates SLAs (lease %s)", self._lease.holder)
            self.holds_lease = held
            self.metrics.lease_held.set(1 if held else 0)
            if not held:
                self.last_tick = None  # another process ticks: this one's last says nothing
                return None
        if self._heartbeat is None:
            return self._evaluate_held(now)
        with self._heartbeat.working():  # a long tick keeps the lease
            return self._evaluate_held(now)

    def _evaluate_held(self, now: datetime) -> TickReport:
        """The tick of the process that holds the lease (or needs none)."""
        if self._reached is None:
            # the first tick may be long (a derivation from scratch after a changed config, a
            # backlog): meanwhile the lag is the age of the state as stored, not zero
            stored = self._state.watermark()
            self._reached = stored if stored > EPOCH else self._knowledge_clock()
        report = self._state.tick(self._knowledge_clock())
        self.last_tick = report
        self._observe(report)
        if report.skipped:
            logger.info("SLA evaluation paused: %s", report.skipped)
            return report
        by_timer, changed_timers = self._open_timer_alerts(now, report)
        if self._groups is None:
            wanted = list(by_timer.values())
        else:  # one alert per group; a tick that changed no timer alert rebuilds none
            wanted = self._groups.update(by_timer, changed_timers)
        wanted += [alert for source in self._sources for alert in source.alerts(now)]
        with self._lock:
            # the open timers' alerts are held from tick to tick: only what changed is reconciled
            record, changed = reconcile(self._record, wanted, now=now, before=self._wanted)
            if self._groups is not None:
                mark_ended_by_breach(record, changed, self._groups.ended_by_breach)
            self._wanted = wanted
            cutoff = now - KEEP_RESOLVED
            if changed or self._prune_at is None or self._prune_at < cutoff:
                self._record = {
                    key: alert
                    for key, alert in record.items()
                    if alert.ends_at is None or alert.ends_at >= cutoff
                }
                ends = [a.ends_at for a in self._record.values() if a.ends_at is not None]
                self._prune_at = min(ends, default=now)
            else:  # no status or level changed, but annotations may have (a group's count)
                self._record = record
        if self._store is not None and changed:
            self._store.save(RECORD, [record[key] for key in changed], now=now)
        self._dispatcher.dispatch(self._record, now=now)
        self._dispatcher.forget_resolved_before(cutoff)
        if self._compaction is not None:  # the state went quiet: the answers' tables merged
            self._compaction.after_tick(
                self._client(), wrote=bool(report.versions or report.capped)
            )
        return report

    def _open_timer_alerts(
        self, now: datetime, report: TickReport
    ) -> tuple[dict[TimerKey, Alert], Collection[TimerKey] | None]:
        """The alerts of the open timers at risk or breached at ``now``, by timer, and which
        timers they may differ for since the last call (None: any). Held from tick to tick: a
        tick that wrote no version before the next instant a timer passes reads nothing; other
        ticks read only the timers that changed and keep the alert objects of the others, so that
        reconciling costs what changed. Every ``alerts_refresh`` every open timer is read again."""
        if report.versions:
            self._versions_unread = True
        held = self._timer_alerts
        if held is None or not held.fresh(now, self._alerts_refresh):
            read = self._answers.alerting_read(now)
            before = held.by_timer if held is not None else {}
            alerts = {t.key: self._alert(t, before.get(t.key)) for t in read.timers}
            self._timer_alerts = TimerAlerts(alerts, read, now)
            self._versions_unread = False
            return alerts, None
        if not self._versions_unread:
            if not held.checked:  # read once: a tick writing versions would not use it
                after = self._answers.next_change(held.read.as_of)
                held = self._timer_alerts = replace(held, next_change=after, checked=True)
            if held.hold(now):
                return held.by_timer, ()
        changes = self._answers.alerting_changes(now, held.read)
        alerts = held.by_timer
        changed: Collection[TimerKey] = changes.changed or ()
        if changed:  # a copy less what changed (a C-level copy, not a Python pass of every timer)
            alerts = dict(alerts)
            for key in changed:
                alerts.pop(key, None)
            alerts.update({t.key: self._alert(t, held.by_timer.get(t.key)) for t in changes.timers})
        self._timer_alerts = TimerAlerts(alerts, changes, held.full_at)
        self._versions_unread = False
        return alerts, changed

    def _alert(self, timer: AlertingTimer, held: Alert | None) -> Alert:
        """The timer's alert; ``held``, its alert so far, when that says the same (its labels,
        level and start; only the elapsed time in its annotations would differ), so that
        reconciling passes over it and its fingerprint is not worked out again."""
        alert = open_timer_alert(timer, self._by_name[timer.sla], public_url=self._public_url)
        if (
            held is not None
            and held.labels == alert.labels
            and (held.threshold, held.crossed_at, held.starts_at)
            == (alert.threshold, alert.crossed_at, alert.starts_at)
        ):
            return held
        return alert
