"""RGBDBagReader on real bags: redkitchen round trips, registration, pose sources, encodings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.transforms import (
    pose_from_translation_quaternion,
    pose_matrix,
    translation_quaternion_from_pose,
)
from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.images import encode_image
from scr_localizer.io.seven_scenes import SevenScenesConfig, iter_frames, seven_scenes_camera
from test.bag_helpers import BUILD, info, raw_image, tf, write_bag

INDICES = [0, 1, 2, 3, 60, 61, 62, 63]


def as_stored(pose):
    """A pose as a quaternion stores it (7-Scenes rotations are orthonormal only to ~1e-4)."""
    return pose_from_translation_quaternion(*translation_quaternion_from_pose(pose))


@pytest.fixture(scope="module")
def kitchen_frames(redkitchen):
    return list(iter_frames(redkitchen, INDICES))


@pytest.mark.parametrize(
    "storage,encoding", [("mcap", "rgb8"), ("sqlite3", "png"), ("mcap", "jpeg")]
)
def test_redkitchen_round_trip(tmp_path, kitchen_frames, storage, encoding):
    bag = write_rgbd_bag(
        tmp_path / "bag", kitchen_frames, BagWriteConfig(storage=storage, color_encoding=encoding)
    )
    reader = RGBDBagReader(bag)
    assert len(reader) == len(kitchen_frames)
    assert reader.report.dropped == {} and reader.report.frames == len(kitchen_frames)
    frames = list(reader)
    assert [f.stamp_ns for f in frames] == [f.stamp_ns for f in kitchen_frames]
    for got, want in zip(frames, kitchen_frames):
        assert np.abs(got.world_from_camera - as_stored(want.world_from_camera)).max() <= 1e-6
        assert got.camera == want.camera and got.frame_id == "camera_color_optical_frame"
        if encoding == "jpeg":
            assert np.abs(got.color.astype(int) - want.color).mean() < 2.0
        else:
            assert np.array_equal(got.color, want.color)
        # 16UC1 millimetres: registered depth is quantized to 0.5 mm at most
        assert np.abs(got.depth - want.depth).max() <= 0.0005 + 1e-6
        assert np.array_equal(got.depth > 0, want.depth > 0)


def test_unregistered_depth_is_registered_while_reading(tmp_path, redkitchen):
    """Raw 585-focal depth in its own frame: the reader registers it like the dataset code."""
    raw = list(iter_frames(redkitchen, INDICES[:3], SevenScenesConfig(depth_aligned=True)))
    config = BagWriteConfig(depth_camera=seven_scenes_camera(585.0))
    bag = write_rgbd_bag(tmp_path / "raw", raw, config)
    reader = RGBDBagReader(bag)
    assert reader.registers_depth and reader.depth_topic.endswith("/depth/image_rect_raw")
    registered = list(iter_frames(redkitchen, INDICES[:3]))
    for got, want in zip(reader, registered):
        assert np.array_equal(got.depth > 0, want.depth > 0)
        assert np.abs(got.depth - want.depth).max() < 1e-6


def test_registration_moves_a_synthetic_point_to_the_right_pixel(tmp_path):
    color_camera = PinholeCamera(64, 48, 50.0, 52.0, 31.5, 23.5)
    depth_camera = PinholeCamera(40, 30, 30.0, 31.0, 20.0, 15.0)
    color_from_depth = pose_matrix(np.eye(3), [0.05, -0.02, 0.01])
    depth = np.zeros((30, 40), np.float32)
    depth[10, 25] = 2.0  # one valid pixel at (u=25, v=10)
    point_depth = np.array([(25 - 20.0) / 30.0 * 2.0, (10 - 15.0) / 31.0 * 2.0, 2.0])
    point_color = color_from_depth[:3, :3] @ point_depth + color_from_depth[:3, 3]
    u = 50.0 * point_color[0] / point_color[2] + 31.5
    v = 52.0 * point_color[1] / point_color[2] + 23.5
    stamp = 10**18
    color = np.zeros((48, 64, 3), np.uint8)
    step, data = encode_image(color, "rgb8")
    dstep, ddata = encode_image(depth, "16UC1")
    link = "camera_link"
    messages = [
        tf(stamp, link, "color_optical", np.eye(4), static=True),
        tf(stamp, link, "depth_optical", color_from_depth, static=True),
        tf(stamp, "map", link, np.eye(4)),
        ("/cam/color/camera_info", "sensor_msgs/msg/CameraInfo", stamp,
         info(stamp, "color_optical", color_camera)),
        ("/cam/color/image_raw", "sensor_msgs/msg/Image", stamp,
         raw_image(stamp, "color_optical", 48, 64, "rgb8", step, data)),
        ("/cam/depth/camera_info", "sensor_msgs/msg/CameraInfo", stamp,
         info(stamp, "depth_optical", depth_camera)),
        ("/cam/depth/image_rect_raw", "sensor_msgs/msg/Image", stamp,
         raw_image(stamp, "depth_optical", 30, 40, "16UC1", dstep, ddata)),
    ]
    reader = RGBDBagReader(write_bag(tmp_path / "reg", messages))
    (frame,) = list(reader)
    rows, cols = np.nonzero(frame.depth)
    assert (rows.tolist(), cols.tolist()) == ([int(round(v))], [int(round(u))])
    assert frame.depth[rows[0], cols[0]] == pytest.approx(point_color[2], abs=1e-6)


def _stream_bag(tmp_path, color_encoding, depth_encoding, pad=0, storage="sqlite3",
                odometry=False):
    """Two 8x6 frames with padded rows, colour in `color_encoding` and depth in
    `depth_encoding`, poses from a PoseWithCovarianceStamped topic and a static extrinsic."""
    rng = np.random.default_rng(1)
    camera = PinholeCamera(8, 6, 10.0, 11.0, 4.0, 3.0, "plumb_bob", (0.01, 0.0, 0.0, 0.0, 0.0))
    base_from_optical = pose_matrix(np.eye(3)[[2, 0, 1]].T, [0.1, 0.0, 0.2])
    messages = [tf(1, "base_link", "optical", base_from_optical, static=True)]
    colours, depths, poses = [], [], []
    for k in range(4):
        stamp = 10**18 + k * 100_000_000
        rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        metres = rng.uniform(0.5, 3.0, (6, 8)).astype(np.float32)
        metres[0, 0] = 0.0
        if color_encoding == "mono8":
            rgb[:] = rgb[:, :, :1]
        channels = {"rgb8": rgb, "bgr8": rgb[:, :, ::-1], "rgba8": np.dstack([rgb, rgb[:, :, :1]]),
                    "bgra8": np.dstack([rgb[:, :, ::-1], rgb[:, :, :1]]), "mono8": rgb[:, :, 0]}
        pixels = np.ascontiguousarray(channels[color_encoding]).reshape(6, -1)
        pixels = np.hstack([pixels, np.zeros((6, pad), np.uint8)])
        depth_pixels = (np.rint(metres * 1000).astype("<u2") if depth_encoding == "16UC1"
                        else metres.astype("<f4"))
        depth_bytes = np.hstack([depth_pixels.view(np.uint8).reshape(6, -1),
                                 np.zeros((6, pad), np.uint8)])
        world_from_base = pose_matrix(np.eye(3), [k * 0.1, 1.0, 0.0])
        pose_msg = BUILD.store.types["geometry_msgs/msg/PoseWithCovarianceStamped"](
            header=BUILD.header(stamp, "map"),
            pose=BUILD.store.types["geometry_msgs/msg/PoseWithCovariance"](
                pose=BUILD.pose_stamped(stamp, "map", world_from_base).pose,
                covariance=np.zeros(36)),
        )
        if odometry:
            types = BUILD.store.types
            pose_msg = types["nav_msgs/msg/Odometry"](
                header=pose_msg.header, child_frame_id="base_link", pose=pose_msg.pose,
                twist=types["geometry_msgs/msg/TwistWithCovariance"](
                    twist=types["geometry_msgs/msg/Twist"](
                        linear=BUILD.Vector3(x=0.0, y=0.0, z=0.0),
                        angular=BUILD.Vector3(x=0.0, y=0.0, z=0.0)),
                    covariance=np.zeros(36)),
            )
        pose_type = ("nav_msgs/msg/Odometry" if odometry
                     else "geometry_msgs/msg/PoseWithCovarianceStamped")
        messages += [
            ("/robot/pose", pose_type, stamp, pose_msg),
            ("/rgb/camera_info", "sensor_msgs/msg/CameraInfo", stamp, info(stamp, "optical", camera)),
            ("/rgb/image", "sensor_msgs/msg/Image", stamp,
             raw_image(stamp, "optical", 6, 8, color_encoding, pixels.shape[1], pixels)),
            ("/depth_registered/image", "sensor_msgs/msg/Image", stamp + 3_000_000,
             raw_image(stamp + 3_000_000, "optical", 6, 8, depth_encoding,
                       depth_bytes.shape[1], depth_bytes)),
        ]
        colours.append(rgb)
        depths.append(metres)
        poses.append(world_from_base @ base_from_optical)
    bag = write_bag(tmp_path / f"{color_encoding}_{depth_encoding}", messages, storage)
    return bag, camera, colours, depths, poses


@pytest.mark.parametrize(
    "color_encoding,depth_encoding",
    [("bgr8", "32FC1"), ("rgba8", "16UC1"), ("bgra8", "16UC1"), ("mono8", "32FC1")],
)
def test_encodings_padding_pose_topic_and_distortion(tmp_path, color_encoding, depth_encoding):
    bag, camera, colours, depths, poses = _stream_bag(tmp_path, color_encoding, depth_encoding, 5)
    config = BagReadConfig(pose_topic="/robot/pose", pose_frame="base_link", frame_step=2)
    reader = RGBDBagReader(bag, config)
    assert (reader.color_topic, reader.depth_topic) == ("/rgb/image", "/depth_registered/image")
    assert reader.report.skipped_by_step == 2
    frames = list(reader)
    assert len(frames) == 2
    for frame, k in zip(frames, (0, 2)):
        assert frame.camera == camera and frame.camera.is_distorted
        assert np.array_equal(frame.color, colours[k])
        tolerance = 0.0005 if depth_encoding == "16UC1" else 0.0
        assert np.abs(frame.depth - depths[k]).max() <= tolerance + 1e-7
        assert frame.depth[0, 0] == 0.0
        np.testing.assert_allclose(frame.world_from_camera, poses[k], atol=1e-9)


def test_odometry_pose_topic_uses_its_child_frame(tmp_path):
    bag, _, _, _, poses = _stream_bag(tmp_path, "rgb8", "16UC1", odometry=True)
    reader = RGBDBagReader(bag, BagReadConfig(pose_topic="/robot/pose"))
    for pose, want in zip(reader.poses, poses):
        np.testing.assert_allclose(pose, want, atol=1e-9)


def test_sync_tolerance_drops_and_reports(tmp_path):
    bag, *_ = _stream_bag(tmp_path, "rgb8", "16UC1")
    config = BagReadConfig(pose_topic="/robot/pose", pose_frame="base_link", sync_tolerance_s=0.001)
    with pytest.raises(ScrLocalizerError, match=r"no frames left after synchronization.*4 no depth within 0.001 s"):
        RGBDBagReader(bag, config)
    colour_only = RGBDBagReader(bag, BagReadConfig(depth_topic="", fixed_frame=""))
    frames = list(colour_only)
    assert len(frames) == 4 and frames[0].depth is None and frames[0].world_from_camera is None


def test_compressed_depth_png(tmp_path):
    """compressed_depth_image_transport PNG (12-byte header) as the depth stream."""
    import struct

    camera = PinholeCamera(8, 6, 10.0, 10.0, 4.0, 3.0)
    mm = np.arange(48, dtype=np.uint16).reshape(6, 8) * 50
    ok, png = cv2.imencode(".png", mm)
    stamp = 10**18
    step, data = encode_image(np.zeros((6, 8, 3), np.uint8), "rgb8")
    compressed = BUILD.CompressedImage(
        header=BUILD.header(stamp, "optical"), format="16UC1; compressedDepth png",
        data=np.frombuffer(struct.pack("<iff", 0, 0, 0) + png.tobytes(), np.uint8),
    )
    messages = [
        ("/c/color/camera_info", "sensor_msgs/msg/CameraInfo", stamp, info(stamp, "optical", camera)),
        ("/c/color/image_raw", "sensor_msgs/msg/Image", stamp,
         raw_image(stamp, "optical", 6, 8, "rgb8", step, data)),
        ("/c/depth/image_raw/compressedDepth", "sensor_msgs/msg/CompressedImage", stamp, compressed),
    ]
    reader = RGBDBagReader(write_bag(tmp_path / "cd", messages), BagReadConfig(fixed_frame=""))
    (frame,) = list(reader)
    np.testing.assert_allclose(frame.depth, mm / 1000.0, atol=1e-6)
