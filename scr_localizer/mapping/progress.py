"""Progress of the long mapping stages: a live bar on a terminal, a log line every 30 s
elsewhere (a launch log, CI), nothing when not asked for."""

from __future__ import annotations

import time

from scr_localizer.log import get_logger, interactive

LOG = get_logger(__name__)


class LoggedProgress:
    """Where no terminal shows a bar (a log file, a launch log, CI): one log line every 30 s."""

    def __init__(self, desc: str, unit: str, total: int | None = None, interval_s: float = 30.0):
        self.desc, self.unit, self.total = desc, unit, total
        self.count, self.postfix = 0, ""
        self.interval_s = interval_s
        self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.count += n
        if time.monotonic() - self._last >= self.interval_s:
            self._last = time.monotonic()
            total = f"/{self.total}" if self.total else ""
            LOG.info(f"{self.desc}: {self.count}{total} {self.unit}{self.postfix}")

    def set_postfix(self, **values) -> None:
        self.postfix = " (" + ", ".join(f"{k} {v}" for k, v in values.items()) + ")"

    def close(self) -> None:
        pass


def progress_bar(enabled: bool, **kwargs):
    """A live bar on a terminal; elsewhere a log line every 30 s; nothing when not enabled."""
    if enabled and not interactive():
        return LoggedProgress(kwargs["desc"], kwargs["unit"], kwargs.get("total"))
    from tqdm import tqdm

    return tqdm(disable=not enabled, dynamic_ncols=True, leave=True, mininterval=0.1, **kwargs)
