"""Batches ClickHouse refused for their data, set aside next to the spool with the engine's reason:
they no longer hold later spans back, and an operator lists them, sends them back to the spool (after
a fix) or drops them with ``syncsight quarantine``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from collector.durable_files import fsync_directory, write_durably

DIRECTORY_NAME: Final = "quarantine"
REASON_SUFFIX: Final = ".reason.json"


class NotQuarantined(ValueError):
    """A name that is not a batch in the quarantine."""


@dataclass(frozen=True)
class QuarantinedBatch:
    """One batch set aside: its spool file name, size, and why."""

    name: str
    path: Path
    size: int
    reason: str
    quarantined_at: datetime | None


class Quarantine:
    """The ``quarantine`` directory of one spool directory."""

    def __init__(self, spool_directory: Path, batch_suffix: str) -> None:
        self.spool_directory = spool_directory
        self.directory = spool_directory / DIRECTORY_NAME
        self.batch_suffix = batch_suffix

    def put(self, batch_file: Path, reason: str, now: datetime) -> Path:
        """Move ``batch_file`` (a complete, fsynced spool file) in, with ``reason`` beside it."""
        self.directory.mkdir(exist_ok=True)
        target = self.directory / batch_file.name
        record = {"reason": reason, "quarantined_at": now.isoformat()}
        write_durably(self._reason_path(target), json.dumps(record).encode())
        batch_file.rename(target)
        fsync_directory(self.directory)
        fsync_directory(batch_file.parent)
        return target

    def batches(self) -> list[QuarantinedBatch]:
        """Every quarantined batch, oldest first."""
        if not self.directory.is_dir():
            return []
        return [self._describe(path) for path in sorted(self._batch_paths())]

    def names(self) -> list[str]:
        return sorted(path.name for path in self._batch_paths())

    def release(self, name: str) -> Path:
        """Move the batch ``name`` back into the spool, where the service replays it; its path."""
        path = self.path_of(name)
        target = self.spool_directory / path.name
        path.rename(target)
        fsync_directory(self.spool_directory)
        self._reason_path(path).unlink(missing_ok=True)
        return target

    def drop(self, name: str) -> None:
        """Delete the batch ``name`` and its reason for good."""
        path = self.path_of(name)
        path.unlink()
        self._reason_path(path).unlink(missing_ok=True)

    def _batch_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return list(self.directory.glob(f"*{self.batch_suffix}"))

    def path_of(self, name: str) -> Path:
        """The file of the quarantined batch ``name``; raises ``NotQuarantined``."""
        path = self.directory / name
        if path.parent != self.directory or not path.name.endswith(self.batch_suffix):
            raise NotQuarantined(
                f"{name!r} is not a quarantined batch name: expected a file name ending in "
                f"{self.batch_suffix!r} as `syncsight quarantine list` shows"
            )
        if not path.is_file():
            raise NotQuarantined(f"no quarantined batch {name!r} in {self.directory}")
        return path

    def _reason_path(self, batch_path: Path) -> Path:
        return batch_path.with_name(batch_path.name + REASON_SUFFIX)

    def _describe(self, path: Path) -> QuarantinedBatch:
        reason, when = "unknown (no reason file)", None
        try:
            record = json.loads(self._reason_path(path).read_bytes())
            reason = str(record["reason"])
            when = datetime.fromisoformat(record["quarantined_at"]).astimezone(UTC)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a batch quarantined by an older version has no reason file
        return QuarantinedBatch(path.name, path, path.stat().st_size, reason, when)
