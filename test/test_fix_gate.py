"""The odometry-consistency gate: outliers held, agreeing jumps taken after agree_count."""

import numpy as np

from scr_localizer.geometry.transforms import pose_from_translation_quaternion
from scr_localizer.localization.fix_gate import (
    ACCEPTED,
    HELD,
    TAKEN_OVER,
    FixGate,
    GateConfig,
)


def _pose(x, y=0.0, yaw_deg=0.0):
    half = np.radians(yaw_deg) / 2
    return pose_from_translation_quaternion([x, y, 0.0], [0.0, 0.0, np.sin(half), np.cos(half)])


def test_lone_outlier_is_held_then_dropped():
    gate = FixGate(GateConfig(max_translation_m=0.5, max_rotation_deg=15.0, agree_count=3))
    assert gate.offer(_pose(0.0)) == ACCEPTED  # no estimate yet
    assert gate.offer(_pose(0.1)) == ACCEPTED
    assert gate.offer(_pose(3.0)) == HELD  # 2.9 m jump
    assert gate.offer(_pose(0.0, yaw_deg=40.0)) == HELD  # rotation jump, disagrees with 3.0
    assert gate.rejected_count == 0  # both still held: either could be the start of a majority
    assert gate.offer(_pose(0.15)) == ACCEPTED
    assert (gate.held_count, gate.rejected_count, gate.taken_over_count) == (2, 2, 0)
    assert np.allclose(gate.estimate, _pose(0.15))


def test_agreeing_fixes_take_over_after_agree_count():
    gate = FixGate(GateConfig(max_translation_m=0.5, max_rotation_deg=15.0, agree_count=3))
    gate.seed(_pose(0.0))  # e.g. a wrong initialpose
    assert [gate.offer(_pose(2.0 + 0.05 * i)) for i in range(4)] == [HELD, HELD, TAKEN_OVER,
                                                                     ACCEPTED]
    assert np.allclose(gate.estimate, _pose(2.15))
    assert (gate.held_count, gate.rejected_count, gate.taken_over_count) == (2, 0, 1)


def test_a_wrong_first_fix_is_replaced_despite_interleaved_outliers():
    """Measured in CI: the first fix came from an odometry glitch, then two frames in five were
    glitched (each further off): no three good fixes came in a row, yet a majority of the last
    five held ones agree, so the good pose takes over and the glitches never do."""
    gate = FixGate(GateConfig(max_translation_m=0.5, max_rotation_deg=15.0, agree_count=3))
    assert gate.offer(_pose(1.5)) == ACCEPTED  # glitched first fix
    glitch = iter(2.1 + 0.6 * i for i in range(100))
    outcomes = [gate.offer(_pose(next(glitch) if i % 5 in (0, 2) else 0.01 * (i % 3)))
                for i in range(1, 30)]
    assert TAKEN_OVER in outcomes[:4]  # frames 1, 3, 4 of the first five agree
    assert outcomes.count(TAKEN_OVER) == 1
    assert abs(gate.estimate[0, 3]) < 0.05
    assert all(o == HELD for i, o in enumerate(outcomes, start=1) if i % 5 in (0, 2) and i > 4)


def test_held_fixes_beyond_the_window_are_dropped():
    gate = FixGate(GateConfig(max_translation_m=0.5, max_rotation_deg=15.0, agree_count=2))
    gate.seed(_pose(0.0))
    assert [gate.offer(_pose(2.0 * i)) for i in range(1, 6)] == [HELD] * 5  # none agree
    assert gate.rejected_count == 2  # window of 3 held fixes
    assert gate.offer(_pose(10.1)) == TAKEN_OVER  # agrees with the last held one


def test_zero_translation_threshold_disables_the_gate():
    gate = FixGate(GateConfig(max_translation_m=0.0))
    assert [gate.offer(_pose(x)) for x in (0.0, 5.0, -5.0)] == [ACCEPTED] * 3
