"""Odometry-consistent map->odom updates: a fix that moves map->odom by more than a threshold
from the current estimate is held, and only taken once `agree_count` of the last
2 * agree_count - 1 held fixes agree with it (a majority: the robot was really somewhere else, a
kidnapping, a wrong initial pose or a wrong first fix); a lone outlier (a repeated structure, a
view of another room) never reaches /tf. A majority rather than a run of consecutive fixes:
with a wrong estimate, outliers interleaved with good fixes would otherwise break every run and
keep the wrong estimate for ever (seen in CI: the first fix was an odometry glitch, then two
frames in five were glitched and no three good fixes came in a row).

ROS-free, as nav2_amcl keeps its filter apart from its node; the node owns one per map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scr_localizer.geometry.transforms import invert_pose, rotation_angle_deg

ACCEPTED, HELD, TAKEN_OVER = "accepted", "held", "taken_over"


@dataclass(frozen=True)
class GateConfig:
    max_translation_m: float = 0.5  # <= 0: no gate (every fix is taken)
    max_rotation_deg: float = 15.0
    agree_count: int = 3  # agreeing held fixes (of the last 2 * agree_count - 1) that take over


def moved(a_from_b: np.ndarray, c_from_b: np.ndarray) -> tuple[float, float]:
    """(metres, degrees) between two estimates of the same transform."""
    delta = invert_pose(a_from_b) @ c_from_b
    return float(np.linalg.norm(delta[:3, 3])), rotation_angle_deg(delta[:3, :3])


class FixGate:
    """Feed every fix's map_from_odom to `offer`; publish it only when it says so."""

    def __init__(self, config: GateConfig):
        self.config = config
        self.estimate: np.ndarray | None = None
        self._held: list[np.ndarray] = []
        self.held_count = 0  # fixes held back (not published when they arrived)
        self.rejected_count = 0  # held fixes dropped: a consistent fix came before they agreed
        self.taken_over_count = 0  # times agreeing held fixes replaced the estimate

    def _close(self, a: np.ndarray, b: np.ndarray) -> bool:
        metres, degrees = moved(a, b)
        return metres <= self.config.max_translation_m and degrees <= self.config.max_rotation_deg

    def seed(self, map_from_odom: np.ndarray) -> None:
        """A pose given from outside (initialpose): the estimate fixes are checked against."""
        self.estimate = np.asarray(map_from_odom, dtype=np.float64)
        self.rejected_count += len(self._held)
        self._held = []

    def offer(self, map_from_odom: np.ndarray) -> str:
        """ACCEPTED (consistent, or no estimate yet), HELD, or TAKEN_OVER (agree_count of the
        recent held fixes, this one included, agree with it: the estimate jumps to this one)."""
        fix = np.asarray(map_from_odom, dtype=np.float64)
        if (self.estimate is None or self.config.max_translation_m <= 0
                or self._close(self.estimate, fix)):
            self.rejected_count += len(self._held)
            self._held = []
            self.estimate = fix
            return ACCEPTED
        agree_count = max(self.config.agree_count, 1)
        self._held.append(fix)
        window = 2 * agree_count - 1
        if len(self._held) > window:
            self.rejected_count += len(self._held) - window
            self._held = self._held[-window:]
        if sum(self._close(held, fix) for held in self._held) >= agree_count:
            self._held = []
            self.estimate = fix
            self.taken_over_count += 1
            return TAKEN_OVER
        self.held_count += 1
        return HELD
