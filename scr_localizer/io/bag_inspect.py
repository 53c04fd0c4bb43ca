"""What `scr-localizer inspect` shows about a bag: storage, duration, topics and the TF tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.tf_tree import TfTree
from scr_localizer.io.bag_files import TF_MESSAGE, corrupt_bag_error, open_bag
from scr_localizer.io.messages import matrix_from_transform, stamp_to_ns


@dataclass
class BagSummary:
    """What `scr-localizer inspect` shows: storage, duration and topics of a bag, and its TF tree."""

    path: Path
    duration_s: float
    message_count: int
    topics: dict[str, tuple[str, int]]  # topic -> (type, message count)
    tf_tree: TfTree


def summarize_bag(path: str | Path) -> BagSummary:
    """Topics with counts and the TF tree from /tf and /tf_static (reads only the TF topics)."""
    path = Path(path)
    reader = open_bag(path)
    try:
        topics = {
            topic: (info.msgtype or "?", info.msgcount) for topic, info in reader.topics.items()
        }
        tree = TfTree(cache_time_s=None)
        connections = [
            c for c in reader.connections
            if c.topic in ("/tf", "/tf_static") and c.msgtype == TF_MESSAGE
        ]
        for connection, _, raw in reader.messages(connections=connections):
            static = connection.topic == "/tf_static"
            for t in reader.deserialize(raw, connection.msgtype).transforms:
                tree.add_transform(
                    t.header.frame_id, t.child_frame_id, stamp_to_ns(t.header.stamp),
                    matrix_from_transform(t.transform), static,
                )
        return BagSummary(
            path=path,
            duration_s=reader.duration * 1e-9,
            message_count=reader.message_count,
            topics=topics,
            tf_tree=tree,
        )
    except ScrLocalizerError:
        raise
    except Exception as exc:
        raise corrupt_bag_error(path, exc) from None
    finally:
        reader.close()
