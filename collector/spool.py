"""The on-disk spool: the journal that requests are fsynced into before they are acknowledged, and
the batches that could not be written to ClickHouse, replayed oldest first once writes succeed again
(and at start-up). A batch the journal just wrote can stay in memory too, so that its insert does not
read it back.

A file is the batch's JSON lines in an LZ4 frame with a content checksum: the journal spools most
rows under load, and LZ4 costs a quarter of zlib's CPU. Files older versions wrote (zlib, holding
JSON lines or one JSON list of row lists) are still read, so an upgrade loses nothing.

A spool belongs to one database: ``database.json`` records which, and a spool holding batches for
another database is refused rather than replayed into the wrong one."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import lz4.frame

from collector.durable_files import write_durably
from collector.quarantine import Quarantine
from warehouse.span_batch import SpanBatch, encode_rows, join_batches

logger = logging.getLogger(__name__)

SUFFIX = ".spool"
IDENTITY_FILE: Final = "database.json"
_LZ4_FRAME_MAGIC: Final = b"\x04\x22\x4d\x18"


class SpoolFull(RuntimeError):
    """The spool is over its configured size: accepting more would risk the disk."""


class SpoolOfAnotherDatabase(RuntimeError):
    """The spool holds batches written for a different database than this process writes to."""


def database_fingerprint(database: str) -> str:
    """A stable fingerprint of a database description (one without any password)."""
    return hashlib.sha256(database.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SpoolFile:
    """One spooled batch on disk."""

    path: Path
    size: int


class Spool:
    """A directory of compressed batch files, named by a monotonic sequence number."""

    def __init__(self, directory: Path, *, max_bytes: int, database: str) -> None:
        """Open (or create) the spool in ``directory`` for ``database``, a description of the
        database without password; raises ``SpoolOfAnotherDatabase``."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.database = database
        self.directory.mkdir(parents=True, exist_ok=True)
        self.quarantine_area = Quarantine(directory, SUFFIX)
        self._lock = threading.Lock()
        self._files: dict[Path, int] = {}
        self._in_flight: set[Path] = set()
        """Files ``append`` is writing: not yet part of the spool, whatever ``rescan`` sees."""
        self._kept: dict[Path, list[SpanBatch]] = {}
        """Journaled batches also held in memory, as the requests they joined, until removed or
        evicted."""
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            self._files[path] = path.stat().st_size
        quarantined = self.quarantine_area.names()
        self._claim_for(database, holds_batches=bool(self._files or quarantined))
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a write that never completed was never acknowledged
        names = [path.name for path in self._files] + quarantined
        # quarantined names count too: a batch released from quarantine keeps its name
        self._sequence = max((int(name.removesuffix(SUFFIX)) for name in names), default=0)
        self.quarantined_count = len(quarantined)

    def _claim_for(self, database: str, *, holds_batches: bool) -> None:
        identity = self.directory / IDENTITY_FILE
        fingerprint = database_fingerprint(database)
        try:
            recorded = json.loads(identity.read_bytes())
            recorded_database = str(recorded["database"])
            recorded_fingerprint = str(recorded["fingerprint"])
        except FileNotFoundError:
            recorded_database = recorded_fingerprint = ""
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SpoolOfAnotherDatabase(
                f"spool {self.directory}: {IDENTITY_FILE} is not readable ({error}); it should "
                f'hold {{"database": ..., "fingerprint": ...}}'
            ) from None
        if recorded_fingerprint == fingerprint:
            return
        if recorded_fingerprint and holds_batches:
            raise SpoolOfAnotherDatabase(
                f"spool {self.directory} holds batches written for the database "
                f"{recorded_database} (fingerprint {recorded_fingerprint}), not for "
                f"{database} (fingerprint {fingerprint}) that this service writes to: start "
                f"syncsight against {recorded_database} to replay them, or set "
                "SYNCSIGHT_SPOOL_DIR to another directory"
            )
        if holds_batches:
            logger.warning(
                "spool %s records no database; adopting its batches for %s",
                self.directory,
                database,
            )
        write_durably(
            identity, json.dumps({"database": database, "fingerprint": fingerprint}).encode()
        )

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(self._files.values())

    @property
    def file_count(self) -> int:
        with self._lock:
            return len(self._files)

    @property
    def kept_rows(self) -> int:
        """Rows of the spooled batches held in memory."""
        with self._lock:
            return sum(part.row_count for parts in self._kept.values() for part in parts)

    @property
    def kept_count(self) -> int:
        with self._lock:
            return len(self._kept)

    def kept_parts(self, spooled: SpoolFile) -> list[SpanBatch] | None:
        """The requests a journaled batch joined, while it is held in memory."""
        with self._lock:
            return self._kept.get(spooled.path)

    def evict(self) -> None:
        """Stop holding spooled batches in memory: they are read from disk when replayed."""
        with self._lock:
            self._kept.clear()

    def is_full(self) -> bool:
        return self.size_bytes >= self.max_bytes

    def append(self, batch: SpanBatch) -> SpoolFile:
        """Write ``batch`` durably (file and directory fsynced) or raise; never half-visible."""
        return self.journal([batch], keep=False)

    def journal(self, parts: list[SpanBatch], *, keep: bool) -> SpoolFile:
        """Write ``parts`` (the batches of several requests) durably as one batch, with one fsync
        for all; ``keep``: hold them in memory too, for ``read`` to return without reading the
        file and for a refused batch to be split by request. Raises ``SpoolFull`` or ``OSError``."""
        if self.is_full():
            raise SpoolFull(
                f"spool {self.directory} holds {self.size_bytes} bytes, limit {self.max_bytes}"
            )
        return self._write(join_batches(parts), into_spool=True, kept=parts if keep else None)

    def _write(
        self, batch: SpanBatch, *, into_spool: bool, kept: list[SpanBatch] | None = None
    ) -> SpoolFile:
        payload = lz4.frame.compress(batch.json_lines, content_checksum=True)
        with self._lock:
            self._sequence += 1
            final = self.directory / f"{self._sequence:020d}{SUFFIX}"
            self._in_flight.add(final)
        try:
            write_durably(final, payload)
        except BaseException:
            with self._lock:
                self._in_flight.discard(final)
            raise
        with self._lock:
            self._in_flight.discard(final)
            if into_spool:
                self._files[final] = len(payload)
                if kept is not None:
                    self._kept[final] = kept
        return SpoolFile(final, len(payload))

    def rescan(self) -> None:
        """Take in batch files that appeared in the directory (released from quarantine by
        ``syncsight quarantine retry``) and recount the quarantine."""
        quarantined = len(self.quarantine_area.names())
        with self._lock:
            for path in self.directory.glob(f"*{SUFFIX}"):
                if path not in self._files and path not in self._in_flight:
                    self._files[path] = path.stat().st_size
            self.quarantined_count = quarantined

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
        with self._lock:
            kept = self._kept.get(spooled.path)
        if kept is not None:
            return join_batches(kept)
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
            self._kept.pop(spooled.path, None)

    def quarantine(self, spooled: SpoolFile, reason: str) -> None:
        """Move a batch that can never be stored aside so it stops blocking the replay, keeping it
        with ``reason`` for a human."""
        self.quarantine_area.put(spooled.path, reason, datetime.now(UTC))
        with self._lock:
            self._files.pop(spooled.path, None)
            self._kept.pop(spooled.path, None)
            self.quarantined_count += 1
        logger.error("quarantined spool file %s: %s", spooled.path.name, reason)

    def quarantine_batch(self, batch: SpanBatch, reason: str) -> SpoolFile:
        """Write ``batch`` (never spooled) durably straight into the quarantine, whatever the
        spool's size: refusing it would only make its sender retry it."""
        written = self._write(batch, into_spool=False)
        self.quarantine_area.put(written.path, reason, datetime.now(UTC))
        with self._lock:
            self.quarantined_count += 1
        logger.error("quarantined %d spans as %s: %s", batch.row_count, written.path.name, reason)
        return written
