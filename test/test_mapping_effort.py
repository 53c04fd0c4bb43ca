"""Training effort that follows the content: planned iterations from passes over the buffer,
early stopping on held-out cells, the cool-down schedule (real redkitchen frames)."""

from __future__ import annotations

import numpy as np
import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.mapping.config import MappingConfig, preset, submap_count
from scr_localizer.mapping.loss import TrainingSchedule
from scr_localizer.mapping.trainer import MapTrainer


def test_planned_iterations_follow_the_buffer_between_floor_and_cap():
    config = MappingConfig(iterations=16000, batch_size=2048, passes=60, min_iterations=600)
    assert config.planned_iterations(25_600) == 750  # 25 frames x 1024 cells
    assert config.planned_iterations(1_000) == 600  # floor
    assert config.planned_iterations(10_000_000) == 16000  # cap
    assert MappingConfig(iterations=123).planned_iterations(10**7) == 123  # passes 0: as given
    cpu = preset("cpu")
    assert cpu.planned_iterations(25 * 1024) < cpu.planned_iterations(100 * 1024) < 16000
    # float32 steps on a CPU cost ~3x bfloat16 ones: the CPU preset plans a third of the passes
    assert cpu.planned_iterations(102_400, float32_cpu=True) == 2500  # 50 passes
    assert cpu.planned_iterations(102_400) == 7500  # 150 passes
    assert config.planned_iterations(25_600, float32_cpu=True) == 750  # no passes_float32


def test_float32_cpu_steps_follow_the_head_precision():
    import torch

    from scr_localizer.model.precision import cpu_computes_bfloat16, float32_cpu_steps

    cpu = torch.device("cpu")
    assert float32_cpu_steps(cpu, mixed_precision=False)
    assert float32_cpu_steps(cpu) == (not cpu_computes_bfloat16())
    assert not float32_cpu_steps(torch.device("cuda"))  # float16 there


def test_cool_down_takes_the_schedule_to_its_end():
    schedule = TrainingSchedule(MappingConfig(cooldown_share=0.1), 1000)
    assert schedule.progress(200) == pytest.approx(0.2)
    schedule.stop_early(200)
    assert schedule.cooldown_iterations == 20
    assert schedule.progress(210) == pytest.approx(0.6)
    assert schedule.progress(220) == 1.0


def test_the_schedule_follows_iterations_and_is_shortened_only_to_fit_the_time_budget():
    """Progress counts iterations, whatever the clock says, while the plan fits the budget; a
    plan that would overrun it is compressed from where it stands to end by then, and moves
    out again (never past the plan or a cool-down) when the steps get faster."""
    schedule = TrainingSchedule(MappingConfig(time_budget_s=100.0), 10_000)
    schedule.fit_time_budget(1000, elapsed_s=30.0, seconds_per_iteration=0.007)  # 63 of 70 s
    assert schedule.progress(1000) == pytest.approx(0.1) and schedule.end == 10_000
    assert not schedule.replanned_for_budget
    schedule.fit_time_budget(1000, elapsed_s=30.0, seconds_per_iteration=0.014)  # 126 of 70 s
    assert schedule.replanned_for_budget
    assert schedule.end == 1000 + 5000  # 70 s at 14 ms an iteration
    assert schedule.progress(1000) == pytest.approx(0.1)  # no jump
    assert schedule.progress(3500) == pytest.approx(0.55)
    assert schedule.progress(6000) == 1.0
    schedule.fit_time_budget(3500, elapsed_s=65.0, seconds_per_iteration=0.005)  # faster now
    # 35 s at 5 ms would reach 10 500: never past the plan ...
    assert schedule.end == 10_000 and not schedule.replanned_for_budget
    assert schedule.progress(3500) == pytest.approx(0.55)  # ... and again no jump
    schedule.fit_time_budget(4000, elapsed_s=70.0, seconds_per_iteration=0.010)  # slow again
    assert schedule.end == 4000 + 3000 and schedule.replanned_for_budget
    schedule.stop_early(5500)  # a cool-down (5500 + 825) before the budget's end ...
    assert schedule.end == 6325
    schedule.fit_time_budget(5600, elapsed_s=85.0, seconds_per_iteration=0.001)
    assert schedule.end == 6325  # ... bounds it, however fast the steps
    assert schedule.progress(schedule.end) == 1.0
    untimed = TrainingSchedule(MappingConfig(), 1000)
    untimed.fit_time_budget(10, elapsed_s=1e6, seconds_per_iteration=1.0)
    assert untimed.end == 1000 and untimed.progress(500) == 0.5


@pytest.mark.parametrize("request_, frames, expected", [
    ("1", 500, 1), ("3", 500, 3), ("auto", 25, 1), ("auto", 600, 2), ("auto", 601, 3),
    ("8", 4, 4)])
def test_submap_count(request_, frames, expected):
    assert submap_count(request_, frames, 300) == expected


def test_auto_gives_a_head_per_direction_when_the_cameras_looked_all_around(redkitchen):
    from scr_localizer.demo.trajectories import SCENES
    from scr_localizer.mapping.submaps import view_direction_bins

    area = view_direction_bins(np.asarray(SCENES["area"][0](300)))
    room = view_direction_bins(np.asarray(SCENES["room360"][0](600)))
    kitchen = view_direction_bins(np.asarray(
        [f.world_from_camera for f in iter_frames(redkitchen, range(0, 1000, 10))]))
    # Measured: area 4, redkitchen 3-5, room360 14 (a room seen all around).
    assert area <= 6 and kitchen <= 6 and room >= 10
    assert submap_count("auto", 300, 300, area) == 1
    assert submap_count("auto", 600, 300, room) == room
    assert submap_count("3", 600, 300, room) == 3  # a number is taken as asked
    assert view_direction_bins(np.zeros((0, 4, 4))) == 0


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", ""])
def test_submap_count_rejects_bad_requests(bad):
    with pytest.raises(ScrLocalizerError, match="expected a whole number >= 1 or auto"):
        submap_count(bad, 10, 300)


def test_training_stops_early_once_held_out_cells_stop_improving(redkitchen):
    frames = list(iter_frames(redkitchen, [0, 10, 20, 30, 40]))
    # Measured without stopping (1500 iterations): the held-out share rises from 2 % to ~20 %
    # by iteration 600 and then stays within noise (256 cells: +-2.5 %).
    config = preset("tiny", device="cpu", iterations=5000, passes=2000.0, min_iterations=300,
                    holdout_cells=256, early_stop_every=50, early_stop_patience=3,
                    early_stop_min_gain=0.01, early_stop_min_share=0.05)
    trainer = MapTrainer(config)
    trainer.train(frames)
    stats = trainer.stats
    assert stats.iterations_planned == 4500  # 2000 passes over 2304 cells, batch 1024
    assert stats.stopped_early
    assert 300 <= stats.iterations < 2000
    shares = [share for _, share in trainer.holdout_history]
    assert shares[-1] > shares[0]
    assert stats.holdout_inlier_share > max(0.05, 2 * shares[0])
    # The held-out cells were never trained on: 2560 cells, 256 held out.
    assert stats.buffer_cells == 2560


def test_a_flat_curve_far_from_fitting_is_no_plateau(redkitchen):
    frames = list(iter_frames(redkitchen, [0, 10, 20, 30, 40]))
    config = preset("tiny", device="cpu", iterations=400, min_iterations=100,
                    holdout_cells=256, early_stop_every=50, early_stop_patience=1,
                    early_stop_min_gain=0.5, early_stop_min_share=0.9)
    trainer = MapTrainer(config)
    trainer.train(frames)
    assert not trainer.stats.stopped_early and trainer.stats.iterations == 400


@pytest.mark.parametrize("augment, cells", [(True, 4 * 3 * 512), (False, 3 * 512)])
def test_each_frame_is_encoded_once_per_augmentation_pass(redkitchen, augment, cells):
    """The CPU preset encodes each frame four times (plain, then three augmented views: held-out
    cells of a one-pass buffer stayed far below the training cells); without augmentation the
    passes would repeat the same image, so there is one."""
    from scr_localizer.mapping.buffer import encode_frames
    from scr_localizer.model.encoder import get_encoder

    config = preset("tiny", device="cpu", augmentations_per_frame=4, augment=augment)
    encoder = get_encoder(config.encoder, "cpu")
    buffer, stats = encode_frames(iter_frames(redkitchen, [0, 10, 20]), config, encoder, "cpu")
    assert stats.frames_used == 3
    assert len(buffer.depth) == cells
    assert preset("cpu").augmentations_per_frame == 4
