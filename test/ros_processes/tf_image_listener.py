"""Test process: waits for /tf, latched /tf_static and an image; prints what arrived as JSON."""

import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage


def main():
    timeout_s = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    rclpy.init()
    node = rclpy.create_node("tf_image_listener")
    got = {}
    static_qos = QoSProfile(
        depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
    )

    def on_tf(key):
        def callback(msg):
            t = msg.transforms[0]
            got[key] = [t.header.frame_id, t.child_frame_id, t.transform.translation.x]
        return callback

    def on_image(msg):
        data = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
        got["image"] = [msg.encoding, int(msg.width), int(msg.height), int(data.sum())]

    node.create_subscription(TFMessage, "/tf_static", on_tf("tf_static"), static_qos)
    node.create_subscription(TFMessage, "/tf", on_tf("tf"), 10)
    node.create_subscription(Image, "/camera/color/image_raw", on_image, 10)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(got) < 3:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps(got), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    sys.exit(0 if len(got) == 3 else 1)


if __name__ == "__main__":
    main()
