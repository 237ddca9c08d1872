"""The Audit page's tables from GET /api/v1/audit/report answers (``AuditReportOut``) and the
access trail (``DownloadsOut``)."""

from __future__ import annotations

from dashboard.figures.audit import (
    NOT_SEALED,
    difference_kinds,
    difference_rows,
    download_rows,
    filter_differences,
    head_rows,
    interface_rows,
)
from tests.api_answers import (
    audit_report,
    difference,
    downloads,
    interface,
    side,
    tree_head,
)

BILLING = "billing.ready → invoice.posted by billing_event"
TIME = "time.approved → billing.ready by time_entry"
CONTRACT = "contract.signed → project.activated by contract"
REPORT = audit_report(
    "2026-10",
    "LE-UK01",
    "2026-10-30T16:59:58.250Z",
    [
        interface(
            BILLING,
            "billing_event",
            ["missing", "late", "duplicate", "amount_mismatch"],
            side(3, GBP="3000.00", EUR="12.3456"),
            side(2, GBP="1900.00"),
            {"missing": 1, "amount_mismatch": 1},
        ),
        interface(CONTRACT, "contract", ["missing", "duplicate"], side(1), side(1), {}),
        interface(TIME, "time_entry", ["missing", "late", "duplicate"], side(0), side(0), {}),
    ],
    [
        difference(BILLING, "missing", "billing_event", "BE-1", "1000.00", ""),
        difference(BILLING, "amount_mismatch", "billing_event", "BE-2", "1000.00", "900.00"),
        difference(TIME, "late", "time_entry", "TE-9", "80.00", "80.00"),
    ],
    knowledge_days=["2026-10-29", "2026-10-30"],
    heads=[tree_head("2026-10-29", 120)],
)


class TestInterfaces:
    def test_kinds_are_every_checked_kind_in_the_reports_order(self) -> None:
        """The columns follow the first interface's checks, then kinds others add."""
        assert difference_kinds(REPORT) == ["missing", "late", "duplicate", "amount_mismatch"]

    def test_each_side_shows_its_count_and_money_per_currency_never_added(self) -> None:
        """Two currencies stay two amounts, every digit kept, the largest first."""
        row = interface_rows(REPORT)[0]
        assert row["source events"] == 3
        assert row["source amount"] == "GBP 3,000.00 · EUR 12.3456"
        assert row["target amount"] == "GBP 1,900.00"

    def test_a_kind_not_checked_is_empty_and_a_checked_one_without_differences_is_zero(
        self,
    ) -> None:
        """contract.signed → project.activated is checked for missing and duplicate only."""
        row = interface_rows(REPORT)[1]
        assert (row["missing"], row["duplicate"]) == ("0", "0")
        assert (row["late"], row["amount_mismatch"]) == ("—", "—")
        assert row["source amount"] == "—"


class TestDifferences:
    def test_a_missing_target_has_no_amount_and_no_time(self) -> None:
        """What never arrived is shown as a dash, not as zero."""
        missing = difference_rows(REPORT.differences)[0]
        assert missing["object"] == "billing_event BE-1"
        assert (missing["source amount"], missing["target amount"]) == ("GBP 1,000.00", "—")
        assert missing["target at"] == "—"
        assert missing["target events"] == ""

    def test_kind_and_interface_choices_narrow_the_list(self) -> None:
        """Empty choices keep everything; each choice keeps only what matches it."""
        everything = REPORT.differences
        assert filter_differences(everything) == everything
        assert [d.object_id for d in filter_differences(everything, kinds=["late"])] == ["TE-9"]
        assert [d.object_id for d in filter_differences(everything, interfaces=[BILLING])] == [
            "BE-1",
            "BE-2",
        ]
        assert filter_differences(everything, kinds=["late"], interfaces=[BILLING]) == []


class TestLedger:
    def test_each_knowledge_day_has_its_head_or_says_it_is_not_sealed(self) -> None:
        """A day without a head (facts stored today) is named, not left out."""
        rows = head_rows(REPORT)
        assert [row["day"] for row in rows] == ["2026-10-29", "2026-10-30"]
        assert rows[0]["tree size"] == 120
        assert rows[0]["root hash"] == tree_head("2026-10-29", 120).root_hash
        assert (rows[1]["tree size"], rows[1]["root hash"]) == (None, NOT_SEALED)

    def test_the_access_trail_names_who_took_what_with_which_parameters(self) -> None:
        """Parameters are one line of sorted JSON, so two downloads compare at a glance."""
        trail = downloads(
            (
                "2026-10-30T17:01:00.000Z",
                "ada.auditor",
                "auditor",
                {"period": "2026-10", "format": "pdf"},
            )
        )
        [row] = download_rows(trail.downloads)
        assert (row["token"], row["role"], row["kind"]) == ("ada.auditor", "auditor", "report")
        assert row["parameters"] == '{"format": "pdf", "period": "2026-10"}'
