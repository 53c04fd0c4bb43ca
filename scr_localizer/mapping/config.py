"""What decides the map that comes out: the mapping config, its presets and the depth priors.

Torch-free, so the CLI and the nodes can list and validate choices without importing the
network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.model.preprocess import DEFAULT_IMAGE_HEIGHT
from scr_localizer.validation import check_number

PRIORS = ("rgbd", "depth-distribution", "depth-distribution-wd", "none")
# The rule for a prior without data: mapping with the rgbd prior stops before training when
# fewer than this share of the sampled cells have a valid measured depth (all-zero or all-NaN
# depth streams give 0 %; 4 redkitchen Kinect frames gave 76 %). Training on would leave the
# prior silently off: RGB-only mapping under the wrong name.
MIN_RGBD_DEPTH_SHARE = 0.01
# What a user may ask for: "auto" is rgbd when the frames have depth, else depth-distribution.
PRIOR_CHOICES = ("auto", *PRIORS)


# `auto` submaps: a run whose cameras looked in more than this many ~26-degree directions
# (mapping.submaps.view_direction_bins) gets one head per direction. Measured: the demo's
# area scene 4, redkitchen 3-5 (one head learns each), room360 (a room seen all around) 14:
# one head learned nothing of it (0 % of queries within 10 cm / 5 deg), 12 heads 92 %.
MAX_DIRECTIONS_PER_HEAD = 6


def submap_count(request: str | int, frames: int, submap_frames: int,
                 direction_bins: int = 0) -> int:
    """How many heads a mapping run of `frames` frames trains: the request ("auto", or a
    number >= 1), never more heads than frames. auto: one per submap_frames frames, or one
    per viewing direction (`direction_bins`) when the cameras looked in more than
    MAX_DIRECTIONS_PER_HEAD directions."""
    text = str(request).strip().lower()
    if text == "auto":
        count = math.ceil(frames / submap_frames)
        if direction_bins > MAX_DIRECTIONS_PER_HEAD:
            count = max(count, direction_bins)
    else:
        try:
            count = int(text)
        except ValueError:
            count = 0
        if count < 1 or str(count) != text:
            raise ScrLocalizerError(
                f"submaps '{request}' is not valid; expected a whole number >= 1 or auto")
    return max(1, min(count, frames))


def resolve_prior(requested: str, has_depth: bool) -> str:
    """The prior to train with, or a one-line error when the request cannot work."""
    if requested not in PRIOR_CHOICES:
        raise ScrLocalizerError(
            f"unknown prior '{requested}'; expected one of {', '.join(PRIOR_CHOICES)}")
    if requested == "auto":
        return "rgbd" if has_depth else "depth-distribution"
    if requested == "rgbd" and not has_depth:
        raise ScrLocalizerError(
            "prior rgbd needs depth but the bag is read without depth; use the prior "
            "depth-distribution or none, or give the depth topic")
    return requested


@dataclass(frozen=True)
class MappingConfig:
    """Everything that decides what map comes out (stored in the map file)."""

    preset: str = "cpu"
    iterations: int = 4000
    batch_size: int = 5120
    cells_per_frame: int = 1024
    augmentations_per_frame: int = 1  # encoder passes per mapping frame, each augmented anew
    max_buffer_cells: int = 8_000_000
    lr_min: float = 5e-4
    lr_max: float = 5e-3
    lr_warmup_share: float = 0.1
    lr_end_factor: float = 0.01  # the last iterations run at lr_min * this
    # > 0: a head's training ends by then (each head's, with submaps); the schedules count
    # iterations, and a plan that would overrun the budget is shortened to fit it.
    time_budget_s: float = 0.0
    # > 0: with submaps, the heads' training together ends by then (wall time). Each head gets
    # a share (by the square root of its cells) times the heads that train at once, never more
    # than time_budget_s (mapping.parallel.head_time_budgets); a single head keeps
    # time_budget_s.
    map_time_budget_s: float = 0.0
    # Effort that follows the content: > 0 plans passes x buffer cells / batch iterations,
    # between min_iterations and `iterations` (then a cap); 0 runs `iterations` as given.
    passes: float = 0.0
    # > 0: the passes instead when the head's steps run in float32 on a CPU (one without
    # bfloat16, or mixed_precision off), where a step costs about three times as much.
    passes_float32: float = 0.0
    min_iterations: int = 0
    # Early stopping: this many buffer cells are held out of training (0: off); every
    # early_stop_every iterations their share within inlier_threshold_px is measured, and once
    # it gained less than early_stop_min_gain over early_stop_patience checks (and at least
    # min_iterations ran) the schedule finishes with a cool-down of cooldown_share of the
    # iterations run so far (learning rate down, clamp tightened) instead of its full length.
    holdout_cells: int = 0
    early_stop_every: int = 100
    early_stop_patience: int = 3
    early_stop_min_gain: float = 0.002
    # ... and only once that share reached this: below it the head is still far from fitting,
    # and a flat curve means slow progress, not a plateau (room360, one head: without this
    # floor training stopped after 690 iterations with 0 % of cells within 10 px).
    early_stop_min_share: float = 0.3
    cooldown_share: float = 0.15
    # Submaps: "auto" splits a mapping run into ceil(frames / submap_frames) heads over parts
    # of the scene (camera positions and viewing directions); "1" is one head; a number asks
    # for that many. Frames near a border also train the neighbouring heads (submap_overlap:
    # relative distance margin in the split's feature space).
    submaps: str = "1"
    submap_frames: int = 300
    submap_overlap: float = 0.25
    weight_decay: float = 0.01
    clamp_start_px: float = 50.0  # tanh clamp of the reprojection error, shrinking ...
    clamp_end_px: float = 1.0  # ... to this by the end of training
    hard_clamp_px: float = 1000.0  # beyond this a prediction counts as invalid
    min_depth_m: float = 0.1
    max_depth_m: float = 1000.0
    invalid_target_depth_m: float = 1.73  # invalid predictions are pulled to this depth ...
    # ... or to the measured depth where there is one.
    prior: str = "rgbd"
    prior_weight: float = 1.0
    rgbd_bandwidth_m: float = 0.1
    distribution_mean_m: float = 1.73
    distribution_bandwidth_m: float = 0.6
    cells_with_depth_only: bool = False  # RGB-D: sample only cells with a valid measured depth
    augment: bool = True
    aug_scale_min: float = 2.0 / 3.0
    aug_scale_max: float = 1.5
    aug_rotation_deg: float = 15.0
    aug_brightness: float = 0.1
    aug_contrast: float = 0.1
    image_height: int = DEFAULT_IMAGE_HEIGHT
    head_width: int = 512
    head_hidden_layers: int = 3
    encoder: str = "xfeat"
    seed: int = 0
    device: str = "auto"
    # Hidden layers of the head in float16 on CUDA, in bfloat16 on CPUs with AMX/AVX512-BF16
    # (model.precision; 2.8x faster training steps there); False: float32 everywhere.
    mixed_precision: bool = True
    inlier_threshold_px: float = 10.0  # for progress and statistics only
    max_frames: int = 0  # 0 = all; otherwise evenly subsample to this many

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise ScrLocalizerError(f"unknown prior '{self.prior}'; expected one of {', '.join(PRIORS)}")
        if self.iterations <= 0 or self.batch_size <= 0 or self.cells_per_frame <= 0:
            raise ScrLocalizerError("iterations, batch_size and cells_per_frame must be positive")
        for name, value in asdict(self).items():
            if isinstance(value, float):
                check_number(value, f"mapping config {name}")
        check_number(self.seed, "mapping seed (--seed)", 0, 2**32 - 1, integer=True)
        check_number(self.max_frames, "mapping max_frames", 0, integer=True, hint="0 = all")
        check_number(self.passes, "mapping passes", 0.0)
        check_number(self.passes_float32, "mapping passes_float32", 0.0)
        check_number(self.min_iterations, "mapping min_iterations", 0, integer=True)
        check_number(self.holdout_cells, "mapping holdout_cells", 0, integer=True)
        check_number(self.early_stop_every, "mapping early_stop_every", 1, integer=True)
        check_number(self.early_stop_patience, "mapping early_stop_patience", 1, integer=True)
        check_number(self.cooldown_share, "mapping cooldown_share", 0.0, 1.0)
        check_number(self.early_stop_min_share, "mapping early_stop_min_share", 0.0, 1.0)
        check_number(self.submap_frames, "mapping submap_frames", 1, integer=True)
        check_number(self.submap_overlap, "mapping submap_overlap", 0.0, 10.0)
        submap_count(self.submaps, 1, self.submap_frames)  # validates the request

    def passes_for(self, float32_cpu: bool) -> float:
        """The passes a head plans: passes_float32 for float32 steps on a CPU when set."""
        return self.passes_float32 if float32_cpu and self.passes_float32 > 0 else self.passes

    def planned_iterations(self, buffer_cells: int, float32_cpu: bool = False) -> int:
        """Iterations this buffer gets: passes_for(float32_cpu) over it (floor min_iterations,
        cap iterations), or `iterations` when passes is 0."""
        if self.passes <= 0:
            return self.iterations
        wanted = math.ceil(self.passes_for(float32_cpu) * buffer_cells / self.batch_size)
        return int(min(self.iterations, max(self.min_iterations, wanted, 1)))

    def to_dict(self) -> dict:
        return asdict(self)

    def head_config(self, input_dim: int):
        from scr_localizer.model.head import HeadConfig

        return HeadConfig(
            input_dim=input_dim, width=self.head_width, hidden_layers=self.head_hidden_layers
        )


_PRESETS = {
    # 500 frames in <10 min on 2 cores: a 256-wide head (3.6x cheaper per step than 512) with
    # small batches gets ~10x more steps, which beat the wide head at equal time on redkitchen;
    # training ends by 400 s (a plan that would overrun is shortened) or 16000 iterations.
    # Augmentation pays once there are enough steps (redkitchen, 16000 vs 8000 steps without
    # it, RGB-D queries within 10 cm/5°: revisit split 79 vs 56 %, interleaved 98 vs 97 %);
    # with half the steps (a busy machine) it cost accuracy on the interleaved split (77 vs
    # 86 % at 5 cm/5°).
    # Effort follows the content (issue 16): 60 passes over the buffer (at least 600
    # iterations) and early stopping on 4096 held-out cells; 16000 iterations and 400 s stay
    # the caps. Before, every bag trained the full 400 s: 25 redkitchen frames, 2601
    # iterations (1-min load 5.7), 100 % of 25 queries within 10 cm/5°, median 1.19 cm.
    # 150 passes since the head trains in bfloat16 (a step 3x cheaper on AMX CPUs): room360
    # with 12 submaps, 600 frames, 60 passes: 75 % of queries within 10 cm / 5 deg (154 s);
    # 150 passes: 92 % (277 s). Early stopping still ends easy content sooner.
    # Four encoder passes per frame (the first plain, three augmented) and a patience of 6:
    # the held-out cells of a 1-pass buffer reached only ~40 % within 10 px against ~75-80 % of
    # the training cells (the head memorised its cells). On the tuning case (benchmarks.cases,
    # 63 frames, 94 queries; seeds 0 / 1) queries within 10 cm / 5 deg went colour-only
    # 61.7 / 61.7 -> 73.4 / 68.1 % and RGB-D 76.6 / 74.5 -> 81.9 / 84.0 % with 4 passes, 74.5 and
    # 84.0 % with patience 6 too; 8 passes 76.6 / 80.9 %, 4 passes without early stopping 74.5 /
    # 84.0 % in 2.6x the time. An extra pass costs ~20 ms of encoding per frame (the image is
    # decoded once); mapping 63 frames took 48 s either way.
    # Four hidden layers instead of three (2026-12-06, chosen on the tuning case, seeds 0 / 1):
    # colour-only queries within 10 cm / 5 deg 72.3 / 74.5 -> 78.7 / 77.7 %, RGB-D 86.2 / 89.4
    # -> 87.2 / 88.3 %; five layers gave 78.7 / 87.2 % (seed 0). Held-out cells within 10 px
    # 0.51 -> 0.61; mapping 84 -> 154 s there (early stopping came later), 189 -> 197 s on the
    # 500-frame interleaved split. On the evaluation cases colour only on revisit went 73.8 ->
    # 83.8 % (benchmarks/results/mapping.md).
    # 50 passes where the head trains in float32 (2026-12-06, an AMD EPYC, 2 cores, no
    # bfloat16: ~31 steps/s): 150 passes mapped 25 redkitchen frames in 243 s (7200 steps,
    # median PnP error 0.38 cm), 50 passes in 85 s (0.50 cm; 100 % within 2 cm / 2 deg both);
    # on the tuning case (240 s budget, which 150 passes hit) colour only / RGB-D within
    # 10 cm / 5 deg 76.6-77.7 / 87.2 % -> 78.7 / 88.3 %.
    # All heads of a map with submaps within 660 s of training (2026-12-07, the EPYC without
    # bfloat16): room360's 14 heads (600 frames) took 1863 s of training, 33 min of mapping
    # (RGB-D 100 %, colour only 88 % of 100 queries within 10 cm / 5 deg); with the map budget
    # 676 s, 13.2 min (100 / 76 %). On AMX CPUs they took 554 s, under the budget.
    # Kept for float32 steps (2026-12-07, the EPYC; tuning case, held-out cells within 10 px,
    # ungated colour-only queries within 10 cm / 5 deg): as is 0.584-0.587, 81-82 % in 243-252 s;
    # batch 1024 with 25 passes 0.541-0.546, 78-79 % in 154-161 s; head_width 192 0.500, 78 %
    # in 173 s; a 150 s time budget 0.573, 78 % in 166 s: halving the work costs novel views
    # whichever way, and a shorter budget (--time-budget) costs least.
    "cpu": dict(iterations=16000, batch_size=2048, cells_per_frame=1024,
                augmentations_per_frame=4, early_stop_patience=6, head_width=256,
                head_hidden_layers=4, time_budget_s=400.0, map_time_budget_s=660.0,
                augment=True, passes=150.0, passes_float32=50.0, min_iterations=600,
                holdout_cells=4096),
    # Close to ACE's scale: 25k iterations, batch 5120, ~8M cell buffer.
    "gpu": dict(
        iterations=25000, batch_size=5120, cells_per_frame=1024, augmentations_per_frame=8,
        max_buffer_cells=8_000_000,
    ),
    # Tens of seconds on a CPU: the test fixture's small real map (a few dozen frames). 1200
    # iterations, not 400: trained in float32 (an AMD EPYC without bfloat16, 2026-12-06) the
    # 400-iteration map left one of 25 RGB-D queries between its mapped stretches at confidence
    # 0.854, under the 0.868 threshold, and three node tests failed there; with 1200 (20 -> 32 s)
    # the lowest was 0.953, and colour only 25 of 25 accepted instead of 9.
    "small": dict(iterations=1200, batch_size=2048, cells_per_frame=1024, head_width=256,
                  head_hidden_layers=3),
    # Seconds, for tests and smoke runs.
    "tiny": dict(iterations=150, batch_size=1024, cells_per_frame=512, head_width=128,
                 head_hidden_layers=2),
}


def preset(name: str, **overrides) -> MappingConfig:
    if name not in _PRESETS:
        raise ScrLocalizerError(f"unknown preset '{name}'; expected one of {', '.join(_PRESETS)}")
    return replace(MappingConfig(), preset=name, **{**_PRESETS[name], **overrides})


def preset_names() -> list[str]:
    return list(_PRESETS)
