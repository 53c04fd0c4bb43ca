"""The real tf2_ros / message_filters / cv_bridge when importable, tested stand-ins otherwise;
and the few rclpy APIs that differ between Humble and later distros.

Nodes import everything TF-, sync- and image-related from here, so the same node code runs on a
full ROS 2 install and in the pip-only setup. `BACKENDS` says which one was picked.
"""

from __future__ import annotations

try:  # pragma: no cover - only on a full ROS 2 install
    from message_filters import ApproximateTimeSynchronizer, Subscriber

    _SYNC_BACKEND = "message_filters"
except ImportError:
    from scr_localizer.ros.compat.sync import ApproximateTimeSynchronizer, Subscriber

    _SYNC_BACKEND = "scr_localizer.ros.compat.sync"

try:  # pragma: no cover - only on a full ROS 2 install
    from tf2_ros import (
        Buffer,
        StaticTransformBroadcaster,
        TransformBroadcaster,
        TransformException,
        TransformListener,
    )

    _TF_BACKEND = "tf2_ros"
except ImportError:
    from scr_localizer.ros.compat.tf import (
        Buffer,
        StaticTransformBroadcaster,
        TransformBroadcaster,
        TransformException,
        TransformListener,
    )

    _TF_BACKEND = "scr_localizer.ros.compat.tf"

from scr_localizer.ros.compat.images import (
    CV_BRIDGE_UNAVAILABLE,
    HAVE_CV_BRIDGE,
    image_to_depth_m,
    image_to_rgb,
)
from scr_localizer.ros.compat.parameters import add_parameter_callbacks

BACKENDS = {
    "sync": _SYNC_BACKEND,
    "tf": _TF_BACKEND,
    "images": "cv_bridge" if HAVE_CV_BRIDGE else "scr_localizer.io.images",
}

__all__ = [
    "BACKENDS", "CV_BRIDGE_UNAVAILABLE", "ApproximateTimeSynchronizer", "Buffer",
    "StaticTransformBroadcaster", "Subscriber", "add_parameter_callbacks", "TransformBroadcaster", "TransformException", "TransformListener",
    "image_to_depth_m", "image_to_rgb",
]
