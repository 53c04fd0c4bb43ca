"""PLY export of mapped points."""

from __future__ import annotations

import numpy as np
import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.model.point_cloud import read_ply, voxel_downsample, write_ply


def test_ply_round_trip_and_header(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    path = write_ply(tmp_path / "cloud.ply", xyz, rgb)
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    got_xyz, got_rgb = read_ply(path)
    np.testing.assert_array_equal(got_xyz, xyz)
    np.testing.assert_array_equal(got_rgb, rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["cloud.ply"]


def test_ply_bad_inputs(tmp_path):
    with pytest.raises(ScrLocalizerError, match="3 points but 2 colours"):
        write_ply(tmp_path / "a.ply", np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(ScrLocalizerError, match="does not exist"):
        write_ply(tmp_path / "missing" / "a.ply", np.zeros((3, 3)))
    assert list(tmp_path.iterdir()) == []


def test_voxel_downsample_keeps_one_point_per_voxel():
    xyz = np.array([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [0.5, 0.5, 0.5]])
    rgb = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]], np.uint8)
    out_xyz, out_rgb = voxel_downsample(xyz, rgb, 0.1)
    assert len(out_xyz) == 2 and out_rgb[:, 0].tolist() == [1, 3]
