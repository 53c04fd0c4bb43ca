"""Record what a running localization node publishes (rclpy), for online evaluation.

`PoseRecorder` subscribes to `~/pose`, /tf (map -> anything), /clock and /diagnostics and notes
the wall time each message arrived into a ROS-free `Recording`; `record_poses` listens next to
`ros2 bag play --clock` and scores the result with `scr_localizer.evaluation.online`, the same
way `replay` and the offline `evaluate` do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.metrics import summarize
from scr_localizer.evaluation.online import (
    RecordedFix,
    RecordedTransform,
    Recording,
    frame_records,
    online_extras,
)
from scr_localizer.evaluation.query_bag import read_query_bag
from scr_localizer.io.messages import matrix_from_pose, matrix_from_transform, stamp_to_ns
from scr_localizer.log import get_logger

LOG = get_logger(__name__)


class PoseRecorder:
    """Subscriptions on an rclpy node; callbacks only append (thread-safe) to a Recording."""

    def __init__(self, node, pose_topic: str, map_frame: str, node_name: str = "",
                 record_clock: bool = True):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from tf2_msgs.msg import TFMessage

        self.recording = Recording()
        self.map_frame = map_frame.lstrip("/")
        self.node_name = node_name
        self._lock = threading.Lock()
        self.node = node
        node.create_subscription(PoseWithCovarianceStamped, pose_topic, self._on_pose, 100)
        node.create_subscription(TFMessage, "/tf", self._on_tf, 200)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        if record_clock:
            from rosgraph_msgs.msg import Clock

            node.create_subscription(
                Clock, "/clock", self._on_clock,
                QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT),
            )

    def _on_pose(self, msg) -> None:
        now = time.monotonic()
        fix = RecordedFix(
            stamp_ns=stamp_to_ns(msg.header.stamp),
            map_from_body=matrix_from_pose(msg.pose.pose),
            covariance=np.asarray(msg.pose.covariance, dtype=np.float64).reshape(6, 6),
            frame_id=msg.header.frame_id,
            wall_time_s=now,
        )
        with self._lock:
            self.recording.fixes.append(fix)

    def _on_tf(self, msg) -> None:
        now = time.monotonic()
        for transform in msg.transforms:
            if transform.header.frame_id.lstrip("/") != self.map_frame:
                continue
            t = transform.transform
            with self._lock:
                self.recording.transforms.append(RecordedTransform(
                    stamp_ns=stamp_to_ns(transform.header.stamp),
                    parent=self.map_frame,
                    child=transform.child_frame_id.lstrip("/"),
                    parent_from_child=matrix_from_transform(t),
                    wall_time_s=now,
                ))

    def _on_clock(self, msg) -> None:
        now = time.monotonic()
        stamp = stamp_to_ns(msg.clock)
        with self._lock:
            if not self.recording.clock or stamp > self.recording.clock[-1][0]:
                self.recording.clock.append((stamp, now))

    def _on_diagnostics(self, msg) -> None:
        now = time.monotonic()
        for status in msg.status:
            if self.node_name and self.node_name not in status.name:
                continue
            values = {kv.key: kv.value for kv in status.values}
            level = status.level
            level = level[0] if isinstance(level, (bytes, bytearray)) else int(level)
            with self._lock:
                self.recording.diagnostics.append((now, level, status.message, values))

    def snapshot(self) -> Recording:
        with self._lock:
            return Recording(list(self.recording.fixes), list(self.recording.transforms),
                             list(self.recording.clock), list(self.recording.diagnostics))


@dataclass
class RecordConfig:
    """`scr-localizer record-poses`: listen next to `ros2 bag play --clock` and the node."""

    pose_topic: str = f"/{defaults.LOCALIZE_NODE_NAME}/pose"
    map_frame: str = defaults.MAP_FRAME
    color_topic: str = defaults.COLOR_TOPIC
    ground_truth_topic: str = defaults.GROUND_TRUTH_TOPIC
    estimate_from: str = "tf"  # "tf": map -> odom + the bag's odometry; "pose": ~/pose is the camera
    idle_timeout_s: float = 5.0  # stop this long after /clock passed the bag's end (or stalled)
    max_duration_s: float | None = None
    truth_tolerance_s: float = 0.01


def record_poses(bag_path, config: RecordConfig | None = None, progress=None):
    """Record the node's fixes while someone else plays `bag_path`, then score them.

    Stops when /clock has passed the bag's end and nothing new arrived for idle_timeout_s, on
    Ctrl-C, or after max_duration_s. Returns (records, summary) like `replay`.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor


    config = config or RecordConfig()
    say = progress or LOG.info
    bag = read_query_bag(bag_path, config.color_topic, config.ground_truth_topic)
    if bag.truth_frame is not None and bag.truth_frame != config.map_frame.lstrip("/"):
        raise ScrLocalizerError(
            f"the ground truth of bag '{bag_path}' is in frame '{bag.truth_frame}' but the map "
            f"frame is '{config.map_frame}'; expected the same fixed frame (--map-frame)"
        )
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node("scr_pose_recorder", context=context)
    recorder = PoseRecorder(node, config.pose_topic, config.map_frame, record_clock=True)
    executor.add_node(node)
    start = time.monotonic()
    say(f"recording {config.pose_topic} and /tf; play the bag now (ros2 bag play --clock)")
    try:
        last_count, last_change = 0, time.monotonic()
        while True:
            executor.spin_once(timeout_sec=0.1)
            snapshot = recorder.snapshot()
            count = len(snapshot.fixes) + len(snapshot.clock)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            finished = snapshot.clock and snapshot.clock[-1][0] >= bag.end_ns
            idle = time.monotonic() - last_change > config.idle_timeout_s
            if snapshot.clock and idle and (finished or snapshot.fixes):
                break
            if config.max_duration_s and time.monotonic() - start > config.max_duration_s:
                break
    except KeyboardInterrupt:
        say("stopped by Ctrl-C")
    finally:
        recording = recorder.snapshot()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    records, gap = frame_records(recording, bag.image_stamps_ns, bag.truth, None,
                                 config.truth_tolerance_s, bag_tf=bag.tf,
                                 camera_frame=bag.camera_frame, estimate_from=config.estimate_from)
    extras = online_extras(recording, records, None)
    extras.update({
        "mode": "record-poses",
        "tf_vs_pose_max_gap_cm": gap,
    })
    return records, summarize(records, extra=extras)
