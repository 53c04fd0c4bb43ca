"""Reading fields straight from serialized (CDR) messages, without deserializing them."""

from __future__ import annotations

import struct


def header_stamp_ns(raw: bytes) -> int:
    """header.stamp of a CDR message whose first field is std_msgs/Header (every image type,
    CameraInfo): 4 bytes of encapsulation, then int32 sec and uint32 nanosec."""
    endian = "<" if raw[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(f"{endian}iI", raw, 4)
    return sec * 1_000_000_000 + nanosec
