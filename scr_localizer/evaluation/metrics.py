"""Per-frame localization records and the summary every evaluation reports (JSON keys fixed)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import pose_error
from scr_localizer.io.atomic import atomic_write

# (translation cm, rotation deg) thresholds, as named in the JSON keys.
ACCURACY_THRESHOLDS = {
    "pct_10cm_5deg": (10.0, 5.0),
    "pct_5cm_5deg": (5.0, 5.0),
    "pct_2cm_2deg": (2.0, 2.0),
    "pct_1cm_1deg": (1.0, 1.0),
}
ACCURACY_KEYS = ("median_translation_cm", "median_rotation_deg", *ACCURACY_THRESHOLDS)


@dataclass
class FrameRecord:
    """One query frame's outcome. A frame the localizer rejected keeps its (unused) estimate
    out of accuracy: accuracy counts every frame with ground truth, unlocalized ones as failures."""

    stamp_ns: int
    success: bool
    estimate_world_from_camera: np.ndarray | None
    truth_world_from_camera: np.ndarray | None
    inlier_count: int = 0
    inlier_ratio: float = 0.0
    latency_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    covariance: np.ndarray | None = None
    confidence: float | None = None  # the localizer's probability that the fix is right
    colour_depth_shift_m: float | None = None  # how far depth moved the fix from colour alone

    def _errors(self):
        if self.estimate_world_from_camera is None or self.truth_world_from_camera is None:
            return None
        return pose_error(
            np.asarray(self.estimate_world_from_camera, dtype=np.float64),
            np.asarray(self.truth_world_from_camera, dtype=np.float64),
        )

    @property
    def translation_error_m(self) -> float | None:
        errors = self._errors()
        return None if errors is None else errors[0]

    @property
    def rotation_error_deg(self) -> float | None:
        errors = self._errors()
        return None if errors is None else errors[1]


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def covariance_calibration(records: Iterable[FrameRecord]) -> dict:
    """How well the predicted covariance bounds the actual error, over localized frames with
    ground truth: the fraction of per-axis position and rotation errors inside 2 sigma (about
    95 % for a calibrated Gaussian) and the rank correlation of error vs. predicted std."""
    inside_t, inside_r, errors, stds = [], [], [], []
    for record in records:
        if not record.success or record.covariance is None or record.translation_error_m is None:
            continue
        estimate = np.asarray(record.estimate_world_from_camera, dtype=np.float64)
        truth = np.asarray(record.truth_world_from_camera, dtype=np.float64)
        sigma = np.sqrt(np.maximum(np.diag(np.asarray(record.covariance)), 0.0))
        delta_t = estimate[:3, 3] - truth[:3, 3]
        # Rotation error about the map axes: estimate = Exp(w) truth (small angle).
        delta_r = estimate[:3, :3] @ truth[:3, :3].T
        w = 0.5 * np.array([delta_r[2, 1] - delta_r[1, 2], delta_r[0, 2] - delta_r[2, 0],
                            delta_r[1, 0] - delta_r[0, 1]])
        inside_t.append(np.abs(delta_t) <= 2 * sigma[:3])
        inside_r.append(np.abs(w) <= 2 * sigma[3:])
        errors.append(float(np.linalg.norm(delta_t)))
        stds.append(float(np.sqrt(np.sum(sigma[:3] ** 2))))
    if not errors:
        return {"frames": 0, "pct_position_within_2sigma": None,
                "pct_rotation_within_2sigma": None, "error_std_rank_correlation": None}
    correlation = None
    if len(errors) > 2 and np.ptp(errors) > 0 and np.ptp(stds) > 0:
        ranks_e = np.argsort(np.argsort(errors))
        ranks_s = np.argsort(np.argsort(stds))
        correlation = float(np.corrcoef(ranks_e, ranks_s)[0, 1])
    return {
        "frames": len(errors),
        "pct_position_within_2sigma": 100.0 * float(np.mean(inside_t)),
        "pct_rotation_within_2sigma": 100.0 * float(np.mean(inside_r)),
        "error_std_rank_correlation": correlation,
        "median_position_std_cm": 100.0 * float(np.median(stds)),
    }


def summarize(records: Sequence[FrameRecord], extra: dict | None = None) -> dict:
    """The evaluation summary: accuracy over frames with ground truth (a frame not localized
    counts as a miss), localization rate and latency over all frames, mean per-stage timings.
    Without any ground truth, accuracy keys are None and accuracy_available is False."""
    records = list(records)
    with_truth = [r for r in records if r.truth_world_from_camera is not None]
    summary: dict = {"frames": len(records)}
    summary["pct_localized"] = (
        100.0 * sum(r.success for r in records) / len(records) if records else None
    )
    summary["accuracy_available"] = bool(with_truth)
    summary["frames_with_ground_truth"] = len(with_truth)
    if with_truth:
        translation_cm, rotation_deg = [], []
        for record in with_truth:
            if record.success and record.estimate_world_from_camera is not None:
                translation_cm.append(100.0 * record.translation_error_m)
                rotation_deg.append(record.rotation_error_deg)
            else:
                translation_cm.append(math.inf)
                rotation_deg.append(math.inf)
        translation_cm = np.asarray(translation_cm)
        rotation_deg = np.asarray(rotation_deg)
        median_t = float(np.median(translation_cm))
        median_r = float(np.median(rotation_deg))
        summary["median_translation_cm"] = median_t if math.isfinite(median_t) else None
        summary["median_rotation_deg"] = median_r if math.isfinite(median_r) else None
        for key, (max_cm, max_deg) in ACCURACY_THRESHOLDS.items():
            within = (translation_cm <= max_cm) & (rotation_deg <= max_deg)
            summary[key] = 100.0 * float(np.mean(within))
        summary["covariance_calibration"] = covariance_calibration(with_truth)
        # Of the fixes called successful, the share within 10 cm / 5 deg: what a robot that
        # trusts the success flag gets.
        accepted = [r for r in with_truth if r.success and r.estimate_world_from_camera is not None]
        summary["precision_10cm_5deg"] = (
            100.0 * float(np.mean([r.translation_error_m <= 0.10 and r.rotation_error_deg <= 5.0
                                   for r in accepted])) if accepted else None)
    else:
        for key in ACCURACY_KEYS:
            summary[key] = None
    latencies = [r.latency_ms for r in records]
    summary["latency_ms_p50"] = _percentile(latencies, 50)
    summary["latency_ms_p95"] = _percentile(latencies, 95)
    summary["rate_hz"] = (
        1000.0 / float(np.mean(latencies)) if latencies and np.mean(latencies) > 0 else None
    )
    stages = sorted({stage for r in records for stage in r.timings_ms})
    summary["timings_ms_mean"] = {
        stage: float(np.mean([r.timings_ms[stage] for r in records if stage in r.timings_ms]))
        for stage in stages
    }
    summary["inlier_count_median"] = (
        float(np.median([r.inlier_count for r in records])) if records else None
    )
    confidences = [r.confidence for r in records if r.confidence is not None]
    summary["confidence_median"] = float(np.median(confidences)) if confidences else None
    # A median of several centimetres points at depth that is not registered to (or not in step
    # with) the colour images; the published covariances widen by it.
    shifts = [r.colour_depth_shift_m for r in records if r.colour_depth_shift_m is not None]
    summary["colour_depth_shift_cm_median"] = (100.0 * float(np.median(shifts)) if shifts
                                               else None)
    if extra:
        summary.update(extra)
    return summary


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, summary: dict) -> Path:
    """Atomic write (temp file in the same folder + rename); non-finite numbers become null."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ScrLocalizerError(f"output folder {path.parent} does not exist; create it first")
    with atomic_write(path) as stream:
        json.dump(_json_ready(summary), stream, indent=2, sort_keys=False)
        stream.write("\n")
    return path
