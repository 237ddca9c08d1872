"""The SLA evaluator of the service: every interval it evaluates all SLAs at "now", turns at-risk
and breached open timers into alerts, records what changed and hands it to the notifiers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from clickhouse_connect.driver.client import Client

from slas.alerts import Alert, TimerAlertFacts, reconcile, timer_alert
from slas.business_time import from_epoch_seconds
from slas.dispatch import Dispatcher
from slas.evaluation import Evaluation, Evaluations
from slas.snapshot import object_type_name
from slas.state import RECORD, AlertStore
from slas.timers import AT_RISK, BREACHED
from warehouse.background import BackgroundLoop

logger = logging.getLogger(__name__)

KEEP_RESOLVED = timedelta(hours=24)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SlaEvaluator:
    """Runs ``evaluate_once`` every ``interval`` on its own thread until ``stop``."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        evaluations: Evaluations,
        dispatcher: Dispatcher,
        store: AlertStore | None,
        *,
        interval: timedelta,
        public_url: str,
        record: dict[str, Alert] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client_factory
        self._evaluations = evaluations
        self._dispatcher = dispatcher
        self._store = store
        self._interval = interval
        self._public_url = public_url
        self._clock = clock
        self._record: dict[str, Alert] = dict(record or {})
        self._lock = threading.Lock()
        self._loop = BackgroundLoop("sla-evaluator", client_factory, self._evaluate_now)
        self.last_error: str | None = None

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._loop.stop(timeout)
        self._dispatcher.close()

    def alerts(self) -> list[Alert]:
        """The current record: firing alerts and those resolved in the last day."""
        with self._lock:
            return list(self._record.values())

    def _evaluate_now(self) -> float:
        """One evaluation of the loop; the seconds until the next."""
        try:
            self.evaluate_once(self._clock())
            self.last_error = None
        except Exception as error:  # the loop outlives a bad evaluation; the reason is logged
            self.last_error = str(error)
            logger.exception("SLA evaluation failed")
        # never busier than half a core: a slow evaluation (a large quarter) waits as long
        return max(self._interval.total_seconds(), self._evaluations.last_live_seconds)

    def evaluate_once(self, now: datetime) -> Evaluation:
        """Evaluate at ``now``, update the alert record, notify every channel."""
        client = self._client()
        evaluation = self._evaluations.refresh_live(now)
        wanted = self.wanted_alerts(client, evaluation)
        with self._lock:
            record, changed = reconcile(self._record, wanted, now=now)
            cutoff = now - KEEP_RESOLVED
            self._record = {
                key: alert
                for key, alert in record.items()
                if alert.ends_at is None or alert.ends_at >= cutoff
            }
        if self._store is not None and changed:
            self._store.save(RECORD, [record[key] for key in changed], now=now)
        self._dispatcher.dispatch(self._record, now=now)
        self._dispatcher.forget_resolved_before(cutoff)
        return evaluation

    def wanted_alerts(self, client: Client, evaluation: Evaluation) -> list[Alert]:
        """An alert per open timer that is at risk or breached."""
        alerts = []
        for definition, evaluated in evaluation.timers.values():
            rows = np.flatnonzero(evaluated.is_open & np.isin(evaluated.state, [AT_RISK, BREACHED]))
            if not len(rows):
                continue
            timers = evaluated.timers
            ids = self._evaluations.ids
            types = [object_type_name(int(t)) for t in set(timers.key_type[rows].tolist())]
            keys = ids.object_ids(client, timers.key[rows].tolist(), types)
            events = ids.event_ids(client, timers.start_event[rows].tolist())
            for row in rows.tolist():
                object_type, object_id = keys[int(timers.key[row])]
                amount = float(timers.amount[row])
                facts = TimerAlertFacts(
                    sla=definition.name,
                    severity=definition.severity,
                    owner=definition.owner,
                    legal_entity=timers.entity_name(int(timers.legal_entity[row])),
                    object_type=object_type,
                    object_id=object_id,
                    start_event_id=events.get(int(timers.start_event[row]), ""),
                    started_at=from_epoch_seconds(int(timers.started_us[row]) / 1e6),
                    deadline=from_epoch_seconds(float(evaluated.deadline[row])),
                    elapsed_hours=float(evaluated.elapsed_seconds[row]) / 3600,
                    target_hours=float(evaluated.target_seconds[row]) / 3600,
                    threshold=float(evaluated.threshold[row]),
                    crossed_at=from_epoch_seconds(float(evaluated.crossed_at[row])),
                    breached=int(evaluated.state[row]) == BREACHED,
                    amount=None if np.isnan(amount) else amount,
                    currency=str(timers.currency[row]),
                )
                alerts.append(timer_alert(facts, public_url=self._public_url))
        return alerts
