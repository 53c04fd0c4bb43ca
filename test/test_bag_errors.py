"""Each bad input gives one line naming the problem (and the alternatives), exit 2, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from scr_localizer.cli import main
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.io.images import encode_image
from test.bag_helpers import info, raw_image, tf, write_bag

CAMERA = PinholeCamera(16, 12, 20.0, 20.0, 8.0, 6.0)
OPTICAL = "camera_color_optical_frame"
COLOR = "/camera/camera/color/image_raw"
DEPTH = "/camera/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/camera/color/camera_info"


def small_bag(path, color_encoding="rgb8", depth_encoding="16UC1", depth_size=(16, 12),
              depth_offset_ns=0, with_info=True, with_static_tf=True, tf_offset_ns=0,
              second_camera=False, color_topic=COLOR):
    messages = []
    if with_static_tf:
        messages.append(tf(10**18, "camera_link", OPTICAL, np.eye(4), static=True))
    for k in range(3):
        stamp = 10**18 + k * 33_000_000
        messages.append(tf(stamp + tf_offset_ns, "map", "camera_link", np.eye(4)))
        if with_info:
            messages.append(("/camera/camera/color/camera_info", "sensor_msgs/msg/CameraInfo",
                             stamp, info(stamp, OPTICAL, CAMERA)))
        rgb = np.full((12, 16, 3), 100, np.uint8)
        if color_encoding == "rgb8":
            step, data = encode_image(rgb, "rgb8")
        else:  # an encoding the reader does not know, one byte per pixel
            step, data = 16, bytes(16 * 12)
        messages.append((color_topic, "sensor_msgs/msg/Image", stamp,
                         raw_image(stamp, OPTICAL, 12, 16, color_encoding, step, data)))
        if second_camera:
            messages.append(("/camera2/color/image_raw", "sensor_msgs/msg/Image", stamp,
                             raw_image(stamp, OPTICAL, 12, 16, color_encoding, step, data)))
        width, height = depth_size
        depth = np.full((height, width), 1.5, np.float32)
        if depth_encoding == "16UC1":
            dstep, ddata = encode_image(depth, "16UC1")
        else:
            dstep, ddata = encode_image(np.zeros((height, width, 3), np.uint8), "rgb8")
        dstamp = stamp + depth_offset_ns
        messages.append((DEPTH, "sensor_msgs/msg/Image", dstamp,
                         raw_image(dstamp, OPTICAL, height, width, depth_encoding, dstep, ddata)))
    return write_bag(path, messages)


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_good_bag_inspects(tmp_path, capsys):
    code, out, err = run_cli(capsys, "inspect", str(small_bag(tmp_path / "good")))
    assert code == 0, err
    assert f"colour:      {COLOR}" in out and "3 frames from 3 colour and 3 depth images" in out
    assert "map\n    camera_link  [3 samples" in out


@pytest.mark.parametrize(
    "case,needles",
    [
        ("missing", ["does not exist", "rosbag2 folder"]),
        ("not_a_bag", ["is not a ROS 2 bag", "metadata.yaml"]),
        ("truncated", ["truncated", "mcap recover"]),
        ("topic_missing", ["colour topic '/nope' is not in bag", f"{COLOR} (sensor_msgs/msg/Image)"]),
        ("bad_encoding", ["unsupported colour encoding 'bayer_rggb8'", "rgb8, bgr8", COLOR]),
        ("bad_depth_encoding", ["unsupported depth encoding 'rgb8'", "16UC1", DEPTH]),
        ("no_camera_info", ["no CameraInfo for colour topic", "CameraInfo topics there: none"]),
        ("ambiguous_topics", ["several possible colour topics", "/camera2/color/image_raw",
                              "--color-topic"]),
        ("tf_link_missing", ["no TF link between 'map' and 'camera_color_optical_frame'",
                             "known frames: camera_link, map"]),
        ("depth_size", ["depth size mismatch", "8x6", "16x12"]),
        ("unsynchronized", ["no frames left after synchronization", "3 no depth within 0.02 s"]),
        ("tf_out_of_range", ["no frames left after synchronization", "no pose within 0.05 s",
                             "extrapolating"]),
    ],
)
def test_bad_input(tmp_path, capsys, case, needles):
    extra = []
    bag = tmp_path / case
    if case == "missing":
        pass
    elif case == "not_a_bag":
        bag.mkdir()
        (bag / "notes.txt").write_text("not a bag")
    elif case == "truncated":
        good = small_bag(tmp_path / "good")
        shutil.copytree(good, bag)
        (bag / "good.mcap").write_bytes((good / "good.mcap").read_bytes()[:1500])
    elif case == "topic_missing":
        small_bag(bag)
        extra = ["--color-topic", "/nope"]
    elif case == "bad_encoding":
        small_bag(bag, color_encoding="bayer_rggb8")
    elif case == "bad_depth_encoding":
        small_bag(bag, depth_encoding="rgb8")
    elif case == "no_camera_info":
        small_bag(bag, with_info=False)
    elif case == "ambiguous_topics":
        # two equally plausible cameras and neither has the RealSense default name
        small_bag(bag, second_camera=True, color_topic="/camera1/color/image_raw")
    elif case == "tf_link_missing":
        small_bag(bag, with_static_tf=False)
    elif case == "depth_size":
        small_bag(bag, depth_size=(8, 6))
    elif case == "unsynchronized":
        small_bag(bag, depth_offset_ns=500_000_000)
    elif case == "tf_out_of_range":
        small_bag(bag, tf_offset_ns=5 * 10**9)
    code, _, err = run_cli(capsys, "inspect", str(bag), *extra)
    assert_one_line_error(code, err, *needles)


def test_real_process_exit_code_and_debug_traceback(tmp_path):
    bag = small_bag(tmp_path / "bag", with_static_tf=False)
    command = [sys.executable, "-m", "scr_localizer.cli", "inspect", str(bag)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [
        line for line in plain.stderr.strip().splitlines() if line.startswith("error: no TF link")
    ]
    debug = subprocess.run(
        [sys.executable, "-m", "scr_localizer.cli", "--debug", "inspect", str(bag)],
        capture_output=True, text=True, timeout=120,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_convert_errors(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", "7scenes", str(tmp_path / "none"), str(tmp_path / "o"))
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_cli(capsys, "convert", "tum", str(tmp_path), str(tmp_path / "o"))
    assert_one_line_error(code, err, "rgb.txt", "TUM RGB-D folder")
    assert not (tmp_path / "o").exists()
