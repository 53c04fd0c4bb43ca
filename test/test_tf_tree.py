"""TfTree: chaining, interpolation against an analytic trajectory, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.tf_tree import TfTree
from scr_localizer.geometry.transforms import invert_pose, pose_error, pose_matrix

SECOND = 10**9
T0 = 100 * SECOND  # stamp 0 means "latest" (as in tf2), so the trajectory starts later


def map_from_base(t: float) -> np.ndarray:
    """Constant-speed motion: translation linear in t, rotation about a fixed axis linear in t."""
    return pose_matrix(axangle2mat([0.2, 0.3, 1.0], 0.4 * t), [0.5 * t, -0.2 * t, 0.1])


BASE_FROM_CAMERA = pose_matrix(axangle2mat([1, 0, 0], -np.pi / 2), [0.1, 0.02, 0.3])
CAMERA_FROM_OPTICAL = pose_matrix(axangle2mat([0, 0, 1], -np.pi / 2), [0, 0, 0])


def build_tree(cache_time_s=None) -> TfTree:
    tree = TfTree(cache_time_s=cache_time_s)
    tree.add_transform("base", "camera", 0, BASE_FROM_CAMERA, static=True)
    tree.add_transform("camera", "optical", 0, CAMERA_FROM_OPTICAL, static=True)
    for i in range(11):  # 10 Hz samples over one second
        tree.add_transform("map", "base", T0 + i * SECOND // 10, map_from_base(i / 10))
    tree.add_transform("base", "lidar", 0, pose_matrix(np.eye(3), [0, 0, 1]), static=True)
    return tree


def test_interpolation_matches_analytic_trajectory_through_a_chain():
    tree = build_tree()
    for t in np.linspace(0.0, 1.0, 23):
        stamp = T0 + int(round(t * SECOND))
        truth = map_from_base((stamp - T0) / SECOND) @ BASE_FROM_CAMERA @ CAMERA_FROM_OPTICAL
        metres, degrees = pose_error(tree.lookup("map", "optical", stamp), truth)
        assert metres < 1e-7 and degrees < 1e-4  # slerp falls back to nlerp for tiny arcs
    # the inverse direction and a lookup between two branches through their common ancestor
    stamp = T0 + 333_000_000
    optical_from_map = tree.lookup("optical", "map", stamp)
    np.testing.assert_allclose(optical_from_map, invert_pose(tree.lookup("map", "optical", stamp)))
    lidar_from_optical = tree.lookup("lidar", "optical", stamp)
    expected = invert_pose(pose_matrix(np.eye(3), [0, 0, 1])) @ BASE_FROM_CAMERA @ CAMERA_FROM_OPTICAL
    np.testing.assert_allclose(lidar_from_optical, expected, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("optical", "optical", stamp), np.eye(4))


def test_latest_and_out_of_order_samples():
    tree = TfTree(cache_time_s=None)
    tree.add_transform("map", "base", T0 + 2 * SECOND, map_from_base(2.0))
    tree.add_transform("map", "base", T0, map_from_base(0.0))
    tree.add_transform("map", "base", T0 + SECOND, map_from_base(1.0))
    np.testing.assert_allclose(tree.lookup("map", "base"), map_from_base(2.0))
    np.testing.assert_allclose(tree.lookup("map", "base", 0), map_from_base(2.0))
    metres, _ = pose_error(tree.lookup("map", "base", T0 + SECOND // 2), map_from_base(0.5))
    assert metres < 1e-7


def test_extrapolation_refused_beyond_tolerance():
    tree = build_tree()
    late = T0 + int(1.04 * SECOND)
    assert tree.can_transform("map", "optical", late, tolerance_s=0.05)
    np.testing.assert_allclose(
        tree.lookup("map", "base", late, tolerance_s=0.05), map_from_base(1.0)
    )
    with pytest.raises(ScrLocalizerError) as info:
        tree.lookup("map", "optical", T0 + int(1.2 * SECOND), tolerance_s=0.05)
    message = str(info.value)
    assert "'map'" in message and "'optical'" in message and "100.000..101.000" in message
    assert "\n" not in message
    assert not tree.can_transform("map", "optical", T0 - SECOND, tolerance_s=0.05)


def test_missing_link_names_both_frames_and_known_frames():
    tree = build_tree()
    tree.add_transform("odom", "wheel", 0, np.eye(4), static=True)
    with pytest.raises(ScrLocalizerError, match=r"between 'map' and 'wheel' \(they are in separate"):
        tree.lookup("map", "wheel", 0)
    with pytest.raises(ScrLocalizerError, match=r"'camera_link'.*not in the tree.*known frames: base, camera"):
        tree.lookup("map", "camera_link", 0)
    assert tree.frames() == ["base", "camera", "lidar", "map", "odom", "optical", "wheel"]


def test_cache_time_prunes_old_samples_and_loops_are_refused():
    tree = build_tree(cache_time_s=0.25)
    assert tree.time_range("base") == (T0 + SECOND * 8 // 10, T0 + SECOND)
    with pytest.raises(ScrLocalizerError, match="loop"):
        tree.add_transform("optical", "map", 0, np.eye(4), static=True)
    assert "map\n  base  [3 samples" in tree.tree_text()
