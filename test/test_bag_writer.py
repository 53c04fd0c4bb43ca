"""write_rgbd_bag: topics/frames of mapping and query bags, atomic output (real rosbags bags)."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.transforms import pose_matrix
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.frames import RGBDFrame

CAMERA = PinholeCamera(32, 24, 30.0, 31.0, 15.5, 11.5)


def synthetic_frames(n=3):
    rng = np.random.default_rng(0)
    return [
        RGBDFrame(
            stamp_ns=10**18 + i * 33_000_000,
            color=rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
            camera=CAMERA,
            depth=np.full((24, 32), 1.5, np.float32),
            world_from_camera=pose_matrix(np.eye(3), [0.1 * i, 0, 0]),
            name=f"f{i}",
        )
        for i in range(n)
    ]


def topics_of(path):
    with AnyReader([path]) as reader:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}


def test_query_bag_hides_ground_truth_from_tf(tmp_path):
    out = write_rgbd_bag(
        tmp_path / "query", synthetic_frames(), BagWriteConfig(query=True, color_encoding="jpeg")
    )
    topics = topics_of(out)
    assert topics["/ground_truth/pose"] == ("geometry_msgs/msg/PoseStamped", 3)
    assert topics["/camera/camera/color/image_raw/compressed"][1] == 3
    assert topics["/tf_static"][1] == 1
    with AnyReader([out]) as reader:
        tf = [c for c in reader.connections if c.topic == "/tf"]
        parents = {
            (t.header.frame_id, t.child_frame_id)
            for _, _, raw in reader.messages(connections=tf)
            for t in reader.deserialize(raw, "tf2_msgs/msg/TFMessage").transforms
        }
    assert parents == {("odom", "camera_link")}


def test_output_is_atomic_and_not_overwritten(tmp_path):
    out = write_rgbd_bag(tmp_path / "map", synthetic_frames(), BagWriteConfig(storage="sqlite3"))
    assert (out / "map.db3").exists()
    with pytest.raises(ScrLocalizerError, match="already exists"):
        write_rgbd_bag(out, synthetic_frames(), BagWriteConfig())
    bad = synthetic_frames()
    bad[1].depth = np.zeros((5, 5), np.float32)
    with pytest.raises(ScrLocalizerError, match="depth is 5x5 but the depth camera is 32x24"):
        write_rgbd_bag(tmp_path / "broken", bad, BagWriteConfig())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map"]  # no partial output left
    write_rgbd_bag(out, synthetic_frames(1), BagWriteConfig(overwrite=True))
    assert topics_of(out)["/tf"][1] == 1
