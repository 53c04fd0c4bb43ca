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

from scr_localizer.errors import ScrLocalizerError
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


def _estimate_via_tf(transforms_at_stamp, bag_tf, camera_frame: str, stamp: int,
                     arrival_s: float):
    """map_from_camera = map_from_X (published by the node) · X_from_camera (the bag's TF).

    Of several transforms with this stamp, the one that arrived closest to the fix belongs to
    it: a re-published map -> odom (future-dated by transform_tolerance_s) can carry exactly
    the stamp of a later image while still holding an older fix.
    """
    ordered = sorted(transforms_at_stamp, key=lambda t: abs(t.wall_time_s - arrival_s))
    for transform in ordered:
        try:
            child_from_camera = bag_tf.lookup(transform.child, camera_frame, stamp, 0.05)
        except Exception:  # noqa: BLE001 - no link from this child: try the next one
            continue
        return transform.parent_from_child @ child_from_camera
    return None


def frame_records(
    recording: Recording,
    image_stamps_ns: list[int],
    truth: dict[int, np.ndarray],
    publish_wall_s: dict[int, float] | None = None,
    truth_tolerance_s: float = 0.01,
    bag_tf=None,
    camera_frame: str = "",
    estimate_from: str = "pose",
):
    """One FrameRecord per colour image of the bag (stamp order).

    A frame is localized when the node published `~/pose` with its image stamp. The estimate
    comes from `~/pose` (estimate_from="pose"; the node must report the camera itself, i.e.
    base_frame "") or from the TF it published with that stamp, map -> X, composed with the
    bag's X -> camera (estimate_from="tf"; works for any base_frame). Latency is the wall time
    from publishing the image (or /clock reaching its stamp) to the fix's arrival.
    Returns (records, tf_vs_pose_max_gap_cm): the largest gap between the two estimates, None
    when it could not be checked.
    """
    from scr_localizer.evaluation.metrics import FrameRecord

    fixes = {fix.stamp_ns: fix for fix in recording.fixes}
    truth_stamps = sorted(truth)
    tolerance_ns = int(truth_tolerance_s * 1e9)
    transforms: dict[int, list[RecordedTransform]] = {}
    for transform in recording.transforms:
        transforms.setdefault(transform.stamp_ns, []).append(transform)
    records, tf_gaps = [], []
    for stamp in sorted(image_stamps_ns):
        truth_index = _nearest(truth_stamps, stamp, tolerance_ns)
        truth_pose = truth[truth_stamps[truth_index]] if truth_index is not None else None
        fix = fixes.get(stamp)
        estimate, latency, covariance = None, float("nan"), None
        if fix is not None:
            covariance = fix.covariance
            via_tf = None
            if bag_tf is not None and camera_frame:
                via_tf = _estimate_via_tf(transforms.get(stamp, []), bag_tf, camera_frame, stamp,
                                          fix.wall_time_s)
            if via_tf is not None and estimate_from == "pose":
                tf_gaps.append(100.0 * pose_error(via_tf, fix.map_from_body)[0])
            estimate = via_tf if estimate_from == "tf" else fix.map_from_body
            sent = (publish_wall_s or {}).get(stamp)
            if sent is None:
                sent = recording.wall_time_at_sim(stamp)
            if sent is not None:
                latency = 1000.0 * (fix.wall_time_s - sent)
        records.append(FrameRecord(
            stamp_ns=int(stamp),
            success=estimate is not None,
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
    """frames_dropped, sustained_rate_hz (also as rate_hz) and latency percentiles.

    frames_dropped: frames the node never ran the localizer on (superseded by a newer frame,
    stale, unsynchronized or lost in transport) = frames - the node's `frames_processed`
    diagnostic; without diagnostics, frames without a fix. sustained_rate_hz: frames the node
    processed per wall second, from the first image sent to the last fix received.
    """
    diagnostics = recording.node_diagnostics()
    processed = _diagnostic_number(diagnostics, "frames_processed")
    answered = sum(1 for r in records if r.success)
    without_fix = len(records) - answered
    if processed is None:
        processed = answered
    processed = int(min(max(processed, answered), len(records)))
    wall = [f.wall_time_s for f in recording.fixes]
    if start_wall_s is None and publish_wall_s:
        start_wall_s = min(publish_wall_s.values())
    if start_wall_s is None and records:
        # Without our own publish times: when /clock reached the first image's stamp.
        start_wall_s = recording.wall_time_at_sim(min(r.stamp_ns for r in records))
    rate = None
    if wall and start_wall_s is not None and max(wall) > start_wall_s and processed > 0:
        rate = processed / (max(wall) - start_wall_s)
    # Latency (image sent -> fix received) exists only for frames that got a fix.
    latencies = [r.latency_ms for r in records if r.success and np.isfinite(r.latency_ms)]
    extras = {
        "frames_dropped": len(records) - processed,
        "frames_processed": processed,
        "frames_without_fix": without_fix,
        "sustained_rate_hz": rate,
        "rate_hz": rate,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else None,
        "inlier_count_median": None,  # the node does not publish inlier counts per fix
    }
    for name in ("synchronized", "localized", "superseded", "stale", "failed",
                 "rejected_input"):
        value = _diagnostic_number(diagnostics, f"frames_{name}")
        if value is not None:
            extras[f"node_frames_{name}"] = int(value)
    return extras


__all__ = [
    "PoseRecorder",
    "Recording",
    "RecordedFix",
    "RecordedTransform",
    "frame_records",
    "online_extras",
]


@dataclass
class RecordConfig:
    """`scr-localizer record-poses`: listen next to `ros2 bag play --clock` and the node."""

    pose_topic: str = "/localize_node/pose"
    map_frame: str = "map"
    color_topic: str = "/camera/camera/color/image_raw"
    ground_truth_topic: str = "/ground_truth/pose"
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

    from scr_localizer.evaluation.metrics import summarize
    from scr_localizer.evaluation.replay import ReplayConfig, read_bag_summary

    config = config or RecordConfig()
    say = progress or (lambda text: None)
    bag = read_bag_summary(bag_path, ReplayConfig(color_topic=config.color_topic,
                                                  ground_truth_topic=config.ground_truth_topic))
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
