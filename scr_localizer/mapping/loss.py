"""The mapping loss and its schedules: ACE-style reprojection error with a shrinking tanh clamp,
the depth priors of *Scene Coordinate Reconstruction Priors* (ICCV 2025: Laplace NLL around the
measured depth with RGB-D, around a typical indoor depth without, or its Wasserstein variant),
and the one-cycle learning rate."""

from __future__ import annotations

import math

import torch

from scr_localizer.mapping.buffer import CellBuffer
from scr_localizer.mapping.config import MappingConfig


def camera_points(scene: torch.Tensor, frame: torch.Tensor, buffer: CellBuffer) -> torch.Tensor:
    """Centred scene coordinates into each cell's camera frame."""
    pose = buffer.camera_from_centred[frame]
    return torch.einsum("nij,nj->ni", pose[:, :, :3], scene) + pose[:, :, 3]

def reprojection(points: torch.Tensor, frame: torch.Tensor, pixels: torch.Tensor,
                 buffer: CellBuffer, min_depth_m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel error, camera depth) of camera-frame points against their cells' pixels."""
    k = buffer.intrinsics[frame]
    z = points[:, 2]
    safe_z = torch.where(z > min_depth_m, z, torch.ones_like(z))
    projected = points[:, :2] / safe_z[:, None] * k[:, :2] + k[:, 2:]
    error = torch.linalg.vector_norm(projected - pixels, dim=1)
    return error, z

def mapping_loss(scene: torch.Tensor, batch: dict, buffer: CellBuffer, config: MappingConfig,
                 clamp_px: float) -> tuple[torch.Tensor, dict]:
    """Mean per-cell loss of a batch: the tanh-clamped reprojection error for valid predictions,
    an L1 pull towards the pixel's ray for invalid ones, plus the configured depth prior."""
    frame = batch["frame"]
    points = camera_points(scene, frame, buffer)
    error, z = reprojection(points, frame, batch["pixels"], buffer, config.min_depth_m)
    valid = ((z > config.min_depth_m) & (z < config.max_depth_m)
             & (error < config.hard_clamp_px))
    robust = clamp_px * torch.tanh(error / clamp_px)
    depth = batch["depth"]
    has_depth = depth > 0
    # Invalid predictions (behind the camera, absurdly far off) get an L1 pull in 3D
    # towards the pixel's ray at the measured depth (or a typical depth).
    target_depth = torch.where(has_depth, depth, torch.full_like(depth, config.invalid_target_depth_m))
    k = buffer.intrinsics[frame]
    target = torch.cat([(batch["pixels"] - k[:, 2:]) / k[:, :2] * target_depth[:, None],
                        target_depth[:, None]], dim=1)
    pull = (points - target).abs().sum(dim=1)
    per_cell = torch.where(valid, robust, pull)
    if config.prior == "rgbd":
        prior = torch.where(has_depth, (z - depth).abs() / config.rgbd_bandwidth_m,
                            torch.zeros_like(z))
        per_cell = per_cell + config.prior_weight * prior
    elif config.prior == "depth-distribution":
        prior = (z - config.distribution_mean_m).abs() / config.distribution_bandwidth_m
        per_cell = per_cell + config.prior_weight * prior
    elif config.prior == "depth-distribution-wd":
        # 1-Wasserstein distance between the batch's depths and the Laplace distribution:
        # sorted depths against the Laplace quantiles at the same ranks.
        n = z.shape[0]
        q = (torch.arange(n, device=z.device, dtype=z.dtype) + 0.5) / n - 0.5
        quantiles = config.distribution_mean_m - config.distribution_bandwidth_m * torch.sign(
            q) * torch.log1p(-2 * q.abs())
        sorted_z, order = torch.sort(z)
        prior = torch.empty_like(z)
        prior[order] = (sorted_z - quantiles).abs() / config.distribution_bandwidth_m
        per_cell = per_cell + config.prior_weight * prior
    info = {"error": error, "valid": valid}
    return per_cell.mean(), info

def clamp_at(config: MappingConfig, progress: float) -> float:
    """Quarter-circle schedule over training progress in [0, 1]: the clamp stays wide early
    and tightens late."""
    progress = min(1.0, max(0.0, progress))
    return config.clamp_end_px + (config.clamp_start_px - config.clamp_end_px) * math.sqrt(
        max(0.0, 1.0 - progress**2))

def lr_at(config: MappingConfig, progress: float) -> float:
    """One cycle: cosine warm-up lr_min → lr_max, then cosine decay to lr_min * end factor."""
    warmup = config.lr_warmup_share
    if progress < warmup:
        t = progress / warmup
        return config.lr_min + (config.lr_max - config.lr_min) * (1 - math.cos(math.pi * t)) / 2
    t = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    end = config.lr_min * config.lr_end_factor
    return end + (config.lr_max - end) * (1 + math.cos(math.pi * t)) / 2

class TrainingSchedule:
    """Training progress in [0, 1] for the lr and clamp schedules, counted in iterations only:
    a seed gives the same map on any machine that runs the plan within the time budget. (With
    progress = max(iterations, elapsed / budget), as before, the schedule followed the clock
    whenever a step ran slow, a warm-up or a busy core: two trainings of the tuning case
    stopped after 7475 and 12765 iterations; with the budget off, twice 6325.)

    Re-planning always runs from where the schedule stands (progress never jumps): an early
    stop finishes within a cool-down, and a run that would overrun the time budget at its
    measured speed is re-planned to end by then, the rest of the schedule compressed into the
    iterations left. When the steps get faster again the budget's end moves out with them, up
    to the planned end (or the cool-down's): a slow spell early in a run no longer leaves the
    end of its budget unused (2026-12-06, a float32 CPU with noisy neighbours: the sparse20
    case map, 240 s budget, ended after 174 s)."""

    def __init__(self, config: MappingConfig, planned_iterations: int):
        self.config = config
        self.planned = max(1, int(planned_iterations))
        self.end = self.planned  # the iteration at which progress reaches 1
        self.content_end = self.planned  # ... were there no time budget: plan or cool-down
        self._start: tuple[int, float] = (0, 0.0)  # (iteration, progress) the plan runs from
        self.stopped_at: int | None = None  # iteration of the early stop
        self.cooldown_iterations = 0

    @property
    def replanned_for_budget(self) -> bool:
        """Whether the time budget, not the plan or a cool-down, sets the end now."""
        return self.end < self.content_end

    def progress(self, iteration: int) -> float:
        start, at = self._start
        done = (iteration - start) / max(1, self.end - start)
        return min(1.0, at + (1.0 - at) * done)

    def _end_at(self, iteration: int, end: int) -> None:
        end = max(iteration + 1, end)
        if end != self.end:
            self._start = (iteration, self.progress(iteration))
            self.end = end

    def stop_early(self, iteration: int) -> None:
        """Finish within cooldown_share of the iterations run so far."""
        if self.stopped_at is None:
            self.stopped_at = iteration
            self.cooldown_iterations = max(1, int(self.config.cooldown_share * iteration))
            self.content_end = min(self.content_end, iteration + self.cooldown_iterations)
            self._end_at(iteration, min(self.end, self.content_end))

    def fit_time_budget(self, iteration: int, elapsed_s: float, seconds_per_iteration: float
                        ) -> None:
        """Re-plan to end when the time budget does at the measured seconds per iteration,
        never past content_end; no change while the plan ends within the budget."""
        if self.config.time_budget_s <= 0 or seconds_per_iteration <= 0:
            return
        left_s = max(0.0, self.config.time_budget_s - elapsed_s)
        budget_end = iteration + int(left_s / seconds_per_iteration)
        self._end_at(iteration, min(self.content_end, budget_end))
