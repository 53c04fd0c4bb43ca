"""Dataset converters through the CLI: 7-Scenes (mapping/query, intrinsics options) and TUM."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from scr_localizer.cli import main
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import (
    invert_pose,
    pose_from_translation_quaternion,
    pose_matrix,
    translation_quaternion_from_pose,
)
from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader
from scr_localizer.io.bag_writer import default_map_from_odom
from scr_localizer.io.seven_scenes import iter_frames


def as_stored(pose):
    return pose_from_translation_quaternion(*translation_quaternion_from_pose(pose))


def test_seven_scenes_mapping_and_query_bags(tmp_path, redkitchen, capsys):
    mapping, query = tmp_path / "map", tmp_path / "query"
    assert main(["convert", "7scenes", str(redkitchen), str(mapping), "--frames", "0:3,50:56:2"]) == 0
    assert main(["convert", "7scenes", str(redkitchen), str(query), "--frames", "100:103",
                 "--query", "--color-encoding", "jpeg", "--storage", "sqlite3"]) == 0
    out = capsys.readouterr().out
    assert "wrote mapping bag" in out and "6 frames" in out and "wrote query bag" in out

    expected = list(iter_frames(redkitchen, [0, 1, 2, 50, 52, 54]))
    frames = list(RGBDBagReader(mapping))
    assert [f.name for f in frames] == [f"frame-{k:06d}" for k in range(6)]
    for got, want in zip(frames, expected):
        assert np.abs(got.world_from_camera - as_stored(want.world_from_camera)).max() <= 1e-6
        assert np.array_equal(got.color, want.color)

    truth = [as_stored(f.world_from_camera) for f in iter_frames(redkitchen, [100, 101, 102])]
    with pytest.raises(ScrLocalizerError, match="no TF link between 'map'"):
        RGBDBagReader(query)  # the localizer's view: no map frame in a query bag
    by_topic = RGBDBagReader(query, BagReadConfig(ground_truth_topic="/ground_truth/pose"))
    by_odom = RGBDBagReader(query, BagReadConfig(fixed_frame="odom"))
    odom_from_map = invert_pose(default_map_from_odom())
    for gt, pose, odom_pose in zip(truth, by_topic.poses, by_odom.poses):
        assert np.abs(pose - gt).max() <= 1e-6
        assert np.abs(odom_pose - odom_from_map @ gt).max() <= 1e-6


def test_seven_scenes_intrinsics_options(tmp_path, redkitchen):
    """A 3x3 camera-intrinsics.txt for depth and --raw-depth give the default registration."""
    default, raw = tmp_path / "default", tmp_path / "raw"
    assert main(["convert", "7scenes", str(redkitchen), str(default), "--frames", "10:12"]) == 0
    assert main(["convert", "7scenes", str(redkitchen), str(raw), "--frames", "10:12",
                 "--raw-depth", "--depth-intrinsics", str(redkitchen / "camera-intrinsics.txt"),
                 "--color-intrinsics", "525,525,320,240"]) == 0
    raw_reader = RGBDBagReader(raw)
    assert raw_reader.registers_depth and not RGBDBagReader(default).registers_depth
    for a, b in zip(RGBDBagReader(default), raw_reader):
        assert a.camera == b.camera and np.array_equal(a.depth > 0, b.depth > 0)
        assert np.abs(a.depth - b.depth).max() <= 0.0005 + 1e-6
    aligned = tmp_path / "aligned"
    assert main(["convert", "7scenes", str(redkitchen), str(aligned), "--frames", "10:11",
                 "--depth-aligned", "--color-intrinsics", "600"]) == 0
    (frame,) = list(RGBDBagReader(aligned))
    assert (frame.camera.fx, frame.camera.cx) == (600.0, 320.0)
    want = next(iter_frames(redkitchen, [10]))  # raw depth, unregistered: same valid pixels
    raw_mm = cv2.imread(str(redkitchen / "frame-000010.depth.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(frame.depth > 0, (raw_mm > 0) & (raw_mm < 65535))
    assert want.depth is not None


def trajectory(t: float) -> np.ndarray:
    return pose_matrix(axangle2mat([0.0, 1.0, 0.2], 0.3 * t), [0.2 * t, 0.0, 1.0 - 0.1 * t])


def test_tum_layout_with_association_and_interpolated_ground_truth(tmp_path, redkitchen, capsys):
    folder = tmp_path / "rgbd_dataset_freiburg1_test"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    t0 = 1305031102.175304
    rgb_lines, depth_lines, gt_lines = ["# rgb"], ["# depth"], ["# ground truth"]
    for k in range(4):
        image = cv2.imread(str(redkitchen / f"frame-{k:06d}.color.jpg"))
        mm = cv2.imread(str(redkitchen / f"frame-{k:06d}.depth.png"), cv2.IMREAD_UNCHANGED)
        stamp = t0 + k / 30
        cv2.imwrite(str(folder / "rgb" / f"{stamp:.6f}.png"), image)
        rgb_lines.append(f"{stamp:.6f} rgb/{stamp:.6f}.png")
        if k != 2:  # frame 2 has no depth within 0.02 s and must be skipped
            dstamp = stamp + 0.011
            cv2.imwrite(str(folder / "depth" / f"{dstamp:.6f}.png"),
                        np.where(mm < 65535, mm, 0).astype(np.uint16) * 5)
            depth_lines.append(f"{dstamp:.6f} depth/{dstamp:.6f}.png")
    for j in range(-2, 16):  # 100 Hz ground truth around the images
        t = j / 100
        position, q = translation_quaternion_from_pose(trajectory(t))
        gt_lines.append(f"{t0 + t:.4f} " + " ".join(f"{v:.9f}" for v in (*position, *q)))
    for name, lines in (("rgb", rgb_lines), ("depth", depth_lines), ("groundtruth", gt_lines)):
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")

    out = tmp_path / "tum"
    assert main(["convert", "tum", str(folder), str(out)]) == 0
    frames = list(RGBDBagReader(out))
    assert len(frames) == 3  # the rgb image without depth is skipped
    assert frames[0].camera.fx == 517.3 and frames[0].camera.distortion_model == "plumb_bob"
    for frame, k in zip(frames, (0, 1, 3)):
        t = frame.stamp_ns * 1e-9 - t0
        assert t == pytest.approx(k / 30, abs=1e-6)
        truth = trajectory(t)
        assert np.abs(frame.world_from_camera[:3, 3] - truth[:3, 3]).max() < 1e-5
        assert np.abs(frame.world_from_camera[:3, :3] - truth[:3, :3]).max() < 1e-5
        mm = cv2.imread(str(redkitchen / f"frame-{k:06d}.depth.png"), cv2.IMREAD_UNCHANGED)
        metres = np.where(mm < 65535, mm, 0) / 1000.0
        assert np.abs(frame.depth - metres).max() <= 0.0005 + 1e-6
