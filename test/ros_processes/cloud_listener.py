"""Test process: waits for the latched map point cloud and prints a summary as JSON."""

import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2


def main():
    timeout_s = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    rclpy.init()
    node = rclpy.create_node("cloud_listener")
    got = {}

    def on_cloud(msg):
        points = np.frombuffer(bytes(msg.data), dtype=np.float32).reshape(-1, 4)[:, :3]
        got.update(frame_id=msg.header.frame_id, points=int(msg.width * msg.height),
                   fields=[f.name for f in msg.fields], finite=bool(np.isfinite(points).all()),
                   extent_m=float(np.ptp(points, axis=0).max()) if len(points) else 0.0)

    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(PointCloud2, "/map_cloud", on_cloud, latched)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not got:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps(got), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    sys.exit(0 if got else 1)


if __name__ == "__main__":
    main()
