"""`scr-localizer demo --quick`: the whole demo pipeline (scene bags, mapping, the live
localization node in a child process over DDS, report) on a small built-in room."""

import json

import pytest

from scr_localizer.cli import main
from scr_localizer.evaluation.report import REPORT_FILES

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture
def isolated_ros(ros_env, monkeypatch):
    """Replay runs in this process and spawns the node: the test's own DDS domain and logs."""
    for key in ("ROS_DOMAIN_ID", "ROS_LOG_DIR", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv(key, ros_env[key])
    return ros_env


def test_quick_demo_maps_replays_and_reports(isolated_ros, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    for stage in ("scene", "mapping", "replay", "report"):
        assert f"{stage}" in printed and " done in " in printed
    assert "| Within 10 cm / 5 deg" in printed and "| Frames (dropped)" in printed
    report_dir = out / "report"
    assert f"report with plots: {report_dir.resolve()}/report.md" in printed
    for name in REPORT_FILES:
        assert (report_dir / name).exists(), name
    assert (report_dir / "report.md").read_text().count("Within 10 cm / 5 deg") == 1
    assert all((report_dir / name).stat().st_size > 1000 for name in REPORT_FILES
               if name.endswith(".png"))
    assert (out / "mapping" / "metadata.yaml").exists() and (out / "query" / "metadata.yaml").exists()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "replay" and summary["accuracy_available"]
    assert summary["frames_dropped"] <= 1
    # Every query frame reached the live node and was scored ...
    assert summary["frames"] == 16 and summary["frames_with_ground_truth"] == 16
    assert summary["node_frames_synchronized"] == 16
    assert summary["frames_processed"] + summary["frames_dropped"] == 16
    # ... and the query path, which never repeats a mapping view, localizes. The quick map
    # (1500 iterations at 320x240) gave 100 % localized, median 5.7 cm / 1.2 deg, 75 % within
    # 10 cm / 5 deg; the bounds leave room for other CPUs' float rounding, not for a broken map.
    assert summary["pct_localized"] >= 80.0
    assert summary["median_translation_cm"] < 15.0 and summary["median_rotation_deg"] < 5.0
    assert summary["pct_10cm_5deg"] >= 50.0
    assert set(summary["demo_stage_seconds"]) and all(
        s > 0 for s in summary["demo_stage_seconds"].values())
