"""sensor_msgs/Image to numpy: cv_bridge where it exists, the data layer's decoder otherwise.

Both paths return the same thing: colour as HxWx3 uint8 RGB, depth as HxW float32 metres with 0
where invalid (REP-118: 16UC1 millimetres, 32FC1 metres), and raise ScrLocalizerError naming the
encoding when it is not supported.
"""

from __future__ import annotations

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.frames import sanitize_depth
from scr_localizer.io.image_messages import (
    check_color_encoding,
    check_depth_encoding,
    depth_m_from_message,
    is_compressed,
    rgb_from_message,
)

# Why cv_bridge is not used ("" when it is): not installed (ROS 2 from PyPI), or installed but
# broken, typically built against the distro's numpy 1.x and imported under numpy 2 from a venv
# ("_ARRAY_API not found", vision_opencv#535), which raises AttributeError, SystemError or
# ImportError depending on where it fails; the node then decodes images itself and says why.
CV_BRIDGE_UNAVAILABLE = ""
try:
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE = CvBridge()  # pragma: no cover - only on a full ROS 2 install
except ImportError as exc:
    _BRIDGE, CvBridgeError = None, None
    CV_BRIDGE_UNAVAILABLE = f"cv_bridge cannot be imported ({exc})"
except Exception as exc:  # noqa: BLE001 - any failure inside a broken cv_bridge
    _BRIDGE, CvBridgeError = None, None
    CV_BRIDGE_UNAVAILABLE = (
        f"cv_bridge is installed but fails to load ({type(exc).__name__}: {exc}); a numpy "
        "newer than the one it was built against? (pip install -c constraints-ros.txt)")

HAVE_CV_BRIDGE = _BRIDGE is not None


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image or CompressedImage ('compressed' transport) as HxWx3 uint8 RGB."""
    if _BRIDGE is None or is_compressed(msg):
        return rgb_from_message(msg)
    check_color_encoding(msg)
    try:  # pragma: no cover - only on a full ROS 2 install
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    except CvBridgeError as exc:  # pragma: no cover
        raise ScrLocalizerError(
            f"colour image encoding '{msg.encoding}' cannot be converted to rgb8 ({exc})") from None


def image_to_depth_m(msg) -> np.ndarray:
    """sensor_msgs/Image or CompressedImage ('compressedDepth' transport) as metres."""
    if _BRIDGE is None or is_compressed(msg):
        return depth_m_from_message(msg)
    check_depth_encoding(msg)
    depth = _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")  # pragma: no cover
    if depth.dtype == np.uint16:  # pragma: no cover
        return sanitize_depth(depth.astype(np.float32) * 0.001)
    return sanitize_depth(depth)  # pragma: no cover
