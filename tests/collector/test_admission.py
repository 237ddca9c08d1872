"""ExportAdmission: requests and body bytes in flight against their limits."""

from __future__ import annotations

import pytest

from collector.admission import Busy, ExportAdmission


class TestExportAdmission:
    def test_requests_over_the_limit_are_refused_until_one_ends(self) -> None:
        """The refusal names the setting; a slot frees when its request ends."""
        admission = ExportAdmission(max_requests=1, max_bytes=100)
        with (
            admission.admitted(),
            pytest.raises(Busy, match="max_concurrent_exports"),
            admission.admitted(),
        ):
            pass
        with admission.admitted():
            assert admission.requests == 1
        assert admission.requests == 0

    def test_bytes_over_the_limit_are_refused_while_others_hold_bytes(self) -> None:
        """A second request may not push the bytes in flight past the limit."""
        admission = ExportAdmission(max_requests=4, max_bytes=100)
        with admission.admitted() as first:
            first.hold(60)
            with admission.admitted() as second:
                second.hold(40)
                with admission.admitted() as third, pytest.raises(Busy, match="max_decoding_bytes"):
                    third.hold(1)
        assert admission.bytes == 0

    def test_a_request_alone_is_admitted_whatever_its_size(self) -> None:
        """One body larger than the limit is never refused forever: it is admitted alone."""
        admission = ExportAdmission(max_requests=4, max_bytes=100)
        with admission.admitted() as only:
            only.hold(500)
            only.hold(500)  # the inflated body, after the compressed one
            assert admission.bytes == 1000

    def test_limits_below_one_are_refused(self) -> None:
        with pytest.raises(ValueError, match="max_requests and max_bytes must be >= 1"):
            ExportAdmission(max_requests=0, max_bytes=1)
