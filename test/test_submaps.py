"""Submaps: the split of the mapping frames, re-centred part buffers, the map file with several
heads, and the localizer choosing among heads (real redkitchen frames, real small maps)."""

from __future__ import annotations

import json
import struct
import time

import numpy as np
import pytest
import torch

from scr_localizer.demo.trajectories import camera_pose
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.localization.localizer import (
    LocalizationResult,
    Localizer,
    LocalizerConfig,
    most_confident,
)
from scr_localizer.mapping.parallel import head_time_budgets, ray_available, resolve_engine
from scr_localizer.mapping.submaps import buffer_poses, split_frames, sub_buffer
from scr_localizer.mapping.trainer import MapTrainer, preset
from scr_localizer.model.map_file import load_map, save_map

# Two stretches of the redkitchen recording that see different parts of the kitchen.
PART_A, PART_B = list(range(0, 40, 4)), list(range(300, 340, 4))


def test_split_keeps_places_and_directions_together_with_overlap():
    left = [camera_pose([x, 0.0, 1.4], 0.0, 0.0) for x in np.linspace(0, 1, 10)]
    right = [camera_pose([x, 4.0, 1.4], np.pi, 0.0) for x in np.linspace(0, 1, 10)]
    # The same place looking the other way belongs to another part.
    turned = [camera_pose([x, 0.0, 1.4], np.pi, 0.0) for x in np.linspace(0, 1, 10)]
    parts, regions = split_frames(np.stack(left + right + turned), 3, overlap=0.0, seed=0)
    assert sorted(tuple(p) for p in parts) == [tuple(range(0, 10)), tuple(range(10, 20)),
                                               tuple(range(20, 30))]
    assert all(r["frames"] == 10 for r in regions)
    # A frame midway between two parts goes to both with overlap.
    middle = [camera_pose([0.5, 2.0, 1.4], np.pi / 2, 0.0)]
    parts, _ = split_frames(np.stack(left + right + middle), 2, overlap=0.5, seed=0)
    assert sum(20 in part for part in parts) == 2
    again, _ = split_frames(np.stack(left + right + middle), 2, overlap=0.5, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


@pytest.fixture(scope="module")
def submap_trainer(redkitchen):
    trainer = MapTrainer(preset("small", device="cpu", iterations=300))
    trainer.build_buffer(iter_frames(redkitchen, PART_A + PART_B))
    trainer.train_submaps(2, engine="sequential")
    return trainer


def test_part_buffers_keep_every_frame_pose(submap_trainer):
    full = submap_trainer.buffer
    poses = buffer_poses(full)
    part = sub_buffer(full, np.array([3, 12, 15]))
    np.testing.assert_allclose(buffer_poses(part), poses[[3, 12, 15]], atol=1e-5)
    assert len(part) == 3 * 1024 and set(part.frame.tolist()) == {0, 1, 2}
    np.testing.assert_allclose(part.centre, poses[[3, 12, 15], :3, 3].mean(axis=0))


def test_map_with_submaps_round_trips_and_localizes_with_the_right_head(
        submap_trainer, redkitchen, tmp_path):
    stats = submap_trainer.stats
    assert len(stats.submaps) == 2 and sorted(s["frames"] for s in stats.submaps) == [10, 10]
    scene_map = submap_trainer.scene_map(source="submap test")
    path = save_map(scene_map, tmp_path / "two.scrmap")
    loaded = load_map(path)
    assert len(loaded.heads) == 2 and loaded.format_version == 2
    assert [r["frames"] for r in loaded.regions] == [10, 10]
    part_of = ["A" if _near(region, redkitchen, PART_A) else "B" for region in loaded.regions]
    assert sorted(part_of) == ["A", "B"]
    localizer = Localizer(loaded, device="cpu")
    for frame_index, part in ((18, "A"), (318, "B")):  # between mapped frames of each part
        frame = next(iter_frames(redkitchen, [frame_index]))
        result = localizer.localize(frame.color, frame.camera, frame.depth)
        assert result.success, result.failure_reason
        assert part_of[result.submap] == part
        error = np.linalg.norm(result.world_from_camera[:3, 3] - frame.world_from_camera[:3, 3])
        assert error < 0.1


def test_head_selection_solves_only_the_head_that_saw_the_view(submap_trainer, redkitchen):
    """With max_solved_heads 1 the pose solver runs on one head only: the cheap selection
    (distances between measured points with depth, a short RANSAC without) must pick the
    head of the part the frame lies in, or the fix fails."""
    scene_map = submap_trainer.scene_map(source="submap test")
    part_of = ["A" if _near(region, redkitchen, PART_A) else "B" for region in scene_map.regions]
    localizer = Localizer(scene_map, LocalizerConfig(max_solved_heads=1), device="cpu")
    for frame_index, part in ((18, "A"), (318, "B")):
        frame = next(iter_frames(redkitchen, [frame_index]))
        for depth in (frame.depth, None):
            regression = localizer.regress_frame(frame.color, frame.camera, depth)
            assert len(regression.heads) == len(regression.scene_xyz) == 1
            assert part_of[regression.heads[0]] == part
            assert "head_selection" in regression.timings_ms
            result = localizer.solve_regression(regression)
            assert part_of[result.submap] == part
            error = np.linalg.norm(result.world_from_camera[:3, 3]
                                   - frame.world_from_camera[:3, 3])
            assert error < 0.15


def _near(region, redkitchen, frames) -> bool:
    centre = np.mean([f.world_from_camera[:3, 3] for f in iter_frames(redkitchen, frames)],
                     axis=0)
    return bool(np.linalg.norm(np.asarray(region["camera_centre"]) - centre) < 1e-3)


def test_single_head_maps_stay_version_1_and_bad_submap_metadata_is_refused(
        submap_trainer, tmp_path):
    from scr_localizer.model.map_file import SceneMap

    two = submap_trainer.scene_map()
    one = SceneMap(head=two.head, encoder_name=two.encoder_name, encoder_hash=two.encoder_hash)
    path = save_map(one, tmp_path / "one.scrmap")
    assert load_map(path).format_version == 1 and len(load_map(path).heads) == 1
    data = save_map(two, tmp_path / "two.scrmap").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    header["__metadata__"]["submaps"] = json.dumps([{"frames": 1}])  # one region, two heads
    text = json.dumps(header).encode()
    (tmp_path / "bad.scrmap").write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
    with pytest.raises(ScrLocalizerError, match="submaps is not a list of 2 to"):
        load_map(tmp_path / "bad.scrmap")


def _result(success, inliers, ratio=0.5) -> LocalizationResult:
    return LocalizationResult(success=success, world_from_camera=np.eye(4),
                              covariance=np.eye(6), inlier_count=inliers, inlier_ratio=ratio,
                              timings_ms={})


def test_most_confident_prefers_passing_gates_then_confidence_then_inliers():
    results = [_result(False, 900), _result(True, 200), _result(True, 300, 0.1)]
    assert most_confident(results) is results[2]
    results[1].confidence = 0.9
    assert most_confident(results) is results[1]


def test_engine_choice():
    assert resolve_engine("sequential", 4) == "sequential"
    assert resolve_engine("auto", 1) == "sequential"
    with pytest.raises(ScrLocalizerError, match="unknown training engine"):
        resolve_engine("threads", 2)


@pytest.mark.skipif(not ray_available(), reason="ray is not installed (optional extra: "
                    "pip install ray)")
def test_ray_trains_two_submaps_like_the_sequential_path(submap_trainer):
    from scr_localizer.mapping.parallel import train_heads

    buffers = [buffer for _, buffer, *_ in submap_trainer.submaps]
    # float32: bfloat16 matmuls round differently with a Ray worker's thread count, and Adam
    # turns such differences in tiny early gradients into different steps (heads 0.7 m apart
    # after 40 iterations).
    config = preset("small", device="cpu", iterations=40, mixed_precision=False)
    on_ray = train_heads(buffers, config, 64, submap_trainer.device, engine="ray")
    in_process = train_heads(buffers, config, 64, submap_trainer.device, engine="sequential")
    assert len(on_ray) == 2
    for (head_ray, run_ray), (head_seq, run_seq), buffer in zip(on_ray, in_process, buffers):
        assert run_ray.iterations == run_seq.iterations == 40
        cells = buffer.descriptors[:2048].float()
        with torch.no_grad():
            gap = (head_ray.forward_cells(cells) - head_seq.forward_cells(cells)).norm(dim=1)
        assert float(gap.median()) < 0.01  # same seed, same data: the same head


def test_map_time_budget_is_shared_out_over_the_heads_training_at_once():
    config = preset("cpu", time_budget_s=400.0, map_time_budget_s=600.0)
    # One at a time: shares by the square root of the cells (10 : 10 : 20), summing to the
    # map's budget.
    assert head_time_budgets(config, [100, 100, 400], 1) == pytest.approx([150, 150, 300])
    assert head_time_budgets(config, [100, 400], 1) == pytest.approx([200, 400])
    # Two at once: twice the share each, capped at a head's own budget.
    assert head_time_budgets(config, [100, 400], 2) == pytest.approx([400, 400])
    assert head_time_budgets(config, [100, 100, 100, 100], 2) == pytest.approx([300] * 4)
    unbounded = preset("gpu", map_time_budget_s=0.0)
    assert head_time_budgets(unbounded, [100, 300], 2) == [0.0, 0.0]


def test_heads_one_after_another_end_near_the_map_budget(submap_trainer):
    from scr_localizer.mapping.parallel import train_heads

    buffers = [buffer for _, buffer, *_ in submap_trainer.submaps]
    config = preset("small", device="cpu", iterations=1_000_000, map_time_budget_s=4.0)
    started = time.perf_counter()
    trained = train_heads(buffers, config, 64, submap_trainer.device, engine="sequential")
    wall = time.perf_counter() - started
    runs = [run for _, run in trained]
    assert all(run.time_bound and run.iterations < 1_000_000 for run in runs)
    assert sum(run.train_time_s for run in runs) <= 4.0 + 0.5
    assert wall < 4.0 + 5.0  # each head's set-up and final held-out measure on top
