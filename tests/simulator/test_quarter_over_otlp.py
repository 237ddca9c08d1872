"""The simulator streamed into a real service over OTLP: every span stored, invoices findable."""

from __future__ import annotations

import random
from decimal import Decimal

import httpx
import pytest

from domain import semconv as sc
from tests.quarter import LoadedQuarter, accepted_spans


@pytest.fixture(scope="module")
def quarter(served_quarter: LoadedQuarter) -> LoadedQuarter:
    """The session's small quarter (tests/conftest.py): these tests only read it."""
    return served_quarter


class TestSmallQuarterOverOtlp:
    def test_every_emitted_span_is_stored(self, quarter: LoadedQuarter) -> None:
        """The service acknowledges exactly as many spans as the simulator emitted."""
        assert quarter.stats.spans_emitted
        assert quarter.stats.spans > 10_000
        assert accepted_spans(quarter.service) == quarter.stats.spans

    def test_truth_invoices_are_found_by_id(self, quarter: LoadedQuarter) -> None:
        """For a sample of posted invoices, the object lookup returns their invoice.posted event."""
        posted = [i for i in quarter.truth["invoices"] if i["status"] == "posted"]
        assert len(posted) > 20
        for invoice in random.Random(1).sample(posted, 20):
            response = httpx.get(
                f"{quarter.service.base_url}/api/v1/objects/invoice/{invoice['invoice']}/events"
            )
            assert response.status_code == 200, invoice["invoice"]
            events = response.json()
            posts = [e for e in events if e["event_type"] == sc.INVOICE_POSTED]
            assert posts[-1]["event_id"] == invoice["invoice_event_id"]
            assert posts[-1]["outcome"] == sc.SUCCESS
            assert float(Decimal(posts[-1]["amount"])) == pytest.approx(invoice["amount"])
