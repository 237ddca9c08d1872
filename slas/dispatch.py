"""Delivers alert changes to every channel: what each was told is recorded (and persisted), a
failing channel is retried with exponential back-off and never holds up the others; every
delivery is counted per channel and outcome (``slas.metrics.NotificationMetrics``).

A dispatch runs inside the evaluator's tick, so it is bounded in time: each channel may post for
its share of ``budget`` (after its first message, which always goes); what is left, the longest
due first, waits for the next dispatch. An Alertmanager that answers but slowly delays re-sends,
not the next tick (nor, past two intervals, the evaluator's lease). Only a re-send overdue by a
whole interval goes whatever the time spent: Alertmanager resolves an alert by itself four
intervals after its last push, and one that falls that far behind would resolve while it fires."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

import httpx

from slas.alert_store import AlertStore
from slas.alerts import FIRING, Alert, Change, pending
from slas.metrics import NotificationMetrics
from slas.notifiers import Channel

logger = logging.getLogger(__name__)

FIRST_BACKOFF = timedelta(seconds=5)
LONGEST_BACKOFF = timedelta(minutes=5)
BUDGET = timedelta(seconds=7.5)
"""The time one dispatch may spend posting, shared among the channels (the service gives half the
evaluation interval)."""


@dataclass
class _ChannelState:
    delivered: dict[str, Alert] = field(default_factory=dict)
    failures: int = 0
    retry_at: datetime | None = None
    due: dict[str, datetime] = field(default_factory=dict)
    """A resending channel's pushed firing alerts by fingerprint: when each is pushed again."""


def resend_share(fingerprint: str) -> float:
    """The share of the resend interval after which an alert first pushed is pushed again,
    between 0.5 and 1 and fixed per alert; then every interval. Tens of thousands of firing
    alerts pushed at once are re-sent spread over the interval, a slice each tick, not all in one
    tick every interval (which held the evaluator's loop, and the next breach, behind hundreds
    of POSTs)."""
    return 0.5 + (zlib.crc32(fingerprint.encode()) % 1024) / 2046


class Dispatcher:
    """Sends each channel what it has not been told; ``dispatch`` never raises for a channel."""

    def __init__(
        self,
        channels: Sequence[Channel],
        store: AlertStore | None,
        *,
        grace: timedelta,
        resend: timedelta,
        http: httpx.Client | None = None,
        delivered: Mapping[str, Mapping[str, Alert]] | None = None,
        metrics: NotificationMetrics | None = None,
        budget: timedelta = BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = list(channels)
        self._store = store
        self._grace = grace
        self._resend = resend
        self._share = budget.total_seconds() / max(len(self.channels), 1)
        self._clock = clock
        self._http = http or httpx.Client(timeout=10.0)
        self._state = {
            channel.name: _ChannelState(dict((delivered or {}).get(channel.name, {})))
            for channel in self.channels
        }
        self.metrics = metrics or NotificationMetrics()
        for channel in self.channels:
            self.metrics.channel(channel.name)

    def close(self) -> None:
        self._http.close()

    def dispatch(self, record: Mapping[str, Alert], *, now: datetime) -> None:
        """Bring every channel up to date with ``record`` (or schedule its retry)."""
        if not self.channels:
            return
        firing = [alert for alert in record.values() if alert.status == FIRING]
        for channel in self.channels:
            state = self._state[channel.name]
            if state.retry_at is not None and now < state.retry_at:
                continue
            if state.failures:
                self.metrics.deliveries.labels(channel.name, "retried").inc()
            try:
                self._deliver(channel, state, record, firing, now)
            except Exception as error:  # one failing channel must not stop the loop or the others
                state.failures += 1
                self.metrics.deliveries.labels(channel.name, "failed").inc()
                self.metrics.failing.labels(channel.name).set(state.failures)
                delay = min(FIRST_BACKOFF * 2 ** (state.failures - 1), LONGEST_BACKOFF)
                state.retry_at = now + delay
                logger.warning(
                    "notifier %s failed (%s); attempt %d, retrying in %ds",
                    channel.name,
                    error,
                    state.failures,
                    delay.total_seconds(),
                )
            else:
                state.failures, state.retry_at = 0, None
                self.metrics.failing.labels(channel.name).set(0)

    def _deliver(
        self,
        channel: Channel,
        state: _ChannelState,
        record: Mapping[str, Alert],
        firing: list[Alert],
        now: datetime,
    ) -> None:
        changes = pending(record, state.delivered, now=now, grace=self._grace)
        if not channel.resends_firing:
            # A superseded resolution (at risk → breached) is told by the breach message.
            self._record(channel, state, [c for c in changes if c.superseded], now)
            changes = [c for c in changes if not c.superseded]
        urgent: set[str] = set()
        if channel.resends_firing:
            told = {change.alert.fingerprint for change in changes}
            if len(state.due) > len(firing):  # some left the record unresolved here: forget them
                keep = {alert.fingerprint for alert in firing}
                state.due = {key: at for key, at in state.due.items() if key in keep}
            changed: list[Alert] = []
            ready: list[tuple[datetime, Alert]] = []
            for alert in firing:
                key = alert.fingerprint
                if key in told:
                    changed.append(alert)
                elif now >= (at := self._due(state, key, now)):
                    ready.append((at, alert))
            # the longest due first: what a dispatch out of time leaves is the latest due, so no
            # alert waits behind others dispatch after dispatch
            ready.sort(key=itemgetter(0))
            firing = changed + [alert for _, alert in ready]
            overdue = now - self._resend
            urgent = {alert.fingerprint for at, alert in ready if at <= overdue}
        elif not changes:
            return
        if not changes and not firing:
            return
        messages = channel.render(changes, firing if channel.resends_firing else [], now=now)
        began, deferred = self._clock(), 0
        for sent, message in enumerate(messages):
            if sent and self._clock() - began > self._share and urgent.isdisjoint(message.pushes):
                deferred += 1
                continue
            response = self._http.post(message.url, json=message.body)
            if response.status_code >= 300:
                raise RuntimeError(
                    f"POST {message.destination} answered {response.status_code}: {response.text[:200]}"
                )
            self._record(channel, state, message.covers, now)
            if channel.resends_firing:
                self._pushed(state, message.covers, message.pushes, now)
            self.metrics.deliveries.labels(channel.name, "sent").inc()
            self.metrics.alerts.labels(channel.name).inc(len(message.covers))
            self.metrics.last_success.labels(channel.name).set(time.time())
        if deferred:
            self.metrics.deliveries.labels(channel.name, "deferred").inc(deferred)
            logger.info(
                "notifier %s: %d of %d messages left for the next dispatch (%.1fs spent)",
                channel.name,
                deferred,
                len(messages),
                self._clock() - began,
            )

    def _due(self, state: _ChannelState, key: str, now: datetime) -> datetime:
        """When a firing alert that did not change is pushed again. One this process has not
        pushed was told before it began (a restart): it is pushed again within the next half
        interval, spread, not all in the first dispatch (which held the first tick for minutes)."""
        at = state.due.get(key)
        if at is None:
            at = state.due[key] = now + self._resend * (resend_share(key) - 0.5)
        return at

    def _pushed(
        self,
        state: _ChannelState,
        changes: Sequence[Change],
        pushed: Sequence[str],
        now: datetime,
    ) -> None:
        """When each alert just pushed (by fingerprint) is due again: a new one after its share of
        the interval; one that was due a whole interval after it was due (so the alerts stay
        spread), or, when that is less than half an interval away (it was pushed late: the
        dispatches fell behind), its share of the interval from now, so that alerts pushed late
        together are spread again rather than all due at one instant; one pushed before it was
        due (it changed) when it was due; a resolved alert is no longer."""
        due, resend = state.due, self._resend
        for change in changes:
            if change.alert.status != FIRING:
                due.pop(change.alert.fingerprint, None)
        soon = now + resend / 2
        for key in pushed:
            at = due.get(key)
            if at is None:
                due[key] = now + resend * resend_share(key)
            elif now >= at:
                following = at + resend
                due[key] = following if following >= soon else now + resend * resend_share(key)

    def _record(
        self, channel: Channel, state: _ChannelState, changes: Sequence[Change], now: datetime
    ) -> None:
        alerts = [change.alert for change in changes]
        for alert in alerts:
            state.delivered[alert.fingerprint] = alert
        if self._store is not None and alerts:
            self._store.save(channel.name, alerts, now=now)

    def delivered(self, channel: str) -> dict[str, Alert]:
        """What ``channel`` has been told (for tests and the alerts API)."""
        return dict(self._state[channel].delivered)

    def forget_resolved_before(self, cutoff: datetime) -> None:
        """Drop long-resolved alerts from memory (they stay in ClickHouse)."""
        for state in self._state.values():
            state.delivered = {
                key: alert
                for key, alert in state.delivered.items()
                if alert.status == FIRING or (alert.ends_at is not None and alert.ends_at >= cutoff)
            }
