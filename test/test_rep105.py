"""map->odom stamp rule and two_d_mode's planar restriction (ROS-free)."""

import numpy as np

from scr_localizer.geometry.rep105 import map_to_odom_stamp, planar_pose
from scr_localizer.geometry.transforms import pose_from_translation_quaternion


def test_stamps_never_decrease_when_a_fix_lands_behind_a_republish():
    tolerance = 200_000_000
    # re-publish at now=10 s + tolerance, then a fix from an image taken at 9.9 s
    republished = map_to_odom_stamp(10_000_000_000 + tolerance, None)
    fix = map_to_odom_stamp(9_900_000_000 + tolerance, republished)
    assert fix == republished + 1  # strictly later: tf2 drops a repeated stamp
    later = map_to_odom_stamp(10_100_000_000 + tolerance, fix)
    assert later == 10_100_000_000 + tolerance
    stamps, last = [], None
    for candidate in np.random.default_rng(0).integers(0, 10**9, 200):
        last = map_to_odom_stamp(int(candidate), last)
        stamps.append(last)
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def _rotation(axis, degrees):
    half = np.radians(degrees) / 2
    return [*(np.sin(half) * np.asarray(axis, dtype=float)), np.cos(half)]


def _zyx(yaw, pitch, roll):
    """Rz(yaw) Ry(pitch) Rx(roll), degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    return rz @ ry @ rx


def test_planar_pose_keeps_x_y_yaw_and_zeroes_z_roll_pitch():
    pose = np.eye(4)
    pose[:3, :3] = _zyx(35.0, 4.0, -3.0)
    pose[:3, 3] = [1.5, -2.0, 0.07]
    planar = planar_pose(pose)
    assert np.allclose(planar[:3, 3], [1.5, -2.0, 0.0])
    assert np.allclose(planar[:3, :3], _zyx(35.0, 0.0, 0.0))
    # a pose that is already planar is unchanged
    flat = pose_from_translation_quaternion([0.3, 0.4, 0.0], _rotation([0, 0, 1], -120.0))
    assert np.allclose(planar_pose(flat), flat)


def test_smoothing_moves_map_to_odom_part_way_and_reports_the_body_through_it():
    from scr_localizer.geometry.rep105 import compose_map_outputs, smoothed_outputs
    from scr_localizer.geometry.transforms import invert_pose, pose_from_translation_quaternion

    odom_from_body = pose_from_translation_quaternion([1.0, 2.0, 0.0], [0, 0, 0.2, 0.98])
    previous = np.eye(4)
    fix_map_from_odom = pose_from_translation_quaternion([0.4, 0.0, 0.0], [0, 0, 0, 1])
    out = compose_map_outputs("map", "odom", "base_link",
                              fix_map_from_odom @ odom_from_body, np.eye(4), odom_from_body)
    smoothed = smoothed_outputs(out, previous, keep=0.75)
    np.testing.assert_allclose(smoothed.map_from_odom[:3, 3], [0.1, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(smoothed.parent_from_child, smoothed.map_from_odom)
    np.testing.assert_allclose(invert_pose(smoothed.map_from_odom) @ smoothed.map_from_body,
                               odom_from_body, atol=1e-12)
    np.testing.assert_allclose(smoothed_outputs(out, previous, keep=0.0).map_from_odom,
                               out.map_from_odom, atol=1e-12)
