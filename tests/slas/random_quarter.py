"""Small random quarters full of ties, for comparing vectorised rules with the same rules written
as loops: a few instants (so that many events share one), retried and failed events, postings
naming zero to two invoices and one or two obligations, objects shared by events that carry
different legal entities and customers, an amendment, all in a shuffled order."""

from __future__ import annotations

import random
from datetime import datetime

from domain import semconv as sc
from tests.slas.events import Event, at, event, retried


def random_quarter(seed: int) -> list[Event]:
    """Contracts, an amendment, projects, a milestone, time, bills, invoices and revenue
    postings of ``seed``."""
    rng = random.Random(seed)

    def when() -> datetime:
        return at(days=rng.choice((0, 1, 1, 2, 3)), hours=rng.choice((0, 0, 4)))

    def entity() -> str:
        return rng.choice(("", "LE-1", "LE-2"))

    def customer() -> str:
        return rng.choice(("", "C-1", "C-2"))

    def attempted(e: Event) -> Event:
        roll = rng.random()
        if roll < 0.15:
            e.attempts = [(e.attempts[0][0], sc.FAILED, "2026-09")]
        elif roll < 0.3:
            e = retried(e, (at(days=rng.choice((1, 2, 4))), sc.SUCCESS, "2026-09"))
        return e

    events: list[Event] = []
    obligations = [f"POB-{i}" for i in range(4)]
    for c in range(2):
        objects: dict[str, str | list[str]] = {
            sc.CONTRACT: f"CTR-{c}",
            sc.OBLIGATION: obligations[2 * c : 2 * c + 2],
        }
        events.append(
            attempted(event(sc.CONTRACT_SIGNED, f"CTR-{c}", objects, when(),
                            legal_entity=entity(), customer=customer()))
        )  # fmt: skip
    amendment = {sc.CONTRACT: "CTR-0", sc.OBLIGATION: [rng.choice(obligations)]}
    events.append(attempted(event(sc.CONTRACT_AMENDED, "CTR-0-A1", amendment, when())))
    projects = [f"PRJ-{p}" for p in range(4)]
    for p, project in enumerate(projects[:3]):
        objects = {sc.PROJECT: project, sc.CONTRACT: f"CTR-{p % 2}"}
        events.append(
            attempted(event(sc.PROJECT_ACTIVATED, project, objects, when(),
                            legal_entity=entity(), customer=customer()))
        )  # fmt: skip
    if rng.random() < 0.5:
        objects = {
            sc.MILESTONE: "MS-1",
            sc.PROJECT: rng.choice(projects),
            sc.OBLIGATION: rng.choice(obligations),
        }
        events.append(attempted(event(sc.MILESTONE_COMPLETED, "MS-1", objects, when())))
    for t in range(3):
        objects = {sc.TIME_ENTRY: f"TE-{t}", sc.PROJECT: rng.choice(projects)}
        events.append(attempted(event(sc.TIME_APPROVED, f"TE-{t}", objects, when())))
    invoices = [f"INV-{i}" for i in range(6)]
    for i, number in enumerate(invoices):
        billing, project = f"BE-{i}", rng.choice(projects)
        objects = {sc.BILLING_EVENT: billing, sc.PROJECT: project, sc.TIME_ENTRY: [f"TE-{i % 3}"]}
        events.append(attempted(event(sc.BILLING_READY, billing, objects, when())))
        objects = {sc.INVOICE: number, sc.BILLING_EVENT: billing, sc.PROJECT: project}
        events.append(
            attempted(event(sc.INVOICE_POSTED, number, objects, when(),
                            legal_entity=entity(), customer=customer()))
        )  # fmt: skip
    for j in range(6):
        objects = {
            sc.JOURNAL: f"JE-{j}",
            sc.OBLIGATION: rng.sample(obligations, rng.choice((1, 2))),
        }
        named = rng.sample(invoices, rng.choice((0, 1, 1, 2)))
        if named:
            objects[sc.INVOICE] = named
        events.append(attempted(event(sc.REVENUE_POSTED, f"JE-{j}", objects, when())))
    rng.shuffle(events)
    return events
