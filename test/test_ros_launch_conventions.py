"""The localization node as launch files start it on a real robot, over real DDS: in a namespace,
with a params file keyed /**/localize_node plus the overrides the launch-argument helpers make,
nav2-style namespaced TF, on an rclpy without the Iron-and-later parameter-callback APIs
(standing in for Humble), and stopped by signals in every phase without a traceback.

launch itself is not pip-installable, so the node's command line is built the way launch_ros
builds it: the params file, then the overrides written to a second params file keyed /**.
"""

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from scr_localizer.ros.launch_arguments import FROM_PARAMS_FILE, parameter_overrides
from scr_localizer.ros.parameters import LIVE_COLOR_TOPIC, LOCALIZE_NODE_PARAMETERS
from test import test_ros_localize_node as localize_tests
from test.test_ros_localize_node import NODE_READY_S, SCRIPTS, node_args

# the same processes, DDS settings and small real map as test_ros_localize_node.py
dds_env, map_file, processes = (localize_tests.dds_env, localize_tests.map_file,
                                localize_tests.processes)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
SPECS = {spec.name: spec for spec in LOCALIZE_NODE_PARAMETERS}
ARGUMENTS = {"map": "map_path", **{name: name for name in SPECS if name != "map_path"}}
NAMESPACED = ["-r", "__ns:=/robot1", "-r", "/tf:=tf", "-r", "/tf_static:=tf_static"]
NODE = "/robot1/localize_node"


def _wait_for_log(processes, name, text, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in processes.log(name):
            return
        time.sleep(0.05)
    raise AssertionError(f"'{text}' not in the {name} log:\n{processes.log(name)[-3000:]}")


def _stop_with(child, signals, timeout_s=30.0) -> int:
    """Signals as a terminal's Ctrl-C plus ros2 launch's own would: the first, then another."""
    for signum in signals:
        child.send_signal(signum)
        time.sleep(0.3)
    return child.wait(timeout=timeout_s)


def test_namespaced_node_with_params_file_on_the_humble_api(processes, redkitchen, map_file,
                                                            tmp_path):
    params_file = tmp_path / "robot1.yaml"
    params_file.write_text(yaml.safe_dump({"/**/localize_node": {"ros__parameters": {
        "map_frame": "world",                # undone by map_frame:=map (the shipped default)
        "camera_frame": "robot1_wrong_frame",  # emptied by camera_frame:="''"
        "min_inliers": 60,                   # not given on the command line: kept
        "tf_publish_rate_hz": 5.0,
    }}}))
    given = dict.fromkeys(ARGUMENTS, FROM_PARAMS_FILE)
    given.update({"map_frame": "map", "camera_frame": "''"})
    overrides = parameter_overrides(given, ARGUMENTS, SPECS)
    assert overrides == {"map_frame": "map", "camera_frame": ""}
    overrides_file = tmp_path / "overrides.yaml"
    overrides_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": overrides}}))

    node = processes.start("node", [
        str(SCRIPTS / "humble_api_node.py"), "--ros-args", *NAMESPACED,
        "--params-file", str(params_file), "--params-file", str(overrides_file),
        "-p", "device:=cpu", "-p", "tf_timeout_s:=1.0", "-p", "max_frame_age_s:=5.0"])
    probe_args = ("--node", NODE, "--ros-args", *NAMESPACED)
    code, got, err = processes.probe("--get", "map_frame,camera_frame,min_inliers,"
                                     "tf_publish_rate_hz,color_topic,odom_frame",
                                     "--expect", "no map loaded", *probe_args,
                                     timeout=NODE_READY_S)
    assert code == 0, f"{got}\n{err}\nnode log:\n{processes.log('node')[-3000:]}"
    assert got["parameters"] == {"map_frame": "map", "camera_frame": "", "min_inliers": 60,
                                 "tf_publish_rate_hz": 5.0, "color_topic": LIVE_COLOR_TOPIC,
                                 "odom_frame": "odom"}
    log = processes.log("node")
    assert "removed add_pre_set_parameters_callback, add_post_set_parameters_callback" in log
    assert f"listening to /robot1/{LIVE_COLOR_TOPIC}" in log, log
    assert f"no images on /robot1/{LIVE_COLOR_TOPIC} yet" in log, log  # as resolved

    # A runtime parameter change goes through the on-set fallback: the map loads.
    code, got, err = processes.probe("--set-string", f"map_path={map_file}", "--value",
                                     f"map={map_file}", *probe_args, timeout=NODE_READY_S)
    assert code == 0 and got["set"][0] is True, f"{got}\n{err}\n{processes.log('node')[-3000:]}"

    # The robot's camera and TF in its namespace; fixes come out on /robot1/tf.
    processes.start("player", [str(SCRIPTS / "rgbd_player.py"), str(redkitchen), "--rate", "5",
                               "--duration", "120", "--ros-args", *NAMESPACED])
    code, got, err = processes.probe("--fixes", "2", "--localized-more-than", "0", *probe_args,
                                     timeout=NODE_READY_S)
    assert node.poll() is None, processes.log("node")
    assert code == 0, f"{got}\n{err}\nnode log:\n{processes.log('node')[-3000:]}"
    assert np.median([f["t_err_m"] for f in got["fixes"]]) < 0.15, got["fixes"]

    # Ctrl-C while localizing.
    assert _stop_with(node, [signal.SIGINT, signal.SIGINT]) == 0, processes.log("node")
    log = processes.log("node")
    assert "Traceback" not in log, log
    assert "SIGINT received, shutting down" in log


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]],
                         ids=["sigint-twice", "sigterm"])
def test_signal_while_the_map_loads_exits_cleanly(processes, map_file: Path, signals):
    node = processes.start("node", node_args(f"map_path:={map_file}"))
    _wait_for_log(processes, "node", f"loading map '{map_file}'")
    assert _stop_with(node, signals) == 0, processes.log("node")
    log = processes.log("node")
    assert "Traceback" not in log, log
    assert f"{signal.Signals(signals[0]).name} received, shutting down" in log, log
    assert f"map '{map_file}' loaded" not in log  # it was stopped in the middle of the load
