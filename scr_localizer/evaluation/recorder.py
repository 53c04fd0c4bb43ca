"""Record what a running localization node publishes, and turn it into FrameRecords.

`PoseRecorder` (needs rclpy) subscribes to `~/pose`, /tf (map -> anything), /clock and
/diagnostics and notes the wall time each message arrived. `frame_records(...)` is ROS-free: it
pairs the recorded fixes with the query bag's colour frames and ground truth by image stamp, so
`replay` and `record-poses` (next to `ros2 bag play --clock`) score the node the same way as the
offline `evaluate`.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from scr_localizer.geometry.transforms import pose_error, pose_from_translation_quaternion

DIAGNOSTIC_ERROR = 2


def _stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _pose_matrix(position, orientation) -> np.ndarray:
    return pose_from_translation_quaternion(
        [position.x, position.y, position.z],
        [orientation.x, orientation.y, orientation.z, orientation.w],
    )


@dataclass
class RecordedFix:
    stamp_ns: int
    map_from_body: np.ndarray  # ~/pose: the body (camera optical frame when base_frame is "")
    covariance: np.ndarray  # 6x6
    frame_id: str
    wall_time_s: float


@dataclass
class RecordedTransform:
    stamp_ns: int
    parent: str
    child: str
    parent_from_child: np.ndarray
    wall_time_s: float


@dataclass
class Recording:
    fixes: list[RecordedFix] = field(default_factory=list)
    transforms: list[RecordedTransform] = field(default_factory=list)
    # (sim clock ns, wall s) pairs from /clock, to map image stamps to wall time.
    clock: list[tuple[int, float]] = field(default_factory=list)
    diagnostics: list[tuple[float, int, str, dict[str, str]]] = field(default_factory=list)

    def last_output_wall_s(self) -> float | None:
        times = [f.wall_time_s for f in self.fixes] + [t.wall_time_s for t in self.transforms]
        return max(times) if times else None

    def node_diagnostics(self) -> dict[str, str]:
        """Key/values of the most recent diagnostics status (the node's own)."""
        return dict(self.diagnostics[-1][3]) if self.diagnostics else {}

    def wall_time_at_sim(self, stamp_ns: int) -> float | None:
        """Wall time at which /clock reached `stamp_ns` (interpolated), None if never."""
        if not self.clock:
            return None
        sims = [c for c, _ in self.clock]
        index = bisect.bisect_left(sims, stamp_ns)
        if index >= len(sims):
            return None
        if index == 0 or sims[index] == stamp_ns:
            return self.clock[index][1]
        (s0, w0), (s1, w1) = self.clock[index - 1], self.clock[index]
        return w0 + (w1 - w0) * (stamp_ns - s0) / max(s1 - s0, 1)


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
            stamp_ns=_stamp_ns(msg.header.stamp),
            map_from_body=_pose_matrix(msg.pose.pose.position, msg.pose.pose.orientation),
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
                    stamp_ns=_stamp_ns(transform.header.stamp),
                    parent=self.map_frame,
                    child=transform.child_frame_id.lstrip("/"),
                    parent_from_child=_pose_matrix(t.translation, t.rotation),
                    wall_time_s=now,
                ))

    def _on_clock(self, msg) -> None:
        now = time.monotonic()
        stamp = _stamp_ns(msg.clock)
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


def _nearest(stamps: list[int], stamp_ns: int, tolerance_ns: int) -> int | None:
    """Index of the stamp closest to stamp_ns within tolerance (stamps sorted)."""
    if not stamps:
        return None
    index = bisect.bisect_left(stamps, stamp_ns)
    best = None
    for candidate in (index - 1, index):
        if 0 <= candidate < len(stamps):
            gap = abs(stamps[candidate] - stamp_ns)
            if gap <= tolerance_ns and (best is None or gap < abs(stamps[best] - stamp_ns)):
                best = candidate
    return best


def _diagnostic_number(values: dict[str, str], *needles: str) -> float | None:
    for key, value in values.items():
        name = key.lower().replace(" ", "_")
        if all(n in name for n in needles):
            try:
                return float(value)
            except ValueError:
                continue
    return None


def frame_records(
    recording: Recording,
    image_stamps_ns: list[int],
    truth: dict[int, np.ndarray],
    publish_wall_s: dict[int, float] | None = None,
    truth_tolerance_s: float = 0.01,
    body_from_camera: np.ndarray | None = None,
    bag_tf=None,
    camera_frame: str = "",
):
    """One FrameRecord per colour image of the bag (stamp order).

    A frame is localized when the node published `~/pose` with its image stamp. The estimate is
    `map_from_body · body_from_camera` (identity when the node reports the camera itself).
    Latency is the wall time from publishing the image (or /clock reaching its stamp) to the
    fix's arrival. Returns (records, tf_consistency_cm): the largest gap between `~/pose` and
    the TF the node published (map -> X, composed with the bag's X -> camera) at fix stamps,
    None when it could not be checked.
    """
    from scr_localizer.evaluation.metrics import FrameRecord

    body_from_camera = np.eye(4) if body_from_camera is None else body_from_camera
    fixes = {fix.stamp_ns: fix for fix in recording.fixes}
    truth_stamps = sorted(truth)
    tolerance_ns = int(truth_tolerance_s * 1e9)
    transforms = {(t.stamp_ns, t.child): t for t in recording.transforms}
    records, tf_gaps = [], []
    for stamp in sorted(image_stamps_ns):
        truth_index = _nearest(truth_stamps, stamp, tolerance_ns)
        truth_pose = truth[truth_stamps[truth_index]] if truth_index is not None else None
        fix = fixes.get(stamp)
        estimate, latency, covariance = None, float("nan"), None
        if fix is not None:
            estimate = fix.map_from_body @ body_from_camera
            covariance = fix.covariance
            sent = (publish_wall_s or {}).get(stamp)
            if sent is None:
                sent = recording.wall_time_at_sim(stamp)
            if sent is not None:
                latency = 1000.0 * (fix.wall_time_s - sent)
            if bag_tf is not None and camera_frame:
                for (tf_stamp, child), transform in transforms.items():
                    if tf_stamp != stamp:
                        continue
                    try:
                        child_from_camera = bag_tf.lookup(child, camera_frame, stamp, 0.05)
                    except Exception:  # noqa: BLE001 - consistency check only
                        continue
                    via_tf = transform.parent_from_child @ child_from_camera
                    tf_gaps.append(100.0 * pose_error(via_tf, estimate)[0])
        records.append(FrameRecord(
            stamp_ns=int(stamp),
            success=fix is not None,
            estimate_world_from_camera=estimate,
            truth_world_from_camera=truth_pose,
            inlier_count=0,
            inlier_ratio=0.0,
            latency_ms=latency,
            timings_ms={},
            covariance=covariance,
        ))
    return records, (max(tf_gaps) if tf_gaps else None)


def online_extras(recording: Recording, records, publish_wall_s: dict[int, float] | None,
                  start_wall_s: float | None = None) -> dict:
    """frames_dropped and sustained_rate_hz from what the node answered (and said it dropped)."""
    diagnostics = recording.node_diagnostics()
    reported_dropped = _diagnostic_number(diagnostics, "drop")
    answered = sum(1 for r in records if r.success)
    without_output = len(records) - answered
    dropped = int(reported_dropped) if reported_dropped is not None else without_output
    wall = [f.wall_time_s for f in recording.fixes]
    if start_wall_s is None and publish_wall_s:
        start_wall_s = min(publish_wall_s.values())
    if start_wall_s is None and recording.clock:
        start_wall_s = recording.clock[0][1]
    rate = None
    processed = max(len(records) - dropped, answered)
    if wall and start_wall_s is not None and max(wall) > start_wall_s and processed > 1:
        rate = processed / (max(wall) - start_wall_s)
    return {
        "frames_dropped": dropped,
        "frames_without_fix": without_output,
        "sustained_rate_hz": rate,
    }


__all__ = [
    "PoseRecorder",
    "Recording",
    "RecordedFix",
    "RecordedTransform",
    "frame_records",
    "online_extras",
]
