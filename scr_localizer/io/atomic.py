"""Write-then-rename, so a reader (or a crash) never sees a half-written map, report or table."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_temp_path(path: str | Path) -> Iterator[Path]:
    """A temp file beside `path` (same filesystem, so the rename is atomic) for a writer that
    wants a file name; it replaces `path` only if the block finishes without an exception."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temp)
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator:
    """Like open(path, mode) for writing, but the data lands under `path` only once complete and
    flushed to disk (fsync before the rename)."""
    with atomic_temp_path(path) as temp, open(temp, mode) as stream:
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
