"""What the dashboard says about silent telemetry streams (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.notices import missing_evidence_notice
from lineage.models import StreamSilenceOut, TelemetrySilenceOut

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def stream(name: str, missing: bool, silence: float = 3.0) -> StreamSilenceOut:
    return StreamSilenceOut(
        kind="service",
        stream=name,
        last_seen=NOW,
        silence_business_hours=silence,
        limit_business_hours=2.0,
        learnt_business_hours=None,
        bound_business_hours=2.0,
        missing=missing,
    )


def answer(*streams: StreamSilenceOut) -> TelemetrySilenceOut:
    return TelemetrySilenceOut(
        as_of=NOW, missing=sum(s.missing for s in streams), streams=list(streams)
    )


class TestMissingEvidenceNotice:
    def test_every_stream_sending_is_no_notice(self) -> None:
        """Nothing to say when no stream is missing, or none was ever seen."""
        assert missing_evidence_notice(answer(stream("psa->erp", False))) is None
        assert missing_evidence_notice(answer()) is None

    def test_the_first_five_silent_streams_are_named_and_the_rest_counted(self) -> None:
        """Seven silent streams: five named, two counted."""
        notice = missing_evidence_notice(answer(*(stream(f"mw-{n}", True) for n in range(7))))
        assert notice is not None
        assert notice.startswith("Missing evidence: **mw-0** silent 3.0 business h (tolerated 2.0)")
        assert "**mw-4**" in notice
        assert "**mw-5**" not in notice
        assert "and 2 more" in notice
