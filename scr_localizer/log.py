"""One package logger: the core logs to `scr_localizer.*` loggers; the CLI prints them on the
terminal and the nodes forward them to the rclpy logger (so they reach /rosout and the launch
log). Progress bars are for terminals only."""

from __future__ import annotations

import logging
import sys

ROOT = "scr_localizer"


def get_logger(name: str = ROOT) -> logging.Logger:
    """The logger for a module (`get_logger(__name__)`) under the package's root logger."""
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")


def interactive(stream=None) -> bool:
    """Whether progress bars make sense: the stream is a terminal (not a pipe, log or CI)."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class _PlainFormatter(logging.Formatter):
    """INFO as the bare message (what a command-line tool prints), other levels prefixed."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname.lower()}: {message}"


class _CurrentStdout(logging.Handler):
    """Writes to whatever sys.stdout is when a record comes (a CLI run inside a test harness or
    a notebook may swap it between calls)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never take the caller down
            self.handleError(record)


def log_to_stdout(level: int = logging.INFO) -> logging.Handler:
    """Print the package's log on stdout (the CLI's output); idempotent, returns the handler."""
    root = logging.getLogger(ROOT)
    handler = next((h for h in root.handlers if isinstance(h, _CurrentStdout)), None)
    if handler is None:
        handler = _CurrentStdout()
        handler.setFormatter(_PlainFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    return handler


class ForwardHandler(logging.Handler):
    """Hands each record to a callable per level, e.g. an rclpy node's logger methods."""

    def __init__(self, info, warning=None, error=None, debug=None):
        super().__init__()
        self._by_level = [(logging.ERROR, error or info), (logging.WARNING, warning or info),
                          (logging.INFO, info), (logging.NOTSET, debug or info)]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            for level, method in self._by_level:
                if record.levelno >= level:
                    method(message)
                    return
        except Exception:  # noqa: BLE001 - logging must never take the caller down
            self.handleError(record)


def forward_to(target_logger, level: int = logging.INFO) -> logging.Handler:
    """Forward the package's log to an object with info/warning/error/debug methods (the rclpy
    node logger); returns the handler so the caller can remove it."""
    handler = ForwardHandler(target_logger.info, target_logger.warning, target_logger.error,
                             target_logger.debug)
    root = logging.getLogger(ROOT)
    root.addHandler(handler)
    root.setLevel(min(level, root.level or level))
    return handler


def remove(handler: logging.Handler) -> None:
    logging.getLogger(ROOT).removeHandler(handler)
