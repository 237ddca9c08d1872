"""The on-disk spool: batches that could not be written to ClickHouse, fsynced before they are
acknowledged, replayed oldest first once writes succeed again (and at start-up).

A file is the batch's JSON lines in an LZ4 frame with a content checksum: the journal spools most
rows under load, and LZ4 costs a quarter of zlib's CPU. Files older versions wrote (zlib, holding
JSON lines or one JSON list of row lists) are still read, so an upgrade loses nothing."""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import lz4.frame

from warehouse.span_batch import SpanBatch, encode_rows

logger = logging.getLogger(__name__)

SUFFIX = ".spool"
_LZ4_FRAME_MAGIC: Final = b"\x04\x22\x4d\x18"


class SpoolFull(RuntimeError):
    """The spool is over its configured size: accepting more would risk the disk."""


@dataclass(frozen=True)
class SpoolFile:
    """One spooled batch on disk."""

    path: Path
    size: int


class Spool:
    """A directory of compressed batch files, named by a monotonic sequence number."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._files: dict[Path, int] = {}
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a write that never completed was never acknowledged
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            self._files[path] = path.stat().st_size
        self._sequence = max((int(p.stem) for p in self._files), default=0)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(self._files.values())

    @property
    def file_count(self) -> int:
        with self._lock:
            return len(self._files)

    def is_full(self) -> bool:
        return self.size_bytes >= self.max_bytes

    def append(self, batch: SpanBatch) -> SpoolFile:
        """Write ``batch`` durably (file and directory fsynced) or raise; never half-visible."""
        if self.is_full():
            raise SpoolFull(
                f"spool {self.directory} holds {self.size_bytes} bytes, limit {self.max_bytes}"
            )
        payload = lz4.frame.compress(batch.json_lines, content_checksum=True)
        with self._lock:
            self._sequence += 1
            final = self.directory / f"{self._sequence:020d}{SUFFIX}"
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(final)
        _fsync_directory(self.directory)
        with self._lock:
            self._files[final] = len(payload)
        return SpoolFile(final, len(payload))

    def oldest(self) -> SpoolFile | None:
        with self._lock:
            if not self._files:
                return None
            path = min(self._files)
            return SpoolFile(path, self._files[path])

    def oldest_first(self) -> list[SpoolFile]:
        """Every complete spooled batch, oldest first (a snapshot)."""
        with self._lock:
            return [SpoolFile(path, self._files[path]) for path in sorted(self._files)]

    def read(self, spooled: SpoolFile) -> SpanBatch:
        """One spooled batch; raises ``OSError``, or ``ValueError`` for contents not a batch."""
        payload = spooled.path.read_bytes()
        try:
            if payload.startswith(_LZ4_FRAME_MAGIC):
                json_lines = lz4.frame.decompress(payload)
            else:
                json_lines = zlib.decompress(payload)
        except (RuntimeError, zlib.error) as error:  # lz4 reports a bad frame as RuntimeError
            raise ValueError(
                f"spool file {spooled.path.name}: not a readable batch: {error}"
            ) from None
        if json_lines.startswith(b"[["):  # the oldest format: a JSON list of row lists
            return encode_rows(json.loads(json_lines))
        return SpanBatch.from_json_lines(json_lines)

    def remove(self, spooled: SpoolFile) -> None:
        spooled.path.unlink(missing_ok=True)
        with self._lock:
            self._files.pop(spooled.path, None)

    def quarantine(self, spooled: SpoolFile, reason: str) -> None:
        """Move an unreadable batch aside so it stops blocking the replay, keeping it for a human."""
        target = self.directory / "quarantine"
        target.mkdir(exist_ok=True)
        spooled.path.rename(target / spooled.path.name)
        with self._lock:
            self._files.pop(spooled.path, None)
        logger.error("quarantined spool file %s: %s", spooled.path.name, reason)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
