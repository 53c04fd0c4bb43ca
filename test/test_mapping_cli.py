"""`scr-localizer map`: a real (small) bag in, a loadable map and a PLY out; clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from scr_localizer.cli import main
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.model.map_file import load_map
from scr_localizer.model.point_cloud import read_ply


@pytest.fixture(scope="module")
def mapping_bag(redkitchen, tmp_path_factory):
    folder = tmp_path_factory.mktemp("map_cli")
    frames = list(iter_frames(redkitchen, [0, 12, 24, 36]))
    return write_rgbd_bag(folder / "kitchen_bag", frames, BagWriteConfig())


def test_map_verb_writes_map_and_point_cloud(mapping_bag, tmp_path, capsys):
    out = tmp_path / "kitchen.scrmap"
    ply = tmp_path / "kitchen.ply"
    code = main(["map", str(mapping_bag), "-o", str(out), "--preset", "tiny", "--device", "cpu",
                 "--iterations", "40", "--ply", str(ply)])
    assert code == 0
    scene_map = load_map(out)
    assert scene_map.fixed_frame == "map"
    assert scene_map.source == mapping_bag.name
    assert scene_map.training_config["prior"] == "rgbd"
    assert scene_map.stats["frames_used"] == 4
    xyz, rgb = read_ply(ply)
    assert len(xyz) > 0 and rgb.dtype == np.uint8
    # Points lie around the mapping cameras (redkitchen is a few metres across).
    assert np.median(np.linalg.norm(xyz - scene_map.scene_centre, axis=1)) < 5.0
    captured = capsys.readouterr()
    assert "map written to" in captured.out and "median reprojection" in captured.out


def test_rgb_only_mapping_uses_the_depth_distribution_prior(mapping_bag, tmp_path):
    out = tmp_path / "rgb.scrmap"
    code = main(["map", str(mapping_bag), "-o", str(out), "--preset", "tiny", "--device", "cpu",
                 "--iterations", "20", "--rgb-only"])
    assert code == 0
    scene_map = load_map(out)
    assert scene_map.training_config["prior"] == "depth-distribution"
    assert scene_map.stats["cells_with_depth"] == 0.0


def test_bad_inputs_are_one_line_errors(mapping_bag, tmp_path, capsys):
    out = tmp_path / "x.scrmap"
    assert main(["map", str(tmp_path / "missing_bag"), "-o", str(out)]) == 2
    assert main(["map", str(mapping_bag), "-o", str(out), "--color-topic", "/nope"]) == 2
    assert main(["map", str(mapping_bag), "-o", str(tmp_path / "no" / "x.scrmap")]) == 2
    assert main(["map", str(mapping_bag), "-o", str(out), "--rgb-only", "--prior", "rgbd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert "/nope" in err[1]
    assert not out.exists()


def test_map_verb_with_submaps_writes_one_file_with_two_heads(mapping_bag, tmp_path, capsys):
    out = tmp_path / "two.scrmap"
    ply = tmp_path / "two.ply"
    code = main(["map", str(mapping_bag), "-o", str(out), "--preset", "tiny", "--device", "cpu",
                 "--iterations", "20", "--submaps", "2", "--parallel", "sequential",
                 "--ply", str(ply)])
    assert code == 0, capsys.readouterr().err
    scene_map = load_map(out)
    assert len(scene_map.heads) == 2 and len(scene_map.regions) == 2
    assert scene_map.training_config["submaps"] == "2"
    assert sum(part["frames"] for part in scene_map.stats["submaps"]) >= 4
    assert len(read_ply(ply)[0]) > 0
    assert "2 submaps" in capsys.readouterr().out
    assert main(["map", str(mapping_bag), "-o", str(tmp_path / "x.scrmap"), "--submaps",
                 "many"]) == 2
    assert "submaps 'many' is not valid" in capsys.readouterr().err


def test_time_budget_bounds_the_training_of_all_submaps_together(mapping_bag, tmp_path, capsys):
    out = tmp_path / "budget.scrmap"
    code = main(["map", str(mapping_bag), "-o", str(out), "--preset", "tiny", "--device", "cpu",
                 "--iterations", "1000000", "--submaps", "2", "--parallel", "sequential",
                 "--time-budget", "3"])
    assert code == 0, capsys.readouterr().err
    scene_map = load_map(out)
    assert scene_map.training_config["time_budget_s"] == 3.0
    assert scene_map.training_config["map_time_budget_s"] == 3.0
    parts = scene_map.stats["submaps"]
    assert len(parts) == 2 and all(part["time_bound"] for part in parts)
    assert sum(part["train_time_s"] for part in parts) <= 3.0 + 0.5
    assert "3 s for all heads together" in capsys.readouterr().out
