"""Alert state in ClickHouse (``sla_alert_state``): the evaluator's record of every alert
(channel '') and what each notifier delivered, so a restart neither forgets nor repeats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH, utc
from slas.alerts import FIRING, RESOLVED, Alert, annotations_of
from warehouse.schema import SLA_ALERT_STATE

RECORD = ""
"""The channel name of the evaluator's own record."""
COLUMNS = (
    "Channel",
    "Fingerprint",
    "AlertName",
    "Labels",
    "Annotations",
    "Status",
    "Threshold",
    "StartsAt",
    "EndsAt",
    "UpdatedAt",
)

LATEST_STATE = f"""
SELECT Channel, Fingerprint,
       argMax(Labels, UpdatedAt), argMax(Annotations, UpdatedAt), argMax(Status, UpdatedAt),
       argMax(Threshold, UpdatedAt), argMax(StartsAt, UpdatedAt), argMax(EndsAt, UpdatedAt)
FROM {SLA_ALERT_STATE}
GROUP BY Channel, Fingerprint
HAVING argMax(Status, UpdatedAt) = '{FIRING}' OR argMax(EndsAt, UpdatedAt) >= {{since:DateTime64(3, 'UTC')}}
"""


class AlertStore:
    """Reads and appends alert state rows (ReplacingMergeTree: the latest row per key wins).

    ``client`` returns the calling thread's client (``ClientPool.client``).
    """

    def __init__(self, client: Callable[[], Client]) -> None:
        self._client = client

    def load(self, *, now: datetime, keep: timedelta) -> dict[str, dict[str, Alert]]:
        """Per channel ('' = the record), firing alerts and those resolved within ``keep``."""
        rows = self._client().query(LATEST_STATE, parameters={"since": now - keep}).result_rows
        state: dict[str, dict[str, Alert]] = {}
        for channel, key, labels, notes, status, threshold, starts, ends in rows:
            alert = Alert(
                labels=dict(labels),
                annotations=dict(notes),
                starts_at=utc(starts),
                status=str(status),
                ends_at=None if status == FIRING else utc(ends),
                threshold=float(threshold),
                crossed_at=utc(starts),
            )
            state.setdefault(str(channel), {})[str(key)] = alert
        return state

    def save(self, channel: str, alerts: Iterable[Alert], *, now: datetime) -> None:
        """Append the current state of ``alerts`` for ``channel``."""
        rows = [
            [
                channel,
                alert.fingerprint,
                alert.name,
                alert.labels,
                annotations_of(alert),
                alert.status,
                alert.threshold,
                alert.starts_at,
                alert.ends_at if alert.status == RESOLVED and alert.ends_at else EPOCH,
                now,
            ]
            for alert in alerts
        ]
        if rows:
            self._client().insert(SLA_ALERT_STATE, rows, column_names=list(COLUMNS))
