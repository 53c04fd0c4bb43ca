"""Two real processes over Fast DDS: proves rclpy, the RMW and tf2_msgs work on this machine."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros
SCRIPTS = Path(__file__).parent / "ros_processes"


def test_tf_static_latched_tf_and_image_cross_processes(ros_env):
    publisher = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "tf_image_publisher.py"), "30"],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # Start the listener late: /tf_static must still arrive because it is latched.
        time.sleep(2.0)
        listener = subprocess.run(
            [sys.executable, str(SCRIPTS / "tf_image_listener.py"), "20"],
            env=ros_env, capture_output=True, text=True, timeout=60,
        )
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    assert listener.returncode == 0, listener.stdout + listener.stderr
    got = json.loads(listener.stdout.strip().splitlines()[-1])
    assert got["tf_static"] == ["base_link", "camera_link", 0.25]
    assert got["tf"] == ["odom", "base_link", 1.5]
    expected_sum = int((np.arange(72) % 256).sum())
    assert got["image"] == ["rgb8", 6, 4, expected_sum]
