"""Score what a running localization node published against a query bag's ground truth.

ROS-free: `scr_localizer.ros.recorder.PoseRecorder` fills a `Recording` from DDS; here the fixes
are paired with the bag's colour frames and ground truth by image stamp, so `replay` and
`record-poses` score the node the same way as the offline `evaluate`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from scr_localizer.evaluation.metrics import FrameRecord
from scr_localizer.geometry.stamps import nearest_stamp_index
from scr_localizer.geometry.transforms import pose_error


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


def _diagnostic_number(values: dict[str, str], *needles: str) -> float | None:
    for key, value in values.items():
        name = key.lower().replace(" ", "_")
        if all(n in name for n in needles):
            try:
                return float(value)
            except ValueError:
                continue
    return None


# How far past its image stamp the map -> X sent with a fix may be dated: the node future-dates
# map -> odom by transform_tolerance_s (and bumps it past the last stamp sent).
MAX_FUTURE_DATING_NS = 10 * 10**9


def _estimate_via_tf(transforms_by_stamp, stamps, bag_tf, camera_frame: str, stamp: int,
                     arrival_s: float):
    """map_from_camera = map_from_X (published by the node) · X_from_camera (the bag's TF).

    The node sends map -> X with a fix just before its ~/pose: map -> body at the image stamp,
    map -> odom future-dated (up to MAX_FUTURE_DATING_NS). Of the transforms dated from the image
    stamp on, the one that arrived closest to the fix belongs to it; X -> camera is the bag's at
    the image stamp, where the fix holds.
    """
    low = bisect.bisect_left(stamps, stamp)
    high = bisect.bisect_right(stamps, stamp + MAX_FUTURE_DATING_NS)
    candidates = [t for s in stamps[low:high] for t in transforms_by_stamp[s]]
    for transform in sorted(candidates, key=lambda t: abs(t.wall_time_s - arrival_s)):
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
    base_frame "") or from the map -> X it published with the fix, composed with the
    bag's X -> camera (estimate_from="tf"; works for any base_frame). Latency is the wall time
    from publishing the image (or /clock reaching its stamp) to the fix's arrival.
    Returns (records, tf_vs_pose_max_gap_cm): the largest gap between the two estimates, None
    when it could not be checked.
    """
    fixes = {fix.stamp_ns: fix for fix in recording.fixes}
    truth_stamps = sorted(truth)
    tolerance_ns = int(truth_tolerance_s * 1e9)
    transforms: dict[int, list[RecordedTransform]] = {}
    for transform in recording.transforms:
        transforms.setdefault(transform.stamp_ns, []).append(transform)
    transform_stamps = sorted(transforms)
    records, tf_gaps = [], []
    for stamp in sorted(image_stamps_ns):
        truth_index = nearest_stamp_index(truth_stamps, stamp, tolerance_ns)
        truth_pose = truth[truth_stamps[truth_index]] if truth_index is not None else None
        fix = fixes.get(stamp)
        estimate, latency, covariance = None, float("nan"), None
        if fix is not None:
            covariance = fix.covariance
            via_tf = None
            if bag_tf is not None and camera_frame:
                via_tf = _estimate_via_tf(transforms, transform_stamps, bag_tf, camera_frame,
                                          stamp, fix.wall_time_s)
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
