"""Fields of deserialized ROS messages to numbers, for any message object with the standard
field names (rosbags' types when reading bags without ROS, rclpy's in the nodes)."""

from __future__ import annotations

import numpy as np

from scr_localizer.geometry.transforms import pose_from_translation_quaternion


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (or rclpy Time) to integer nanoseconds."""
    if hasattr(stamp, "nanoseconds"):
        return int(stamp.nanoseconds)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def matrix_from_transform(transform) -> np.ndarray:
    """geometry_msgs/Transform (the `transform` field of a TransformStamped) to parent_from_child."""
    t, q = transform.translation, transform.rotation
    return pose_from_translation_quaternion([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])


def matrix_from_pose(pose) -> np.ndarray:
    """geometry_msgs/Pose to frame_from_body."""
    p, q = pose.position, pose.orientation
    return pose_from_translation_quaternion([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])
