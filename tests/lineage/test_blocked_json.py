"""The blocked-invoice answer's JSON is written from its values (``lineage.models.blocked_json``),
not through a response model per item: it must be byte for byte what ``BlockedInvoicesOut``, built
from the same values, serialises to as FastAPI sends it (every field, in order, spelt the same)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from clickhouse_connect.driver.client import Client
from pydantic import TypeAdapter

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.impact import BlockedInvoices, BlockedItem, Blocker
from lineage.models import BlockedInvoicesOut, blocked_json
from tests.lineage.events import numbered_chain
from tests.lineage.test_scenarios import (
    OWNERS,
    RULES,
    blocked_invoices,
    failed,
    failed_setup,
    load,
)

AS_OF = datetime(2026, 10, 2, 9, 30, 15, 250_000, tzinfo=UTC)


def model_bytes(result: BlockedInvoices, as_of: datetime, next_cursor: str | None = None) -> bytes:
    """What FastAPI sends for the response model built from the answer's values: every field read
    by its name from the dataclasses, validated, serialised by the model's serializer."""
    adapter = TypeAdapter(BlockedInvoicesOut)
    answer = {
        "as_of": as_of,
        "total": result.total,
        "count": result.count,
        "items": result.items,
        "next_cursor": next_cursor,
    }
    return adapter.dump_json(adapter.validate_python(answer, from_attributes=True))


def blocker(event_id: str, event_type: str, since: datetime | None, **facts: str) -> Blocker:
    return Blocker(
        event_id=event_id,
        event_type=event_type,
        error_category=facts.get("category", sc.MASTER_DATA),
        error_code=facts.get("code", "E-404"),
        owner=facts.get("owner", "master data team"),
        failed_since=since,
    )


def item(number: str, amount: str | None, currency: str, *held_by: Blocker) -> BlockedItem:
    return BlockedItem(
        object=ObjectRef(sc.BILLING_EVENT, f"BE-{number}"),
        invoice=f"INV-{number}" if number != "3" else None,
        stage=sc.INVOICE_POSTED if number != "3" else sc.BILLING_READY,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        legal_entity="LE-DE01",
        period="2026-09",
        blocked_by=held_by,
    )


class TestTheSameBytesAsTheModel:
    def test_every_field_and_spelling_of_a_hand_written_answer(self) -> None:
        """Money at every scale, no amount, no invoice, several blockers (one shared by two
        items), an instant with and without microseconds or none, and text JSON must escape."""
        setup = blocker(
            "customer.synced:CUS-1", sc.CUSTOMER_SYNCED, datetime(2026, 9, 1, tzinfo=UTC)
        )
        odd = blocker(
            'invoice.posted:INV-"1"\\',
            sc.INVOICE_POSTED,
            datetime(2026, 9, 3, 4, 5, 6, 7, tzinfo=UTC),
            code="Zahlungsempfänger fehlt\n\t\x01 \u2013 ✓",
            owner="équipe données",
        )
        upstream = blocker("time.approved:TE-2", sc.TIME_APPROVED, None, category=sc.VALIDATION)
        result = BlockedInvoices(
            total={
                "EUR": Decimal("1234567.8912"),
                "GBP": Decimal("0.1000"),
                "USD": Decimal("2E+3"),
            },
            items=(
                item("1", "1234567.8912", "EUR", odd, setup),
                item("2", "2000.0000", "USD", upstream),
                item("4", "0.1", "GBP", setup),
                item("3", None, ""),
            ),
            count=5,
        )
        assert blocked_json(result, AS_OF) == model_bytes(result, AS_OF)
        assert blocked_json(result, AS_OF.replace(microsecond=0)) == model_bytes(
            result, AS_OF.replace(microsecond=0)
        )

    def test_a_page_with_a_next_cursor(self) -> None:
        """A page that others follow names its cursor after the items, as the model does."""
        page = BlockedInvoices(
            total={"EUR": Decimal("3.5")},
            items=(item("1", "2.5", "EUR"),),
            count=2,
            more=True,
        )
        cursor = "eyJhIjogMX0"
        assert blocked_json(page, AS_OF, cursor) == model_bytes(page, AS_OF, cursor)
        assert blocked_json(page, AS_OF, cursor).endswith(b',"next_cursor":"eyJhIjogMX0"}')

    def test_an_empty_answer(self) -> None:
        """No item, no total: the same empty map and list."""
        empty = BlockedInvoices(total={}, items=(), count=0)
        assert blocked_json(empty, AS_OF) == model_bytes(empty, AS_OF)

    def test_an_answer_of_the_real_engine(self, migrated: Client) -> None:
        """Items in three currencies and one without an amount, held by their own step and a
        customer's failed set-up, or by a failure upstream, as the answers read them."""
        posted_with_setup = numbered_chain(1)
        posted_with_setup[-1] = failed(posted_with_setup[-1], sc.MASTER_DATA, hours=73)
        in_dollars = [replace(e, currency="USD") if e.amount else e for e in numbered_chain(2)]
        upstream = failed(in_dollars[2], sc.VALIDATION, hours=80)  # a re-sync after billing.ready
        no_amount = numbered_chain(3)[:-1]
        no_amount[-1] = failed(
            replace(no_amount[-1], amount=None, currency=""), sc.MAPPING, hours=74
        )
        in_pounds = numbered_chain(4)[:-1]
        tenth = failed(replace(in_pounds[-1], amount=Decimal("0.1")), sc.MAPPING, hours=75)
        in_pounds[-1] = replace(tenth, currency="GBP")
        load(
            migrated,
            [
                *posted_with_setup,
                failed_setup("CUS-1"),
                *in_dollars[:-1],
                upstream,
                *no_amount,
                *in_pounds,
            ],
        )
        result = blocked_invoices(migrated, RULES, OWNERS)
        assert set(result.total) == {"EUR", "GBP", "USD"}
        assert None in {i.amount for i in result.items}
        assert max(len(i.blocked_by) for i in result.items) == 2
        assert sc.TIME_APPROVED in {b.event_type for i in result.items for b in i.blocked_by}
        assert blocked_json(result, AS_OF) == model_bytes(result, AS_OF)
