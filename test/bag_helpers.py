"""Build small real bags message by message (rosbags) for reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.io.bag_writer import _Messages

BUILD = _Messages()


def write_bag(path: Path, messages, storage: str = "mcap") -> Path:
    """messages: iterable of (topic, msgtype, stamp_ns, message)."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    connections = {}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, msgtype, stamp, message in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=BUILD.store)
            writer.write(connections[topic], stamp, BUILD.store.serialize_cdr(message, msgtype))
    return path


def raw_image(stamp, frame_id, height, width, encoding, step, data):
    return BUILD.Image(
        header=BUILD.header(stamp, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=step, data=np.frombuffer(bytes(data), np.uint8),
    )


def info(stamp, frame_id, camera: PinholeCamera):
    return BUILD.camera_info(stamp, frame_id, camera)


def tf(stamp, parent, child, pose, static=False):
    topic = "/tf_static" if static else "/tf"
    return (topic, "tf2_msgs/msg/TFMessage", stamp,
            BUILD.tf_message([BUILD.transform(stamp, parent, child, pose)]))
