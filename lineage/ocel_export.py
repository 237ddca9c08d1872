"""The period log as a byte stream: OCEL 2.0 JSON written as its pages are read (the records'
text as the engine and ``lineage.ocel_sqlite`` write it, joined), or the OCEL 2.0 SQLite file
built in a scratch directory and then sent. Either way memory holds one page at a time; the
scratch directory goes when the stream ends, whether it was read to the end or not."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from lineage.ocel import JSON_ENCODER, OBJECT_ATTRIBUTES
from lineage.ocel_log import Describe, LogPage
from lineage.ocel_sqlite import LOG_EVENT_ATTRIBUTES, OcelDatabase

FILE_CHUNK_BYTES: Final = 1 << 20
OBJECTS_PER_CHUNK: Final = 1_000


def _json(value: Any) -> str:
    return JSON_ENCODER.encode(value)


def _types(names: Iterable[str], attributes: tuple[tuple[str, str], ...]) -> str:
    return _json(
        [
            {"name": name, "attributes": [{"name": a, "type": t} for a, t in attributes]}
            for name in sorted(names)
        ]
    )


def json_stream(pages: Iterable[LogPage], describe: Describe, scratch: Path) -> Iterator[bytes]:
    """One OCEL 2.0 JSON document: the events as each page is read, then the objects (each once,
    gathered on disk), then the types seen (a JSON reader takes the keys in any order)."""
    database = OcelDatabase(scratch / "objects.sqlite", with_events=False)
    try:
        event_types: set[str] = set()
        separator = b""
        yield b'{"events":['
        for page in pages:
            database.add(page)
            if page.events:
                event_types.update(page.event_types)
                yield separator + page.json_text()
                separator = b","
        yield b'],"objects":['
        batch: list[str] = []
        glue = ""
        for record in database.json_objects(describe):
            batch.append(record)
            if len(batch) == OBJECTS_PER_CHUNK:
                yield (glue + ",".join(batch)).encode()
                batch, glue = [], ","
        if batch:
            yield (glue + ",".join(batch)).encode()
        yield (
            f'],"eventTypes":{_types(event_types, LOG_EVENT_ATTRIBUTES)},'
            f'"objectTypes":{_types(database.object_types(), OBJECT_ATTRIBUTES)}}}'
        ).encode()
    finally:
        database.close()


def sqlite_stream(pages: Iterable[LogPage], describe: Describe, scratch: Path) -> Iterator[bytes]:
    """The OCEL 2.0 SQLite file: built page by page, then sent in 1 MiB chunks."""
    path = scratch / "log.sqlite"
    database = OcelDatabase(path)
    try:
        for page in pages:
            database.add(page)
        database.fill_objects(describe)
    finally:
        database.close()
    with path.open("rb") as file:
        while chunk := file.read(FILE_CHUNK_BYTES):
            yield chunk


Stream = Callable[[Iterable[LogPage], Describe, Path], Iterator[bytes]]
STREAMS: Final[dict[str, Stream]] = {"json": json_stream, "sqlite": sqlite_stream}


def export_stream(
    output_format: str, pages: Iterable[LogPage], describe: Describe
) -> Iterator[bytes]:
    """The log in ``output_format`` (json or sqlite), built in a scratch directory that is
    removed when the stream ends."""
    scratch = Path(tempfile.mkdtemp(prefix="syncsight-ocel-"))
    try:
        yield from STREAMS[output_format](pages, describe, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
