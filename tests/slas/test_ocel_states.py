"""The business state's facts of the OCEL export's objects (``slas.ocel_states``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from slas.ocel_states import BusinessStateFacts


def test_a_key_with_timers_known_at_one_instant_takes_the_latest_started(
    migrated: Client,
) -> None:
    """One SLA started by each of an obligation's two invoices, both versions stored by one
    tick: the key's amount is the later-started timer's, whichever row the engine meets first.
    The later-started timer sorts last in the table (its start event's id is the larger), so a
    choice by the first row met names the other one."""
    migrated.command(
        """INSERT INTO sla_timers (KeyType, KeyId, Sla, StartEventId, KnownAt, StartedAt,
            Deadline, LegalEntity, Customer, Amount, Currency)
        VALUES
        ('obligation', 'POB-1', 'revenue_posted', 'invoice.posted:INV-1',
         '2026-10-02 00:00:00', '2026-10-01 09:00:00', '2026-10-09 00:00:00',
         'LE-UK01', 'CUST-1', 8975.00, 'GBP'),
        ('obligation', 'POB-1', 'revenue_posted', 'invoice.posted:INV-2',
         '2026-10-02 00:00:00', '2026-10-01 17:00:00', '2026-10-09 00:00:00',
         'LE-UK01', 'CUST-1', 943.02, 'GBP'),
        ('obligation', 'POB-2', 'revenue_posted', 'invoice.posted:INV-3',
         '2026-10-02 00:00:00', '2026-10-01 17:00:00', '2026-10-09 00:00:00',
         'LE-UK01', 'CUST-1', 10.00, 'GBP'),
        ('obligation', 'POB-2', 'revenue_posted', 'invoice.posted:INV-4',
         '2026-10-02 00:00:00', '2026-10-01 09:00:00', '2026-10-09 00:00:00',
         'LE-UK01', 'CUST-1', 20.00, 'GBP')"""
    )
    states = BusinessStateFacts().object_states(
        migrated,
        [("obligation", "POB-1"), ("obligation", "POB-2")],
        datetime(2026, 10, 3, tzinfo=UTC),
    )
    assert {ref: state[:2] for ref, state in states.items()} == {
        ("obligation", "POB-1"): (Decimal("943.02"), "GBP"),
        ("obligation", "POB-2"): (Decimal("10"), "GBP"),
    }
