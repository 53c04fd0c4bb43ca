"""sensor_msgs/Image messages (any message object with its fields) to numpy, without cv_bridge:
colour as HxWx3 uint8 RGB, depth as HxW float32 metres with 0 where invalid (REP-118: 16UC1
millimetres, 32FC1 metres); a ScrLocalizerError names an unsupported encoding."""

from __future__ import annotations

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.frames import sanitize_depth
from scr_localizer.io.images import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    decode_compressed,
    decode_compressed_depth,
    decode_image,
)


def check_color_encoding(msg) -> None:
    if msg.encoding not in COLOR_ENCODINGS:
        raise ScrLocalizerError(
            f"unsupported colour encoding '{msg.encoding}'; expected one of "
            f"{', '.join(COLOR_ENCODINGS)}")


def check_depth_encoding(msg) -> None:
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ScrLocalizerError(
            f"unsupported depth encoding '{msg.encoding}'; expected one of "
            f"{', '.join(DEPTH_ENCODINGS)} (REP-118)")


def decode_message(msg) -> np.ndarray:
    return decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                        is_bigendian=msg.is_bigendian)


def rgb_from_message(msg) -> np.ndarray:
    """sensor_msgs/Image or CompressedImage (image_transport 'compressed') as RGB uint8."""
    if is_compressed(msg):
        return decode_compressed(msg.format, msg.data)
    check_color_encoding(msg)
    return decode_message(msg)


def depth_m_from_message(msg) -> np.ndarray:
    """sensor_msgs/Image or a 'compressedDepth' CompressedImage as float32 metres."""
    if is_compressed(msg):
        return sanitize_depth(decode_compressed_depth(msg.format, msg.data))
    check_depth_encoding(msg)
    return sanitize_depth(decode_message(msg))


def is_compressed(msg) -> bool:
    """sensor_msgs/CompressedImage (image_transport 'compressed' / 'compressedDepth') rather
    than sensor_msgs/Image: it has a format string instead of an encoding."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")

