"""The response headers that name the instants an answer describes, as the API sets them and its
clients read them: pass them back as ``as_of`` and ``known_at`` to be given the same answer."""

from __future__ import annotations

from typing import Final

AS_OF_HEADER: Final = "X-Syncsight-As-Of"
KNOWN_AT_HEADER: Final = "X-Syncsight-Known-At"
