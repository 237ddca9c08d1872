"""A channel of one owner: it tells only the alerts whose ``owner`` label names that owner, so
each team's webhook or Slack channel (``[notifications.owners."<team>"]``) hears its own alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slas.alerts import Alert, Change
from slas.notifiers import Channel, Message


@dataclass(frozen=True)
class OwnedChannel:
    """``inner``, restricted to the alerts of ``owner``; named ``<inner name>:<owner>``."""

    inner: Channel
    owner: str

    @property
    def name(self) -> str:
        return f"{self.inner.name}:{self.owner}"

    @property
    def resends_firing(self) -> bool:
        return self.inner.resends_firing

    def render(
        self, changes: Sequence[Change], firing: Sequence[Alert], *, now: datetime
    ) -> list[Message]:
        own = [change for change in changes if self.owns(change.alert)]
        mine = [alert for alert in firing if self.owns(alert)]
        if not own and not mine:
            return []
        return self.inner.render(own, mine, now=now)

    def owns(self, alert: Alert) -> bool:
        return alert.labels.get("owner") == self.owner
