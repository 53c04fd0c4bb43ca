"""Write-then-rename, so a reader (or a crash) never sees a half-written map, report or table.

Temp files are named `.NAME.PID.XXXXXXXX.tmp` beside the target. One that a killed writer left
behind (its PID no longer runs) is removed by the next write of the same target. Files get the
mode an ordinary `open()` would give them (0666 minus the umask), not mkstemp's 0600, so a node
running as another user can read a map. Write failures (read-only place, disk full, a folder in
the way) become one-line ScrLocalizerErrors naming the file; `check_writable` finds the common
ones before a long job starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError


def _umask() -> int:
    """The process umask without changing it (os.umask sets it, racing other threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete `.NAME.PID.*.tmp` files whose writer is gone (killed during a write)."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")) or not entry.is_file(
                    follow_symlinks=False):
                continue
            pid = name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and (int(pid) == os.getpid() or _pid_running(int(pid))):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _new_temp(path: Path) -> str:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
    finally:
        os.close(handle)
    return temp


def check_writable(path: str | Path, what: str = "output", min_free_bytes: int = 0) -> Path:
    """Fail now, in one line, if `path` could not be written later: it is a folder, its folder is
    missing or not writable (a temp file is created and removed to know for sure), or fewer than
    `min_free_bytes` are free there."""
    path = Path(path)
    if path.is_dir():
        raise ScrLocalizerError(f"{what} '{path}' is a folder; expected a file name")
    parent = path.parent
    if not parent.is_dir():
        state = "is not a folder" if parent.exists() else "does not exist"
        raise ScrLocalizerError(f"output folder '{parent}' {state}")
    try:
        os.unlink(_new_temp(path))
    except OSError as exc:
        raise ScrLocalizerError(f"cannot write {what} '{path}': {_reason(exc)}") from None
    if min_free_bytes > 0:
        free = shutil.disk_usage(parent).free
        if free < min_free_bytes:
            raise ScrLocalizerError(
                f"cannot write {what} '{path}': {free / 1e6:.1f} MB free in '{parent}', "
                f"expected at least {min_free_bytes / 1e6:.1f} MB")
    return path


def check_writable_folder(path: str | Path, what: str = "output folder") -> Path:
    """Like check_writable for a folder that will be created (with its parents) if missing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ScrLocalizerError(f"{what} '{path}' is a file; expected a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ScrLocalizerError(f"{what} '{path}' cannot be created: '{existing}' is a file")
    check_writable(existing / ".scr_localizer_probe", what)
    return path


@contextlib.contextmanager
def atomic_temp_path(path: str | Path) -> Iterator[Path]:
    """A temp file beside `path` (same filesystem, so the rename is atomic) for a writer that
    wants a file name; it replaces `path` only if the block finishes without an exception."""
    path = Path(path)
    _remove_stale_temps(path)
    try:
        temp = _new_temp(path)
    except OSError as exc:
        raise ScrLocalizerError(f"cannot write '{path}': {_reason(exc)}") from None
    try:
        yield Path(temp)
        os.replace(temp, path)
    except OSError as exc:
        raise ScrLocalizerError(f"cannot write '{path}': {_reason(exc)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator:
    """Like open(path, mode) for writing, but the data lands under `path` only once complete and
    flushed to disk (fsync before the rename)."""
    with atomic_temp_path(path) as temp:
        try:
            with open(temp, mode) as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise ScrLocalizerError(f"cannot write '{path}': {_reason(exc)}") from None
