"""Every series family the running service exposes on ``/metrics`` is in docs/operations.md's
metrics reference, with its type; and no family the reference names has gone from the service."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from syncsight.settings import Settings
from tests.service import asgi_client, in_process_app

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ROW = re.compile(r"^\| (`syncsight_[^|]+) \| (\w+) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    """Family → type, from the reference table (a row may name several families)."""
    section = OPERATIONS.read_text().split("### Metrics reference", 1)[1].split("\n## ", 1)[0]
    found = {}
    for names, kind in ROW.findall(section):
        for name in re.findall(r"`(syncsight_\w+)`", names):
            found[name] = kind
    return found


def exposed(chdb_url: str, database: str, tmp_path: Path) -> dict[str, str]:
    """Family → type, from the ``# TYPE`` lines of the service's own ``/metrics``, its settings
    the defaults (the Python heap's freezer on, as in a served process)."""
    default = Settings.model_fields["python_heap_freeze_interval"].default
    app = in_process_app(chdb_url, database, tmp_path, python_heap_freeze_interval=default)

    async def scrape() -> str:
        async with asgi_client(app) as api:
            return (await api.get("/metrics")).text

    text = asyncio.run(scrape())
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_the_reference_names_every_family_the_service_exposes(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    reference = documented()
    families = exposed(chdb_url, database, tmp_path)
    assert families, "the service exposed nothing"
    assert not [name for name in families if name.endswith("_created")]
    assert families == reference
