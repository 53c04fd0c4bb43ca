"""Evaluation summary keys and values, JSON writing and TUM round trips."""

import json

import numpy as np
import pytest
import transforms3d.euler as te

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.metrics import FrameRecord, summarize, write_json
from scr_localizer.evaluation.trajectory import read_tum, write_tum
from scr_localizer.geometry.transforms import pose_matrix

KEYS = ("median_translation_cm", "median_rotation_deg", "pct_10cm_5deg", "pct_5cm_5deg",
        "pct_2cm_2deg", "pct_1cm_1deg", "pct_localized", "latency_ms_p50", "latency_ms_p95",
        "frames")


def _shifted(pose, metres=0.0, degrees=0.0):
    out = pose.copy()
    out[:3, 3] += [metres, 0, 0]
    out[:3, :3] = te.euler2mat(0, 0, np.radians(degrees)) @ out[:3, :3]
    return out


def test_summary_counts_thresholds_and_failures():
    truth = pose_matrix(te.euler2mat(0.1, 0.2, 0.3), [1, 2, 3])
    errors = [(0.005, 0.5), (0.015, 1.0), (0.03, 1.0), (0.08, 1.0), (0.02, 3.0)]
    records = [
        FrameRecord(i, True, _shifted(truth, m, d), truth, 100, 0.5, 10.0 + i,
                    {"encoder": 5.0, "ransac": 2.0}, np.diag([1e-4] * 6))
        for i, (m, d) in enumerate(errors)
    ]
    records.append(FrameRecord(9, False, None, truth, 3, 0.01, 40.0, {"encoder": 5.0}))
    records[0].colour_depth_shift_m, records[1].colour_depth_shift_m = 0.02, 0.06  # with depth
    summary = summarize(records, extra={"map": "x"})
    assert summary["colour_depth_shift_cm_median"] == pytest.approx(4.0)
    assert set(KEYS) <= set(summary)
    assert summary["frames"] == 6 and summary["accuracy_available"] is True
    assert summary["pct_1cm_1deg"] == pytest.approx(100 / 6)
    assert summary["pct_2cm_2deg"] == pytest.approx(200 / 6)
    assert summary["pct_5cm_5deg"] == pytest.approx(400 / 6)
    assert summary["pct_10cm_5deg"] == pytest.approx(500 / 6)
    assert summary["pct_localized"] == pytest.approx(500 / 6)
    # The failure counts as an infinite error: median of 6 = mean of 3rd and 4th smallest.
    assert summary["median_translation_cm"] == pytest.approx(2.5)
    assert summary["latency_ms_p50"] == pytest.approx(12.5)
    assert summary["timings_ms_mean"]["encoder"] == 5.0
    assert summary["map"] == "x"
    assert records[1].translation_error_m == pytest.approx(0.015)
    assert records[1].rotation_error_deg == pytest.approx(1.0)
    assert records[5].translation_error_m is None
    calibration = summary["covariance_calibration"]
    assert calibration["frames"] == 5 and 0 <= calibration["pct_position_within_2sigma"] <= 100


def test_without_ground_truth_accuracy_is_unavailable(tmp_path):
    records = [FrameRecord(i, True, np.eye(4), None, 50, 0.4, 20.0) for i in range(3)]
    summary = summarize(records)
    assert summary["accuracy_available"] is False
    for key in ("median_translation_cm", "pct_5cm_5deg", "pct_1cm_1deg"):
        assert summary[key] is None
    assert summary["latency_ms_p95"] == pytest.approx(20.0)
    path = write_json(tmp_path / "out.json", summary)
    loaded = json.loads(path.read_text())
    assert set(KEYS) <= set(loaded) and loaded["median_translation_cm"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_write_json_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ScrLocalizerError, match="does not exist"):
        write_json(tmp_path / "nope" / "out.json", {"frames": 0})


def test_tum_round_trip_keeps_nanoseconds_and_poses(tmp_path):
    rng = np.random.default_rng(0)
    stamps = [1_700_000_000_123_456_789, 1_700_000_000_223_456_789]
    poses = [pose_matrix(te.euler2mat(*rng.uniform(-3, 3, 3)), rng.normal(size=3))
             for _ in stamps]
    path = write_tum(tmp_path / "traj.txt", stamps, poses, header="test")
    first = path.read_text().splitlines()[1].split()
    assert len(first) == 8 and first[0] == "1700000000.123456789"
    read_stamps, read_poses = read_tum(path)
    assert read_stamps == stamps
    for a, b in zip(poses, read_poses):
        np.testing.assert_allclose(a, b, atol=1e-8)


def test_read_tum_rejects_malformed_lines(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1.0 0 0 0 0 0 0\n")
    with pytest.raises(ScrLocalizerError, match="expected 8"):
        read_tum(path)
    with pytest.raises(ScrLocalizerError, match="not found"):
        read_tum(tmp_path / "missing.txt")
