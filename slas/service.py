"""The SLA feature inside ``syncsight serve``: its API router, and the evaluator thread with its
notifiers, built from the settings and the config file (settings win over the file)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from fastapi import APIRouter

from lineage.models import StreamSilenceOut
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.alert_store import RECORD, AlertStore
from slas.alerts import Alert
from slas.api import silence_out, slas_router
from slas.business_alerts import BusinessAlerts
from slas.business_state import BusinessState
from slas.close_state import CloseRiskAnswers
from slas.config import OwnerChannels, SlaConfig
from slas.dispatch import Dispatcher
from slas.evaluator import KEEP_RESOLVED, SlaEvaluator, utc_now
from slas.impact_answers import BlockedInvoiceAnswers
from slas.lease import Lease
from slas.metrics import EvaluatorMetrics
from slas.notifiers import Channel
from slas.notifiers.alertmanager import AlertmanagerChannel
from slas.notifiers.owned import OwnedChannel
from slas.notifiers.slack import SlackChannel
from slas.notifiers.webhook import WebhookChannel
from slas.objective_answers import BudgetBurnAlerts, ObjectiveAnswers
from slas.telemetry import TelemetrySilence
from slas.timer_answers import TimerAnswers
from slas.work_item_metrics import WorkItemCounts
from slas.work_items_api import work_items_router
from slas.work_queue import WorkQueue
from warehouse.compaction import QuietCompaction
from warehouse.pool import ClientPool
from warehouse.schema import Topology

logger = logging.getLogger(__name__)

BUSINESS_ALERTS_EVERY_TICKS = 4
"""Close risk, blocked money and error budgets are worked out afresh every fourth evaluation (a
minute with the default 15 s interval): unlike the timers they read every item due, not what
arrived."""


class SlaService:
    """Router now; ``start`` (after migrations) loads the alert state and starts evaluating."""

    def __init__(
        self,
        pool: ClientPool,
        config: SlaConfig,
        rules: LineageRules,
        owners: OwnerRouting,
        *,
        interval_seconds: float,
        public_url: str,
        alertmanager_url: str = "",
        webhook_url: str = "",
        slack_webhook_url: str = "",
        evaluate: bool = True,
        settle_seconds: float = 5.0,
        read_pool: ClientPool | None = None,
        topology: Topology | None = None,
    ) -> None:
        notifications = config.notifications
        self._topology = topology or Topology()
        self._pool = pool
        self._config = config
        self._interval = timedelta(seconds=interval_seconds)
        self._resend = timedelta(seconds=notifications.resend_seconds)
        self._public_url = (public_url or notifications.public_url).rstrip("/")
        self.channels = _channels(
            alertmanager_url or notifications.alertmanager_url,
            webhook_url or notifications.webhook_url,
            slack_webhook_url or notifications.slack_webhook_url,
            public_url=self._public_url,
            resend=self._resend,
        ) + _owner_channels(notifications.owners, public_url=self._public_url)
        self.calendars = config.calendar_book()
        self.business_state = BusinessState(
            pool.client,
            config.definitions,
            self.calendars,
            rules=rules,
            settle=timedelta(seconds=settle_seconds),
        )
        self.answers = TimerAnswers(
            pool.client, config.definitions, self.calendars, self.business_state
        )
        self.business_alerts = BusinessAlerts(
            CloseRiskAnswers(pool.client, self.calendars, self.business_state),
            BlockedInvoiceAnswers(pool.client, rules, owners, self.business_state),
            config.alerts,
            owners,
            public_url=self._public_url,
            every=BUSINESS_ALERTS_EVERY_TICKS * self._interval,
        )
        self.budget_burn = BudgetBurnAlerts(
            ObjectiveAnswers(
                pool.client,
                config.definitions,
                self.calendars,
                self.business_state,
                config.objectives,
            ),
            public_url=self._public_url,
            every=BUSINESS_ALERTS_EVERY_TICKS * self._interval,
        )
        self.silence = TelemetrySilence(
            pool.client,
            self.calendars.default,
            config.silence,
            public_url=self._public_url,
            owners=owners,
        )
        # the API's answers run under the read limits of ``read_pool``; the evaluator's do not
        reads = (read_pool or pool).client
        self.silence_answers = TelemetrySilence(reads, self.calendars.default, config.silence)
        self._evaluate = evaluate
        self.metrics = EvaluatorMetrics()
        self.evaluator: SlaEvaluator | None = None
        self.dispatcher: Dispatcher | None = None
        self.router: APIRouter = slas_router(
            TimerAnswers(reads, config.definitions, self.calendars, self.business_state),
            CloseRiskAnswers(reads, self.calendars, self.business_state),
            BlockedInvoiceAnswers(reads, rules, owners, self.business_state),
            alerts=self._alerts,
            delivered=self._delivered,
            silence=self.silence_answers,
            objectives=ObjectiveAnswers(
                reads, config.definitions, self.calendars, self.business_state, config.objectives
            ),
        )
        # the open set is read under the API's limits; actions are written through ``pool``
        self.work_queue = WorkQueue(
            pool.client,
            BlockedInvoiceAnswers(reads, rules, owners, self.business_state),
            TimerAnswers(reads, config.definitions, self.calendars, self.business_state),
            self.calendars,
            sla_owners={d.name: d.owner for d in config.definitions},
            default_owner=owners.default,
        )
        self.router.include_router(work_items_router(self.work_queue, utc_now))
        self.metrics.registry.register(WorkItemCounts(self.work_queue, utc_now))

    def start(self) -> None:
        if not self._evaluate:
            logger.info("SLA evaluator off in this process (SYNCSIGHT_EVALUATOR=off)")
            return
        store = AlertStore(self._pool.client)
        state = store.load(now=utc_now(), keep=KEEP_RESOLVED)
        self.dispatcher = Dispatcher(
            self.channels,
            store,
            grace=max(4 * self._interval, timedelta(seconds=60)),
            resend=self._resend,
            delivered=state,
            metrics=self.metrics.notifications,
            budget=self._interval / 2,
        )
        self.evaluator = SlaEvaluator(
            self._pool.client,
            self.business_state,
            self.answers,
            self.dispatcher,
            store,
            interval=self._interval,
            public_url=self._public_url,
            lease=Lease(self._pool.client, ttl=2 * self._interval),
            metrics=self.metrics,
            sources=[self.business_alerts, self.silence, self.budget_burn],
            record=state.get(RECORD, {}),
            timer_alerts=self._config.notifications.timer_alerts,
            compaction=QuietCompaction(self._topology),
        )
        self.evaluator.start()
        logger.info(
            "SLA evaluator: %d SLAs every %gs, timer alerts %s; notifiers: %s",
            len(self._config.definitions),
            self._interval.total_seconds(),
            self._config.notifications.timer_alerts,
            ", ".join(c.name for c in self.channels) or "none",
        )

    def stop(self) -> None:
        if self.evaluator is not None:
            self.evaluator.stop()

    def missing_evidence(self, now: datetime) -> list[StreamSilenceOut]:
        """The telemetry streams silent beyond their limit at ``now`` (for completeness)."""
        return [silence_out(s) for s in self.silence_answers.streams(now) if s.missing]

    def _alerts(self) -> list[Alert]:
        return self.evaluator.alerts() if self.evaluator else []

    def _delivered(self) -> dict[str, dict[str, Alert]]:
        if self.dispatcher is None:
            return {}
        return {c.name: self.dispatcher.delivered(c.name) for c in self.channels}


def _channels(
    alertmanager_url: str,
    webhook_url: str,
    slack_webhook_url: str,
    *,
    public_url: str,
    resend: timedelta,
) -> list[Channel]:
    channels: list[Channel] = []
    if alertmanager_url:
        channels.append(AlertmanagerChannel(alertmanager_url.rstrip("/"), resend=resend))
    if webhook_url:
        channels.append(WebhookChannel(webhook_url, external_url=public_url))
    if slack_webhook_url:
        channels.append(SlackChannel(slack_webhook_url))
    return channels


def _owner_channels(owners: Mapping[str, OwnerChannels], *, public_url: str) -> list[Channel]:
    """Each team's own webhook and Slack channel, hearing only alerts labelled with the team."""
    channels: list[Channel] = []
    for owner, routes in sorted(owners.items()):
        if routes.webhook_url:
            channels.append(
                OwnedChannel(WebhookChannel(routes.webhook_url, external_url=public_url), owner)
            )
        if routes.slack_webhook_url:
            channels.append(OwnedChannel(SlackChannel(routes.slack_webhook_url), owner))
    return channels
