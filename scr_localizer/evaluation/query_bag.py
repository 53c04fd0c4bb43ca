"""What online evaluation needs from a query bag before playing it: the ground truth, the TF
tree, the colour stamps and the topics. ROS-free; read through the one bag opener."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.tf_tree import TfTree
from scr_localizer.io.bag_files import CAMERA_INFO, COMPRESSED, IMAGE, open_bag
from scr_localizer.io.cdr import header_stamp_ns
from scr_localizer.io.messages import matrix_from_pose, matrix_from_transform, stamp_to_ns

IMAGE_TYPES = (IMAGE, COMPRESSED)


@dataclass
class QueryBag:
    """Ground truth, TF and colour stamps of a query bag (read once, before replaying it)."""

    path: Path
    topics: dict[str, str]  # topic -> msgtype
    truth: dict[int, np.ndarray]  # stamp_ns -> map_from_camera (colour optical frame)
    truth_frame: str | None
    image_stamps_ns: list[int]
    camera_frame: str
    tf: TfTree
    static_transforms_raw: list[bytes]
    start_ns: int
    end_ns: int


def read_query_bag(path, color_topic: str = defaults.COLOR_TOPIC,
                   ground_truth_topic: str = defaults.GROUND_TRUTH_TOPIC) -> QueryBag:
    path = Path(path)
    reader = open_bag(path)
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if color_topic not in topics:
            images = sorted(t for t, m in topics.items() if m in IMAGE_TYPES)
            raise ScrLocalizerError(
                f"bag '{path}' has no colour topic '{color_topic}'; image topics in the "
                f"bag: {', '.join(images) or 'none'}"
            )
        small = [c for c in reader.connections
                 if c.topic in ("/tf", "/tf_static", ground_truth_topic)]
        tf, static_raw, truth, truth_frames = TfTree(cache_time_s=None), [], {}, set()
        for connection, _, raw in reader.messages(connections=small):
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == ground_truth_topic:
                truth[stamp_to_ns(msg.header.stamp)] = matrix_from_pose(msg.pose)
                truth_frames.add(msg.header.frame_id.lstrip("/"))
                continue
            static = connection.topic == "/tf_static"
            if static:
                static_raw.append(bytes(raw))
            for t in msg.transforms:
                tf.add_transform(
                    t.header.frame_id, t.child_frame_id, stamp_to_ns(t.header.stamp),
                    matrix_from_transform(t.transform), static=static,
                )
        color = [c for c in reader.connections if c.topic == color_topic]
        stamps, camera_frame = [], ""
        for connection, _, raw in reader.messages(connections=color):
            stamps.append(header_stamp_ns(raw))
            if not camera_frame:
                camera_frame = reader.deserialize(raw, connection.msgtype).header.frame_id
        start_ns, end_ns = reader.start_time, reader.end_time
    finally:
        reader.close()
    if not stamps:
        raise ScrLocalizerError(f"bag '{path}' has no messages on '{color_topic}'")
    if len(truth_frames) > 1:
        raise ScrLocalizerError(
            f"ground truth on '{ground_truth_topic}' uses several frames "
            f"({', '.join(sorted(truth_frames))}); expected one fixed frame"
        )
    return QueryBag(
        path=path, topics=topics, truth=truth, truth_frame=next(iter(truth_frames), None),
        image_stamps_ns=sorted(stamps), camera_frame=camera_frame.lstrip("/"), tf=tf,
        static_transforms_raw=static_raw, start_ns=start_ns, end_ns=end_ns,
    )


def check_frames(map_frame: str, bag: QueryBag, map_path) -> None:
    """A map and a bag must agree on the fixed frame, or every number would be meaningless."""
    if bag.truth_frame is not None and bag.truth_frame != map_frame:
        raise ScrLocalizerError(
            f"map '{map_path}' is in frame '{map_frame}' but the ground truth of bag '{bag.path}' "
            f"is in frame '{bag.truth_frame}'; expected the same fixed frame (map the room from "
            "a bag recorded in that frame, or convert the query bag with a matching fixed frame)"
        )
    for parent, child, _static, _count in bag.tf.edges():
        if map_frame in (parent, child):
            raise ScrLocalizerError(
                f"bag '{bag.path}' already has the map frame '{map_frame}' on /tf "
                f"({parent} -> {child}); expected a query bag whose TF starts at odometry (the "
                "localizer publishes map -> odom itself)"
            )


def node_input_topics(bag: QueryBag, color_topic: str) -> dict[str, str]:
    """The node's depth and CameraInfo topics as this bag names them ("" depth: RGB-only)."""
    namespace = color_topic.rsplit("/", 1)[0]
    infos = [t for t, m in bag.topics.items() if m == CAMERA_INFO]
    info = f"{namespace}/camera_info"
    depths = sorted((t for t, m in bag.topics.items() if m == IMAGE and "depth" in t),
                    key=lambda t: ("aligned" not in t, t))
    topics = {"depth_topic": depths[0] if depths else ""}
    if info in infos:
        topics["camera_info_topic"] = info
    return topics
