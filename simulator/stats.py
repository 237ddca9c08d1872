"""What a simulated quarter amounted to, as a consulting firm's operations lead would summarise it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table

from domain import semconv
from simulator.assessment import BREACHED, billing_blockage, timer_outcome
from simulator.events import BusinessEvent
from simulator.firm import FIRM_NAME
from simulator.history import FIXED_FEE, SLA_DEFINITIONS, ContractHistory
from simulator.scenario import Scenario


def _money(amounts: Mapping[str, float]) -> str:
    if not amounts:
        return "none"
    return " · ".join(f"{currency} {amount:,.0f}" for currency, amount in sorted(amounts.items()))


@dataclass(frozen=True, slots=True)
class ScenarioStats:
    """Counts and money of a simulated quarter; ``console.print(stats)`` draws it as a table."""

    firm: str
    seed: int
    scale: str
    start: datetime
    end: datetime
    legal_entities: tuple[str, ...]
    customers: int
    customers_won: int
    consultants: int
    contracts: int
    fixed_fee_contracts: int
    amendments: int
    projects_activated: int
    time_entries_approved: int
    expenses_approved: int
    milestones_completed: int
    billing_events: int
    invoices_posted: int
    invoiced_value: Mapping[str, float]
    revenue_postings: int
    failures_by_category: Mapping[str, int]
    recovered_events: int
    unrecovered_events: int
    blocked_items: int
    blocked_invoice_value: Mapping[str, float]
    sla_timers: Mapping[str, int]
    sla_breaches: Mapping[str, int]
    spans: int
    spans_emitted: bool
    example_invoice_ids: tuple[str, ...]
    """A posted invoice with a full chain, then a blocked one, when the quarter has them."""

    def as_table(self) -> Table:
        table = Table(
            title=f"{self.firm}: quarter {self.start:%d %b} to {self.end:%d %b %Y}",
            caption=f"seed {self.seed}, scale {self.scale}",
            show_header=False,
        )
        table.add_column("what", style="bold")
        table.add_column("how much")
        time_and_materials = self.contracts - self.fixed_fee_contracts
        failures = " · ".join(f"{c} {n:,}" for c, n in sorted(self.failures_by_category.items()))
        breaches = " · ".join(
            f"{name} {self.sla_breaches.get(name, 0):,}/{count:,}"
            for name, count in self.sla_timers.items()
        )
        rows = (
            ("Legal entities", ", ".join(self.legal_entities)),
            ("Clients", f"{self.customers:,} ({self.customers_won:,} won this quarter)"),
            ("Consultants", f"{self.consultants:,}"),
            (
                "Contracts signed",
                f"{self.contracts:,} ({time_and_materials:,} time & materials, "
                f"{self.fixed_fee_contracts:,} fixed fee; {self.amendments:,} amended)",
            ),
            ("Projects activated", f"{self.projects_activated:,}"),
            ("Time entries approved", f"{self.time_entries_approved:,}"),
            ("Expenses approved", f"{self.expenses_approved:,}"),
            ("Milestones completed", f"{self.milestones_completed:,}"),
            ("Billing events", f"{self.billing_events:,}"),
            ("Invoices posted", f"{self.invoices_posted:,} ({_money(self.invoiced_value)})"),
            ("Revenue postings", f"{self.revenue_postings:,}"),
            ("Sync failures by category", failures or "none"),
            (
                "Recovered / unrecovered",
                f"{self.recovered_events:,} / {self.unrecovered_events:,} events",
            ),
            (
                "Blocked invoices",
                f"{self.blocked_items:,} ({_money(self.blocked_invoice_value)})",
            ),
            ("SLA breaches / timers", breaches),
            ("Spans " + ("emitted" if self.spans_emitted else "planned"), f"{self.spans:,}"),
        )
        for what, how_much in rows:
            table.add_row(what, how_much)
        return table

    def __rich__(self) -> Table:
        return self.as_table()


class StatsTally:
    """Accumulates ``ScenarioStats`` while the scenario streams."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._events: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._recovered = 0
        self._unrecovered = 0
        self._contracts = 0
        self._fixed_fee = 0
        self._amendments = 0
        self._invoiced: defaultdict[str, float] = defaultdict(float)
        self._invoices_posted = 0
        self._billing_events = 0
        self._blocked = 0
        self._blocked_value: defaultdict[str, float] = defaultdict(float)
        self._timers: Counter[str] = Counter()
        self._breaches: Counter[str] = Counter()
        self._posted_example: str | None = None
        self._blocked_example: str | None = None
        self.spans = 0

    def add_event(self, event: BusinessEvent) -> None:
        self._events[event.event_type] += not event.is_failed
        self.spans += event.span_count()
        if event.ever_failed:
            self._failures.update(event.error_categories)
            if event.is_failed:
                self._unrecovered += 1
            else:
                self._recovered += 1

    def add(self, history: ContractHistory) -> None:
        self._contracts += 1
        self._fixed_fee += history.billing_model == FIXED_FEE
        self._amendments += len(history.amendments)
        for event in history.events:
            self.add_event(event)
        currency = history.legal_entity.currency
        for item in history.billing:
            self._billing_events += 1
            if item.invoice is not None and not item.invoice.is_failed:
                self._invoices_posted += 1
                self._invoiced[currency] += item.amount
                if self._posted_example is None and item.billed_object_type == semconv.TIME_ENTRY:
                    self._posted_example = item.invoice_id
            blockage = billing_blockage(item)
            if blockage is not None:
                self._blocked += 1
                self._blocked_value[currency] += item.amount
                if self._blocked_example is None and item.invoice is not None:
                    self._blocked_example = item.invoice_id
        calendar = self._scenario.setup_of(history.legal_entity.id).calendar
        for timer in history.timers:
            self._timers[timer.sla.name] += 1
            if timer_outcome(timer, calendar, self._scenario.end).status == BREACHED:
                self._breaches[timer.sla.name] += 1

    def stats(self, *, spans_emitted: bool) -> ScenarioStats:
        scenario = self._scenario
        customers = [c for setup in scenario.setups for c in setup.customers]
        examples = tuple(i for i in (self._posted_example, self._blocked_example) if i is not None)
        return ScenarioStats(
            firm=FIRM_NAME,
            seed=scenario.seed,
            scale=scenario.scale.name,
            start=scenario.start,
            end=scenario.end,
            legal_entities=tuple(
                f"{setup.entity.name} ({setup.entity.currency})" for setup in scenario.setups
            ),
            customers=len(customers),
            customers_won=sum(customer.sync is not None for customer in customers),
            consultants=sum(len(setup.consultants) for setup in scenario.setups),
            contracts=self._contracts,
            fixed_fee_contracts=self._fixed_fee,
            amendments=self._amendments,
            projects_activated=self._events[semconv.PROJECT_ACTIVATED],
            time_entries_approved=self._events[semconv.TIME_APPROVED],
            expenses_approved=self._events[semconv.EXPENSE_APPROVED],
            milestones_completed=self._events[semconv.MILESTONE_COMPLETED],
            billing_events=self._billing_events,
            invoices_posted=self._invoices_posted,
            invoiced_value={c: round(v, 2) for c, v in self._invoiced.items()},
            revenue_postings=self._events[semconv.REVENUE_POSTED],
            failures_by_category=dict(self._failures),
            recovered_events=self._recovered,
            unrecovered_events=self._unrecovered,
            blocked_items=self._blocked,
            blocked_invoice_value={c: round(v, 2) for c, v in self._blocked_value.items()},
            sla_timers={sla.name: self._timers[sla.name] for sla in SLA_DEFINITIONS},
            sla_breaches={sla.name: self._breaches[sla.name] for sla in SLA_DEFINITIONS},
            spans=self.spans,
            spans_emitted=spans_emitted,
            example_invoice_ids=examples,
        )
