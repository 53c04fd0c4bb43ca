"""One orderly shutdown on SIGINT or SIGTERM, in whatever phase a node is.

rclpy's own handlers shut the context down and then raise KeyboardInterrupt wherever the main
thread happens to be. Ctrl-C in a terminal reaches the whole process group and `ros2 launch`
then sends its own SIGINT, so the second one often landed in the node's cleanup: a traceback
and "process has died, exit code -2". And a process that ends while a daemon thread is still
inside torch (the map loader) can abort during interpreter finalization (exit -6).

So the nodes start rclpy without its handlers and install these: the first signal sets a flag
that the spin loop checks (or, while `raising` is on, raises Interrupted once, for work that
runs outside the executor, such as training a map); later signals are ignored. `exit_now`
ends the process without interpreter finalization when a worker thread could not be joined.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The first SIGINT/SIGTERM while `ShutdownSignals.raising` is on."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ShutdownSignals:
    def __init__(self):
        self.signum: int | None = None
        self.raising = False
        self._event = threading.Event()

    def install(self) -> ShutdownSignals:
        for signum in HANDLED:
            signal.signal(signum, self._handle)
        return self

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            return  # already shutting down: a second Ctrl-C or launch's own SIGINT/SIGTERM
        self.signum = signum
        self._event.set()
        if self.raising:
            raise Interrupted(signum)


def init_rclpy(args) -> ShutdownSignals:
    """rclpy.init without rclpy's signal handlers (Humble and later accept the option), ours
    installed first, so that from here on no phase is left to the default SIGINT handler."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    signals = ShutdownSignals().install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    return signals


def shutdown_rclpy() -> None:
    """rclpy.try_shutdown, as the last step before the process exits; from then on SIGINT and
    SIGTERM are ignored. Otherwise a second Ctrl-C (or launch's SIGINT after the terminal's)
    arriving during interpreter finalization, which restores the default handlers and with
    torch loaded takes a while, killed the process (exit -2) after a clean shutdown."""
    import rclpy

    rclpy.try_shutdown()
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def exit_now(status: int) -> None:
    """Leave at once (no interpreter finalization, which a thread still running in C++ code can
    crash); for when a worker thread did not finish in time."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
