"""ROS message <-> numpy conversions shared by the nodes and the TF stand-in."""

from __future__ import annotations

import numpy as np

from scr_localizer.geometry.rep105 import transfer_pose_covariance  # noqa: F401 - node API
from scr_localizer.geometry.transforms import translation_quaternion_from_pose
from scr_localizer.io.messages import (  # noqa: F401 - the nodes' conversions, in one place
    matrix_from_pose,
    matrix_from_transform,
    stamp_to_ns,
)


def ns_to_stamp(stamp_ns: int):
    from builtin_interfaces.msg import Time

    stamp_ns = int(stamp_ns)
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def transform_stamped(parent: str, child: str, stamp_ns: int, parent_from_child: np.ndarray):
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = parent
    msg.child_frame_id = child
    t, q = translation_quaternion_from_pose(parent_from_child)
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (
        float(v) for v in t
    )
    (msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z,
     msg.transform.rotation.w) = (float(v) for v in q)
    return msg


def fill_pose(pose_msg, frame_from_body: np.ndarray):
    """Write a 4x4 pose into a geometry_msgs/Pose in place and return it."""
    t, q = translation_quaternion_from_pose(frame_from_body)
    pose_msg.position.x, pose_msg.position.y, pose_msg.position.z = (float(v) for v in t)
    (pose_msg.orientation.x, pose_msg.orientation.y, pose_msg.orientation.z,
     pose_msg.orientation.w) = (float(v) for v in q)
    return pose_msg
