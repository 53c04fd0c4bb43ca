"""`scr-localizer localize` and `evaluate` on small real bags written from redkitchen frames."""

import json

import numpy as np
import pytest

from scr_localizer.cli import main
from scr_localizer.evaluation.trajectory import read_tum
from scr_localizer.geometry.transforms import pose_error
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.seven_scenes import iter_frames

KEYS = ("median_translation_cm", "median_rotation_deg", "pct_10cm_5deg", "pct_5cm_5deg",
        "pct_2cm_2deg", "pct_1cm_1deg", "pct_localized", "latency_ms_p50", "latency_ms_p95",
        "frames")
INDICES = [55, 65, 75, 85]


@pytest.fixture(scope="module")
def bags(tmp_path_factory, redkitchen, small_redkitchen_map):
    folder = tmp_path_factory.mktemp("loc_cli")
    frames = list(iter_frames(redkitchen, INDICES))
    query = write_rgbd_bag(folder / "query", frames, BagWriteConfig(query=True))
    mapping = write_rgbd_bag(folder / "mapping", frames[:2], BagWriteConfig())
    for frame in frames:
        frame.world_from_camera = None
    no_truth = write_rgbd_bag(folder / "no_truth", frames, BagWriteConfig())
    map_path = small_redkitchen_map
    truth = {f.stamp_ns: f.world_from_camera for f in iter_frames(redkitchen, INDICES)}
    return {"folder": folder, "query": query, "mapping": mapping, "no_truth": no_truth, "map": map_path,
            "truth": truth}


def test_evaluate_query_bag_writes_summary(bags, capsys):
    out = bags["folder"] / "eval.json"
    code = main(["evaluate", "--map", str(bags["map"]), "--bag", str(bags["query"]),
                 "--json", str(out), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(out.read_text())
    assert set(KEYS) <= set(summary)
    assert summary["frames"] == len(INDICES)
    assert summary["accuracy_available"] is True
    assert summary["ground_truth_source"] == "topic /ground_truth/pose"
    assert summary["depth_used"] is True
    assert summary["pct_10cm_5deg"] >= 50.0
    assert summary["latency_ms_p50"] > 0


def test_evaluate_mapping_bag_uses_tf_ground_truth(bags, capsys):
    out = bags["folder"] / "eval_mapping.json"
    code = main(["evaluate", "--map", str(bags["map"]), "--bag", str(bags["mapping"]),
                 "--json", str(out), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(out.read_text())
    assert summary["accuracy_available"] is True and summary["frames"] == 2
    assert summary["ground_truth_source"].startswith("TF map -> ")
    assert summary["median_translation_cm"] < 25


def test_evaluate_without_ground_truth_reports_accuracy_unavailable(bags, capsys):
    out = bags["folder"] / "eval_no_truth.json"
    code = main(["evaluate", "--map", str(bags["map"]), "--bag", str(bags["no_truth"]),
                 "--json", str(out), "--device", "cpu", "--no-depth", "--frame-step", "2"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(out.read_text())
    assert summary["accuracy_available"] is False
    assert summary["median_translation_cm"] is None and summary["pct_5cm_5deg"] is None
    assert summary["frames"] == 2 and summary["latency_ms_p95"] > 0
    assert "accuracy unavailable" in capsys.readouterr().out


def test_localize_writes_tum_and_inlier_side_file(bags, capsys):
    out = bags["folder"] / "poses.txt"
    code = main(["localize", str(bags["map"]), str(bags["query"]), "-o", str(out),
                 "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    stamps, poses = read_tum(out)
    side = (bags["folder"] / "poses.inliers.txt").read_text().splitlines()
    assert len(side) == 1 + len(INDICES)
    assert len(stamps) == sum(int(line.split()[1]) for line in side[1:]) >= 3
    errors = np.array([pose_error(p, bags["truth"][s]) for s, p in zip(stamps, poses)])
    assert np.median(errors[:, 0]) < 0.10 and np.median(errors[:, 1]) < 5.0


@pytest.mark.parametrize("case", ["missing map", "corrupt map", "missing bag"])
def test_bad_input_is_one_line_error_exit_2(bags, tmp_path, capsys, case):
    map_path, bag_path = str(bags["map"]), str(bags["query"])
    if case == "missing map":
        map_path = str(tmp_path / "nope.scrmap")
    elif case == "corrupt map":
        corrupt = tmp_path / "corrupt.scrmap"
        corrupt.write_bytes(bags["map"].read_bytes()[:500])
        map_path = str(corrupt)
    else:
        bag_path = str(tmp_path / "no_bag")
    for argv in (["evaluate", "--map", map_path, "--bag", bag_path, "--json",
                  str(tmp_path / "x.json")],
                 ["localize", map_path, bag_path, "-o", str(tmp_path / "p.txt")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        assert not (tmp_path / "x.json").exists() and not (tmp_path / "p.txt").exists()
