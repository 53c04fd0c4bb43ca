"""Report folder: Markdown table, decodable PNG plots, TUM files that read back to the poses."""

import numpy as np
from PIL import Image

from scr_localizer.evaluation.metrics import FrameRecord, summarize
from scr_localizer.evaluation.report import REPORT_FILES, write_report
from scr_localizer.evaluation.trajectory import read_tum
from scr_localizer.geometry.transforms import pose_matrix
from scr_localizer.io.seven_scenes import iter_frames


def _records_from_real_poses(redkitchen, count=40):
    """Ground truth from real redkitchen poses; estimates perturbed by a known error."""
    rng = np.random.default_rng(0)
    records = []
    frames = iter_frames(redkitchen, range(count))
    for index, frame in enumerate(frames):
        # 7-Scenes rotations are orthonormal only to ~1e-4; TUM stores a unit quaternion.
        u, _, vt = np.linalg.svd(frame.world_from_camera[:3, :3])
        truth = pose_matrix(u @ vt, frame.world_from_camera[:3, 3])
        angle = np.radians(rng.uniform(0.1, 3.0))
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rotation = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
        offset = pose_matrix(rotation, rng.normal(scale=0.02, size=3))
        success = index % 10 != 3  # a few failures, as a real run has
        records.append(FrameRecord(
            stamp_ns=1_700_000_000_000_000_000 + index * 33_333_333,
            success=success,
            estimate_world_from_camera=truth @ offset if success else None,
            truth_world_from_camera=truth,
            inlier_count=int(rng.integers(50, 900)) if success else 7,
            inlier_ratio=0.5,
            latency_ms=float(rng.uniform(40, 90)),
        ))
    return records


def test_report_folder_is_complete_and_well_formed(redkitchen, tmp_path):
    records = _records_from_real_poses(redkitchen)
    summary = summarize(records, extra={"frames_dropped": 2, "sustained_rate_hz": 9.5})
    paths = write_report(tmp_path / "report", records, summary, title="Test run")
    assert sorted(p.name for p in paths.values()) == sorted(REPORT_FILES)
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(REPORT_FILES)

    markdown = paths["report.md"].read_text()
    assert markdown.startswith("# Test run")
    assert "| Metric | Value |" in markdown
    median = f"{summary['median_translation_cm']:.3g} cm"
    assert f"| Median translation error | {median} |" in markdown
    assert f"| Within 5 cm / 5 deg | {summary['pct_5cm_5deg']:.1f}% |" in markdown
    assert "| Frames dropped | 2 |" in markdown and "| Sustained rate | 9.5 Hz |" in markdown
    for name in ("error_cdf.png", "trajectory_topview.png", "errors_over_time.png"):
        assert f"]({name})" in markdown
        with Image.open(paths[name]) as image:
            image.load()
            assert image.format == "PNG" and image.width >= 500 and image.height >= 400
            # Not a blank canvas: plots draw lines in several colours.
            assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 20

    gt_stamps, gt_poses = read_tum(paths["gt.txt"])
    est_stamps, est_poses = read_tum(paths["est.txt"])
    assert gt_stamps == [r.stamp_ns for r in records]
    localized = [r for r in records if r.success]
    assert est_stamps == [r.stamp_ns for r in localized]
    for pose, record in zip(est_poses, localized):
        np.testing.assert_allclose(pose, record.estimate_world_from_camera, atol=1e-8)
    for pose, record in zip(gt_poses, records):
        np.testing.assert_allclose(pose, record.truth_world_from_camera, atol=1e-8)
    # TUM lines as evo parses them: 8 whitespace-separated floats, seconds with ns decimals.
    first = paths["gt.txt"].read_text().splitlines()[0].split()
    assert len(first) == 8 and first[0] == "1700000000.000000000"


def test_report_without_ground_truth_says_accuracy_unavailable(redkitchen, tmp_path):
    records = _records_from_real_poses(redkitchen, count=12)
    for record in records:
        record.truth_world_from_camera = None
    summary = summarize(records)
    paths = write_report(tmp_path, records, summary)
    markdown = paths["report.md"].read_text()
    assert "Accuracy: **unavailable**" in markdown and "Median translation" not in markdown
    assert "| Latency p50 |" in markdown
    assert read_tum(paths["gt.txt"]) == ([], [])
    assert len(read_tum(paths["est.txt"])[0]) == sum(r.success for r in records)
    for name in ("error_cdf.png", "trajectory_topview.png", "errors_over_time.png"):
        with Image.open(paths[name]) as image:
            assert image.format == "PNG"
