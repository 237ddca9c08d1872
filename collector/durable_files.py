"""Writing a file so that it survives a crash whole or not at all: the spool and its quarantine."""

from __future__ import annotations

import os
from pathlib import Path


def write_durably(path: Path, payload: bytes) -> None:
    """``payload`` at ``path``, fsynced, renamed into place and the directory fsynced: a crash leaves
    either the whole file or only a ``*.tmp`` file, which readers ignore."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.rename(path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make renames and deletions inside ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
