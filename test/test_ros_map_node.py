"""The mapping node in its own process: a real RGB-D bag in, a map file and a latched point
cloud out (received by another process), and a clear non-zero exit for bad input."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scr_localizer.ros.parameters import REALSENSE_COLOR_TOPIC

pytestmark = pytest.mark.ros
SCRIPTS = Path(__file__).parent / "ros_processes"
NODE = [sys.executable, "-m", "scr_localizer.cli", "map-node", "--ros-args"]


@pytest.fixture(scope="module")
def mapping_bag(redkitchen, tmp_path_factory):
    from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
    from scr_localizer.io.seven_scenes import iter_frames

    path = tmp_path_factory.mktemp("bags") / "redkitchen_map"
    return write_rgbd_bag(path, iter_frames(redkitchen, range(0, 48, 6)), BagWriteConfig())


@pytest.mark.slow
def test_map_node_trains_writes_and_latches_the_cloud(mapping_bag, ros_env, tmp_path):
    from scr_localizer.model.map_file import load_map

    map_path = tmp_path / "room.scrmap"
    node = subprocess.Popen(
        [*NODE, "-p", f"bag:={mapping_bag}", "-p", f"map_path:={map_path}", "-p", "preset:=tiny",
         "-p", "iterations:=150", "-p", "device:=cpu", "-p", "keep_alive_s:=60.0"],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Started right away, but the cloud only exists after training: it must still arrive
        # (latched), and only once the map file is complete.
        listener = subprocess.run([sys.executable, str(SCRIPTS / "cloud_listener.py"), "240"],
                                  env=ros_env, capture_output=True, text=True, timeout=300)
        assert map_path.is_file()
    finally:
        node.terminate()
        output, _ = node.communicate(timeout=30)
    assert listener.returncode == 0, listener.stdout + listener.stderr + output
    cloud = json.loads(listener.stdout.strip().splitlines()[-1])
    assert cloud["frame_id"] == "map"
    assert cloud["fields"] == ["x", "y", "z", "rgb"]
    assert cloud["points"] > 100 and cloud["finite"]
    assert 0.5 < cloud["extent_m"] < 20.0  # a kitchen, not a point or the whole planet
    assert load_map(map_path).fixed_frame == "map"
    assert "encoding mapping frames: 8/8" in output and "map written to" in output, output


def test_map_node_fails_clearly_and_writes_nothing(ros_env, tmp_path):
    map_path = tmp_path / "room.scrmap"
    result = subprocess.run(
        [*NODE, "-p", f"bag:={tmp_path / 'no_such_bag'}", "-p", f"map_path:={map_path}"],
        env=ros_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no_such_bag" in result.stdout + result.stderr
    assert not map_path.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "ros_log"] == []


def test_map_node_without_bag_parameter_says_so(ros_env, tmp_path):
    result = subprocess.run([*NODE, "-p", f"color_topic:={REALSENSE_COLOR_TOPIC}"],
                            env=ros_env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert "set the parameter bag" in result.stdout + result.stderr


@pytest.mark.slow
def test_map_node_interrupted_while_training_writes_nothing(mapping_bag, ros_env, tmp_path):
    """Ctrl-C (twice: the terminal's, then ros2 launch's) in the middle of training."""
    map_path = tmp_path / "room.scrmap"
    log_path = tmp_path / "node.log"
    with open(log_path, "w") as log:
        node = subprocess.Popen(
            [*NODE, "-p", f"bag:={mapping_bag}", "-p", f"map_path:={map_path}",
             "-p", "preset:=tiny", "-p", "iterations:=1000000", "-p", "device:=cpu"],
            env=ros_env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 240
            while "training" not in log_path.read_text() and time.monotonic() < deadline:
                assert node.poll() is None, log_path.read_text()
                time.sleep(0.1)
            time.sleep(1.0)
            node.send_signal(signal.SIGINT)
            time.sleep(0.3)
            node.send_signal(signal.SIGINT)
            status = node.wait(timeout=60)
        finally:
            if node.poll() is None:
                node.kill()
    output = log_path.read_text()
    assert status == 130, output
    assert "mapping interrupted, no map written" in output and "Traceback" not in output, output
    assert not map_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.log", "ros_log"]
