"""The localization node's /diagnostics: named problems, the problems only visible over time
(inputs never arriving, stalled, never synchronizing, frames going stale) and the status message.

Levels are diagnostic_msgs/DiagnosticStatus values (OK 0, WARN 1, ERROR 2); the status is the
worst active problem, and its message lists them, so an operator reads what is wrong and where.
"""

from __future__ import annotations

import threading
import time

from scr_localizer.localization.frame_processor import ERROR, OK, WARN

LOG_REPEAT_S = 10.0


class Problems:
    """Named, currently active problems (level + one-line message), thread-safe.

    `set` logs a problem when it is new or its message changed, and repeats it at most every
    LOG_REPEAT_S; `clear` logs that it recovered."""

    def __init__(self, logger):
        self._logger = logger
        self._lock = threading.Lock()
        self._active: dict[str, tuple[int, str]] = {}
        self._logged: dict[str, tuple[str, float]] = {}

    def set(self, key: str, level: int, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._active[key] = (level, message)
            last = self._logged.get(key)
            if last is not None and last[0] == message and now - last[1] < LOG_REPEAT_S:
                return
            self._logged[key] = (message, now)
        # rclpy wants one severity per call site, hence two calls.
        if level >= ERROR:
            self._logger.error(message)
        else:
            self._logger.warning(message)

    def clear(self, *keys: str) -> None:
        for key in keys:
            with self._lock:
                gone = self._active.pop(key, None)
                self._logged.pop(key, None)
            if gone is not None:
                self._logger.info(f"recovered: {gone[1]}")

    def apply(self, changes: dict[str, tuple[int, str] | None]) -> None:
        """Set (level, message) or clear (None) problems, in order (a FrameResult's problems)."""
        for key, value in changes.items():
            if value is None:
                self.clear(key)
            else:
                self.set(key, *value)

    def snapshot(self) -> dict[str, tuple[int, str]]:
        with self._lock:
            return dict(self._active)


def update_input_problems(problems: Problems, params: dict, inputs: list[str], enabled: bool,
                          counts: dict, received: dict, new_stale: int,
                          input_ages: dict[str, float]) -> None:
    """Problems only visible over time. `inputs` are the subscribed streams ("color", "depth",
    "camera_info"); `input_ages` the seconds since each last delivered a message."""
    rgb_only = "depth" not in inputs
    if new_stale > 0:
        problems.set("stale", WARN, f"dropped {new_stale} frame(s) older than "
                     f"max_frame_age_s={params['max_frame_age_s']} s (clock mismatch, "
                     "use_sim_time without /clock, or processing too slow)")
    else:
        problems.clear("stale")
    if not enabled:
        problems.clear("no_images", "no_camera_info", "no_depth", "no_sync", "stalled")
        return
    topics = {"color": params["color_topic"], "depth": params["depth_topic"],
              "camera_info": params["camera_info_topic"]}
    timeout = float(params["input_stall_timeout_s"])
    # One problem naming every stalled input: a dead camera driver stalls all three, and the
    # one reported first would otherwise depend on which message happened to come last.
    # The ages themselves go to the values (a message changing every period would be logged
    # every period).
    stalled = [topics[key] for key in inputs
               if input_ages.get(key) is not None and input_ages[key] > timeout]
    if stalled:
        problems.set("stalled", WARN,
                     f"input stalled: nothing new on {', '.join(stalled)} for over {timeout:g} s "
                     "(input_stall_timeout_s); is its publisher still running?")
    else:
        problems.clear("stalled")
    conditions = {
        "no_images": (received["color"] == 0, f"no images on {params['color_topic']} yet"),
        "no_camera_info": (received["color"] > 0 and received["camera_info"] == 0,
                           f"no CameraInfo received on {params['camera_info_topic']} yet"),
        "no_depth": (not rgb_only and received["color"] > 0 and received["depth"] == 0,
                     f"no depth received on {params['depth_topic']} yet (set depth_topic to '' "
                     "for RGB-only)"),
        "no_sync": (counts["synchronized"] == 0 and received["color"] > 0
                    and received["camera_info"] > 0 and (rgb_only or received["depth"] > 0),
                    "colour, depth and CameraInfo arrive but never synchronize within "
                    f"sync_slop_s={params['sync_slop_s']} s; expected equal or close stamps"),
    }
    for key, (active, message) in conditions.items():
        if active:
            problems.set(key, WARN, message)
        else:
            problems.clear(key)


def status_message(name: str, hardware_id: str, enabled: bool,
                   problems: dict[str, tuple[int, str]], rate_hz: float, values: dict[str, str],
                   inactive: str = ""):
    """The node's DiagnosticStatus: worst problem's level, the problems as the message;
    `inactive`: the lifecycle state when the node is not active (nothing is published)."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    status = DiagnosticStatus()
    status.name = name
    status.hardware_id = hardware_id
    level = max((lvl for lvl, _ in problems.values()), default=OK)
    status.level = bytes([level]) if isinstance(DiagnosticStatus.OK, bytes) else level
    parts = [f"inactive (lifecycle state '{inactive}')"] if inactive else []
    parts += [] if enabled else ["paused (~/enable)"]
    parts += [message for _, message in problems.values()]
    status.message = "; ".join(parts) or f"localizing at {rate_hz:.1f} Hz"
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    return status
