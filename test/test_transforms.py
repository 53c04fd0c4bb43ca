"""Pose errors: rotation angles that a slightly non-orthonormal ground truth does not inflate."""

import numpy as np
import pytest
import transforms3d.euler as te

from scr_localizer.geometry.transforms import nearest_rotation, pose_error, rotation_angle_deg
from scr_localizer.io.seven_scenes import iter_frames


def _pose(rotation, translation=(0.0, 0.0, 0.0)):
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, translation
    return pose


@pytest.mark.parametrize("angle_deg", [0.05, 2.5, 90.0, 179.0])
def test_known_rotation_errors(angle_deg):
    base = te.euler2mat(0.3, -0.2, 0.1)
    moved = base @ te.euler2mat(0.0, np.radians(angle_deg), 0.0)
    translation_m, rotation_deg = pose_error(_pose(base), _pose(moved, (0.03, 0.0, 0.04)))
    assert translation_m == pytest.approx(0.05)
    assert rotation_deg == pytest.approx(angle_deg, abs=1e-9)


def test_scaled_rotation_reads_as_no_rotation():
    # A rotation scaled by 1 - 1e-4 (as 7-Scenes poses are) read ~1.4 deg with arccos(trace).
    scaled = 0.9999 * te.euler2mat(0.3, -0.2, 0.1)
    assert rotation_angle_deg(scaled.T @ scaled) < 1e-6
    assert pose_error(_pose(scaled), _pose(scaled))[1] < 1e-6
    np.testing.assert_allclose(nearest_rotation(scaled), te.euler2mat(0.3, -0.2, 0.1), atol=1e-12)


def test_redkitchen_poses_are_proper_rotations(redkitchen):
    for frame in iter_frames(redkitchen, [0, 500, 999]):
        rotation = frame.world_from_camera[:3, :3]
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
        assert max(pose_error(frame.world_from_camera, frame.world_from_camera)) < 1e-9
