"""Test process: a Buffer + TransformListener from scr_localizer.ros.compat looks up odom<-camera;
prints what it found as JSON."""

import json
import sys
import time

import rclpy
from rclpy.duration import Duration
from rclpy.time import Time

from scr_localizer.ros.compat import BACKENDS, Buffer, TransformException, TransformListener


def main():
    timeout_s = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    rclpy.init()
    node = rclpy.create_node("compat_tf_listener")
    buffer = Buffer(node=node)
    TransformListener(buffer, node)
    got = {"backend": BACKENDS["tf"]}
    deadline = time.monotonic() + timeout_s
    first = None
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if not buffer.can_transform("odom", "camera", Time()):
            continue
        latest = buffer.lookup_transform("odom", "camera", Time())
        if first is None:
            first = latest
            got["odom_camera_z"] = latest.transform.translation.z
            continue
        t1 = first.header.stamp.sec * 10**9 + first.header.stamp.nanosec
        t2 = latest.header.stamp.sec * 10**9 + latest.header.stamp.nanosec
        if t2 - t1 < 300_000_000:
            continue
        mid = buffer.lookup_transform("odom", "camera", Time(nanoseconds=(t1 + t2) // 2))
        expected = (first.transform.translation.x + latest.transform.translation.x) / 2
        got["interpolation_error"] = abs(mid.transform.translation.x - expected)
        try:
            buffer.lookup_transform("map", "camera", Time(), timeout=Duration(seconds=0.1))
            got["missing_raises"] = False
        except TransformException:
            got["missing_raises"] = True
        break
    print(json.dumps(got), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    sys.exit(0 if len(got) == 4 else 1)


if __name__ == "__main__":
    main()
