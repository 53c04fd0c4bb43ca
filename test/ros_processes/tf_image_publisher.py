"""Test process: publishes a static and a dynamic transform and a small rgb8 image."""

import sys

import numpy as np
import rclpy
from geometry_msgs.msg import TransformStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage


def transform(stamp, parent, child, x):
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = parent
    msg.child_frame_id = child
    msg.transform.translation.x = x
    msg.transform.rotation.w = 1.0
    return msg


def main():
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    rclpy.init()
    node = rclpy.create_node("tf_image_publisher")
    static_qos = QoSProfile(
        depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
    )
    tf_static = node.create_publisher(TFMessage, "/tf_static", static_qos)
    tf = node.create_publisher(TFMessage, "/tf", 10)
    image_pub = node.create_publisher(Image, "/camera/color/image_raw", 10)
    now = node.get_clock().now().to_msg()
    tf_static.publish(TFMessage(transforms=[transform(now, "base_link", "camera_link", 0.25)]))
    pixels = (np.arange(4 * 6 * 3) % 256).astype(np.uint8).reshape(4, 6, 3)

    def tick():
        stamp = node.get_clock().now().to_msg()
        tf.publish(TFMessage(transforms=[transform(stamp, "odom", "base_link", 1.5)]))
        image = Image(height=4, width=6, encoding="rgb8", is_bigendian=0, step=18)
        image.header.stamp = stamp
        image.header.frame_id = "camera_color_optical_frame"
        image.data = pixels.tobytes()
        image_pub.publish(image)

    node.create_timer(0.1, tick)
    end = node.get_clock().now().nanoseconds + int(duration_s * 1e9)
    while rclpy.ok() and node.get_clock().now().nanoseconds < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
