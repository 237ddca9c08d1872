"""What the dashboard says about silent telemetry streams (pure)."""

from __future__ import annotations

from typing import Any

from dashboard.notices import missing_evidence_notice


def stream(name: str, missing: bool, silence: float = 3.0) -> dict[str, Any]:
    return {
        "stream": name,
        "silence_business_hours": silence,
        "limit_business_hours": 2.0,
        "missing": missing,
    }


class TestMissingEvidenceNotice:
    def test_every_stream_sending_is_no_notice(self) -> None:
        """Nothing to say when no stream is missing, or none was ever seen."""
        assert missing_evidence_notice({"streams": [stream("psa->erp", False)]}) is None
        assert missing_evidence_notice({}) is None

    def test_the_first_five_silent_streams_are_named_and_the_rest_counted(self) -> None:
        """Seven silent streams: five named, two counted."""
        answer = {"streams": [stream(f"mw-{n}", True) for n in range(7)]}
        notice = missing_evidence_notice(answer)
        assert notice is not None
        assert notice.startswith("Missing evidence: **mw-0** silent 3.0 business h (tolerated 2.0)")
        assert "**mw-4**" in notice
        assert "**mw-5**" not in notice
        assert "and 2 more" in notice
