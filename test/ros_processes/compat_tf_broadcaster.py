"""Test process: latched base_link->camera and odom->base_link moving at 1 m/s along x (20 Hz),
sent through the package's TF broadcasters (tf2_ros' on a full ROS install)."""

import sys

import numpy as np
import rclpy

from scr_localizer.geometry.transforms import pose_matrix
from scr_localizer.ros.compat import StaticTransformBroadcaster, TransformBroadcaster
from scr_localizer.ros.conversions import transform_stamped


def main():
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    rclpy.init()
    node = rclpy.create_node("compat_tf_broadcaster")
    start_ns = node.get_clock().now().nanoseconds
    StaticTransformBroadcaster(node).sendTransform(
        transform_stamped("base_link", "camera", start_ns, pose_matrix(np.eye(3), [0, 0, 0.5])))
    broadcaster = TransformBroadcaster(node)

    def tick():
        now_ns = node.get_clock().now().nanoseconds
        x = (now_ns - start_ns) * 1e-9
        broadcaster.sendTransform(
            transform_stamped("odom", "base_link", now_ns, pose_matrix(np.eye(3), [x, 0, 0])))

    node.create_timer(0.05, tick)
    end_ns = start_ns + int(duration_s * 1e9)
    while rclpy.ok() and node.get_clock().now().nanoseconds < end_ns:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
