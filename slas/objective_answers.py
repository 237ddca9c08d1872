"""Error budgets from ``sla_timers``: per SLA with an objective and per legal entity, the timers met
and breached that were decided within each window (the objective's, and each burn tier's long and
short one), at any ``as_of`` and ``known_at``, in one SQL aggregation. Every window is business
time of the entity's calendar, turned into a wall-clock start here; ``slas.objectives`` does the
arithmetic and ``BudgetBurnAlerts`` feeds ``SlaBudgetBurn`` to the evaluator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from slas.alerts import Alert
from slas.business_state import BusinessState
from slas.business_time import business_window_starts, epoch_seconds
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import SlaDefinition
from slas.objectives import (
    WINDOWS,
    Counts,
    Objective,
    ObjectiveBook,
    ObjectiveStatus,
    budget_burn_alerts,
    objective_status,
    window_seconds,
)
from slas.timer_answers import TIMERS_AT
from slas.timers import BREACHED, MET

OBJECTIVE_COUNTS = f"""
SELECT Sla, legal_entity,
    sumForEach(arrayMap(s -> toUInt64(state = {MET} AND decided > s), starts)),
    sumForEach(arrayMap(s -> toUInt64(state = {BREACHED} AND decided > s), starts))
FROM (
    SELECT Sla, legal_entity, state,
        toFloat64(toUnixTimestamp64Micro(assumeNotNull(decided_at))) / 1e6 AS decided,
        indexOf({{keys:Array(String)}}, concat(Sla, '/', legal_entity)) AS own,
        if(own > 0, {{key_starts:Array(Array(Float64))}}[own],
            {{sla_starts:Array(Array(Float64))}}[indexOf({{slas:Array(String)}}, Sla)]) AS starts
    FROM ({TIMERS_AT})
    WHERE state IN ({MET}, {BREACHED}) AND decided > arrayMin(starts)
)
GROUP BY Sla, legal_entity
"""
"""Per SLA and legal entity, met and breached timers decided after each window's start (epoch
seconds; the windows end at ``as_of``). ``keys`` ('<sla>/<entity>', an SLA name has no '/') name
the entities with a calendar or an objective of their own; the rest use their SLA's starts."""


class ObjectiveAnswers:
    """Reads the error budgets of the SLAs that have an objective."""

    def __init__(
        self,
        client: Callable[[], Client],
        definitions: Sequence[SlaDefinition],
        calendars: CalendarBook,
        state: BusinessState,
        objectives: ObjectiveBook,
    ) -> None:
        self._client = client
        self.definitions = tuple(definitions)
        self.calendars = calendars
        self._state = state
        self.objectives = objectives

    def report(
        self, as_of: datetime, known_at: datetime | None
    ) -> tuple[datetime, list[ObjectiveStatus]]:
        """Every (SLA, legal entity) with an objective and a timer decided in its window, and
        every entity configured for an SLA with an objective (a calendar or an objective of its
        own) though none of its timers was decided in the window: met 0, breached 0, attainment
        and budget left unknown. "How is LE-X doing on SLA Y" then has an answer, which a quiet
        window, no traffic yet, or a ``known_at`` before it cannot be told from "no objective"
        without."""
        known = self._state.known_at(known_at)
        names = {d.name for d in self.definitions}
        slas = [sla for sla in self.objectives.slas if sla in names]
        if not slas:
            return known, []
        at = utc(as_of)
        # window starts by (calendar, objective): entities and SLAs share them
        memo: dict[tuple[EntityCalendar, Objective | None], list[float]] = {}
        keys, key_starts = [], []
        for sla in slas:
            entities = set(self.calendars.calendars) | set(self.objectives.by_entity.get(sla, {}))
            for entity in sorted(entities):
                keys.append(f"{sla}/{entity}")
                calendar = self.calendars.calendars.get(entity, self.calendars.default)
                key_starts.append(self._starts(sla, entity, calendar, at, memo))
        parameters = {
            "as_of": at,
            "known_at": known,
            "slas": slas,
            "open_only": 0,
            "keys": keys,
            "key_starts": key_starts,
            "sla_starts": [
                self._starts(sla, None, self.calendars.default, at, memo) for sla in slas
            ],
        }
        rows = self._client().query(OBJECTIVE_COUNTS, parameters=parameters).result_rows
        order = {name: index for index, name in enumerate(slas)}
        statuses = []
        quiet = [Counts(0, 0)] * WINDOWS
        counted = {
            (str(sla), str(entity)): [
                Counts(int(m), int(b)) for m, b in zip(met, breached, strict=True)
            ]
            for sla, entity, met, breached in rows
        }
        for key in keys:  # the configured entities of every SLA with an objective
            sla, entity = key.split("/", 1)
            counted.setdefault((sla, entity), quiet)
        for (sla, entity), counts in counted.items():
            objective = self.objectives.objective(sla, entity)
            if objective is None:
                continue
            statuses.append(
                objective_status(sla, entity, objective, self.calendars.for_entity(entity), counts)
            )
        statuses.sort(key=lambda s: (order[s.sla], s.legal_entity))
        return known, statuses

    def _starts(
        self,
        sla: str,
        entity: str | None,
        calendar: EntityCalendar,
        at: datetime,
        memo: dict[tuple[EntityCalendar, Objective | None], list[float]],
    ) -> list[float]:
        """Epoch-second starts of the windows ending at ``at``; every window empty (starting at
        ``at``) where no objective applies."""
        objective = (
            self.objectives.by_sla.get(sla)
            if entity is None
            else self.objectives.objective(sla, entity)
        )
        known = memo.get((calendar, objective))
        if known is not None:
            return known
        if objective is None:
            starts = [epoch_seconds(at)] * WINDOWS
        else:
            instants = business_window_starts(calendar, at, window_seconds(objective, calendar))
            starts = [epoch_seconds(instant) for instant in instants]
        memo[(calendar, objective)] = starts
        return starts


class BudgetBurnAlerts:
    """The evaluator's source of ``SlaBudgetBurn``: what ``slas.objectives`` says fires at an
    instant, as known at the watermark. The read covers every timer decided in the objective
    windows, so it runs at most once per ``every``; in between the same alerts come back."""

    def __init__(
        self, answers: ObjectiveAnswers, *, public_url: str, every: timedelta = timedelta(0)
    ) -> None:
        self._answers = answers
        self._owners = {d.name: d.owner for d in answers.definitions}
        self._public_url = public_url
        self._every = every
        self._last: tuple[datetime, list[Alert]] | None = None

    def alerts(self, now: datetime) -> list[Alert]:
        """What should fire at ``now`` (as worked out at most ``every`` ago)."""
        if not self._answers.objectives:
            return []
        if self._last is not None and timedelta(0) <= now - self._last[0] < self._every:
            return list(self._last[1])
        _, statuses = self._answers.report(now, None)
        wanted = budget_burn_alerts(statuses, self._owners, now=now, public_url=self._public_url)
        self._last = (now, wanted)
        return list(wanted)
