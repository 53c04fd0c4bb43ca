"""Mapping engine on real redkitchen frames: training, determinism, the saved map, the regressor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.mapping.trainer import MappingConfig, MapTrainer, preset, train_map
from scr_localizer.model.map_file import load_map, save_map
from scr_localizer.model.regressor import SceneCoordinateRegressor

TINY_FRAMES = [0, 10, 20, 30, 40]


@pytest.fixture(scope="module")
def tiny_frames(redkitchen):
    return list(iter_frames(redkitchen, TINY_FRAMES))


def _tiny(**overrides) -> MappingConfig:
    return preset("tiny", device="cpu", **overrides)


def test_tiny_run_loss_falls_and_map_round_trips(tiny_frames, tmp_path):
    trainer = MapTrainer(_tiny())
    trainer.train(tiny_frames)
    history = trainer.loss_history
    assert np.mean(history[-2:]) < 0.5 * np.mean(history[:2])
    assert trainer.stats.frames_used == len(TINY_FRAMES)
    assert trainer.stats.buffer_cells == len(TINY_FRAMES) * 512
    scene_map = trainer.scene_map(fixed_frame="map", source="unit")
    path = save_map(scene_map, tmp_path / "tiny.scrmap")
    loaded = load_map(path)
    np.testing.assert_allclose(loaded.scene_centre, scene_map.scene_centre, atol=1e-6)
    assert loaded.stats["frames_used"] == len(TINY_FRAMES)
    frame = tiny_frames[2]
    px_a, xyz_a = SceneCoordinateRegressor(scene_map, "cpu").predict(frame.color, frame.camera)
    px_b, xyz_b = SceneCoordinateRegressor(loaded, "cpu").predict(frame.color, frame.camera)
    assert px_a.shape == (60 * 80, 2) and xyz_a.shape == (60 * 80, 3)
    np.testing.assert_array_equal(px_a, px_b)
    assert np.median(np.linalg.norm(xyz_a - xyz_b, axis=1)) < 0.01  # fp16 weights


def test_training_is_deterministic_on_cpu_with_a_seed(tiny_frames):
    config = _tiny(iterations=30)
    first = train_map(tiny_frames[:3], config)
    second = train_map(tiny_frames[:3], config)
    other = train_map(tiny_frames[:3], _tiny(iterations=30, seed=1))
    # A time budget that the plan fits in leaves the schedule to the iterations (it used to
    # follow the clock whenever a step ran slow): the same weights too.
    budgeted = train_map(tiny_frames[:3], _tiny(iterations=30, time_budget_s=3600.0))
    assert budgeted.stats["iterations"] == 30 and not budgeted.stats["time_bound"]
    for same in (second, budgeted):
        for (name, a), b in zip(first.head.state_dict().items(), same.head.state_dict().values()):
            assert torch.equal(a, b), name
    assert not torch.equal(first.head.output.weight, other.head.output.weight)


def test_cell_pixels_map_back_to_the_input_image(tiny_frames):
    scene_map = train_map(tiny_frames[:1], _tiny(iterations=2))
    regressor = SceneCoordinateRegressor(scene_map, "cpu")
    frame = tiny_frames[0]
    pixels, _ = regressor.predict(frame.color, frame.camera)
    assert np.allclose(pixels[0], [4, 4]) and np.allclose(pixels[81], [12, 12])
    # Half-size input: the encoder sees it upscaled to 480 lines; pixels come back in input units.
    small = frame.color[::2, ::2].copy()
    pixels_small, xyz_small = regressor.predict(small, frame.camera.scaled(0.5))
    assert xyz_small.shape == (60 * 80, 3)
    np.testing.assert_allclose(pixels_small, (pixels + 0.5) / 2 - 0.5, atol=1e-4)
    with pytest.raises(ScrLocalizerError, match="camera info says"):
        regressor.predict(small, frame.camera)


def test_frames_without_poses_are_skipped_and_none_usable_is_an_error(tiny_frames):
    from dataclasses import replace

    unposed = [replace(f, world_from_camera=None) for f in tiny_frames[:2]]
    with pytest.raises(ScrLocalizerError, match="no usable mapping frames"):
        train_map(unposed, _tiny(iterations=2))
    trainer = MapTrainer(_tiny(iterations=2))
    trainer.train(unposed + tiny_frames[:1])
    assert trainer.stats.frames_skipped == {"no pose": 2}


def test_small_fixture_map_localizes_an_unseen_query(small_redkitchen_map, redkitchen):
    """The shared fixture map must be good enough for the localization tests downstream."""
    import poselib

    from scr_localizer.geometry.transforms import pose_error

    scene_map = load_map(small_redkitchen_map)
    regressor = SceneCoordinateRegressor(scene_map, "cpu")
    errors = []
    for frame in iter_frames(redkitchen, [60, 75, 90]):
        pixels, xyz = regressor.predict(frame.color, frame.camera)
        camera = {"model": "PINHOLE", "width": 640, "height": 480,
                  "params": [frame.camera.fx, frame.camera.fy, frame.camera.cx, frame.camera.cy]}
        pose, _ = poselib.estimate_absolute_pose(
            pixels.astype(np.float64), xyz.astype(np.float64), camera,
            {"max_reproj_error": 10.0}, {})
        camera_from_world = np.eye(4)
        camera_from_world[:3, :3] = pose.R
        camera_from_world[:3, 3] = pose.t
        errors.append(pose_error(np.linalg.inv(camera_from_world), frame.world_from_camera))
    translation = sorted(e[0] for e in errors)
    assert translation[1] < 0.15, errors


@pytest.mark.parametrize("prior", ["depth-distribution", "depth-distribution-wd", "none"])
def test_rgb_only_priors_train_without_depth(tiny_frames, prior):
    from dataclasses import replace

    rgb_only = [replace(f, depth=None) for f in tiny_frames[:2]]
    trainer = MapTrainer(_tiny(iterations=60, prior=prior))
    trainer.train(rgb_only)
    assert trainer.stats.cells_with_depth == 0.0
    assert np.isfinite(trainer.loss_history).all()
    # Untrained, every cell sits at the scene centre, behind or beside the camera (0 % inliers).
    assert trainer.stats.inlier_share > 0.1


def test_depth_prior_pulls_predicted_depth_to_measured_depth(tiny_frames):
    """The RGB-D Laplace prior is what fixes depth: with it, predicted camera-frame depths of
    training cells match the measured depth far better than without it after the same steps."""
    with_prior = MapTrainer(_tiny(iterations=120))
    with_prior.train(tiny_frames[:2])
    without = MapTrainer(_tiny(iterations=120, prior="none"))
    without.train(tiny_frames[:2])
    assert with_prior.stats.depth_median_error_m < 0.5 * without.stats.depth_median_error_m


def test_time_budget_ends_training_early(tiny_frames):
    trainer = MapTrainer(_tiny(iterations=100_000, time_budget_s=1.0))
    trainer.train(tiny_frames[:1])
    assert 0 < trainer.stats.iterations < 100_000
    assert trainer.stats.train_time_s < 10
    assert trainer.stats.time_bound


def test_unknown_prior_and_preset_are_clear_errors():
    with pytest.raises(ScrLocalizerError, match="unknown prior 'lidar'"):
        MappingConfig(prior="lidar")
    with pytest.raises(ScrLocalizerError, match="unknown preset 'huge'; expected one of cpu, gpu"):
        preset("huge")
