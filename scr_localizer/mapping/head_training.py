"""One head's training loop, shared by single maps, submaps and their parallel (Ray) training:
AdamW with the one-cycle schedule against the mapping loss, effort planned from the buffer's
size, early stopping on held-out cells, the time budget as the upper bound."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from scr_localizer.mapping.buffer import CellBuffer
from scr_localizer.mapping.config import MappingConfig
from scr_localizer.mapping.loss import (
    TrainingSchedule,
    camera_points,
    clamp_at,
    lr_at,
    mapping_loss,
    reprojection,
)
from scr_localizer.mapping.progress import progress_bar
from scr_localizer.model.head import SceneCoordinateHead
from scr_localizer.model.precision import autocast_dtype, float32_cpu_steps

# With a time budget, the speed is measured from this many iterations on (past the first
# steps' warm-up) and the plan checked against the budget this often.
BUDGET_CHECK_EVERY = 50


@dataclass
class HeadTraining:
    """What one head's training run did."""

    iterations: int = 0
    iterations_planned: int = 0
    stopped_early: bool = False
    time_bound: bool = False  # the time budget shortened the plan or ended the run
    train_time_s: float = 0.0
    final_loss: float = float("nan")
    holdout_inlier_share: float = float("nan")
    loss_history: list = field(default_factory=list)
    holdout_history: list = field(default_factory=list)  # (iteration, held-out inlier share)


def _split_holdout(n: int, config: MappingConfig, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(training cell indices, held-out cell indices): at most a tenth of the buffer is held
    out, none when holdout_cells is 0 or the buffer is tiny."""
    count = min(config.holdout_cells, n // 10)
    if count < 64:  # no draw from the generator: training stays as without a hold-out
        return torch.arange(n), torch.arange(0)
    order = torch.randperm(n, generator=generator)
    return order[count:].sort().values, order[:count].sort().values


@torch.inference_mode()
def holdout_inlier_share(head: SceneCoordinateHead, buffer: CellBuffer, index: torch.Tensor,
                         config: MappingConfig) -> float:
    """Share of the held-out cells whose prediction reprojects within inlier_threshold_px."""
    was_training = head.training
    head.eval()
    scene = head.forward_cells(buffer.descriptors[index].float())
    frame = buffer.frame[index]
    error, z = reprojection(camera_points(scene, frame, buffer), frame, buffer.pixels[index],
                            buffer, config.min_depth_m)
    head.train(was_training)
    return float(((error < config.inlier_threshold_px) & (z > config.min_depth_m)).float().mean())


def train_head(buffer: CellBuffer, config: MappingConfig, descriptor_dim: int,
               device: torch.device, progress: bool = False, desc: str = "training"
               ) -> tuple[SceneCoordinateHead, HeadTraining]:
    """Train one head on a buffer (already on `device`): the loop shared by single maps,
    submaps and their parallel (Ray) training. Iterations follow the content
    (MappingConfig.planned_iterations), end early once held-out cells stop improving, and
    never run past the time budget."""
    cpu_gen = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = SceneCoordinateHead(config.head_config(descriptor_dim))
    head = head.to(device).train()
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr_min,
                                  weight_decay=config.weight_decay)
    # Hidden layers in float16 on CUDA (with loss scaling), in bfloat16 on a CPU that computes
    # it natively (same exponent range as float32: no scaling), float32 otherwise.
    amp_dtype = autocast_dtype(device, "auto" if config.mixed_precision else "float32")
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    n_all = len(buffer)
    train_index, holdout = _split_holdout(n_all, config, cpu_gen)
    train_index, holdout = train_index.to(device), holdout.to(device)
    n = len(train_index)
    batch_size = min(config.batch_size, n)
    run = HeadTraining(iterations_planned=config.planned_iterations(
        n, float32_cpu_steps(device, config.mixed_precision)))
    schedule = TrainingSchedule(config, run.iterations_planned)
    order = train_index[torch.randperm(n, generator=cpu_gen).to(device)]
    cursor = 0
    bar = progress_bar(progress, desc=desc, unit="it", total=run.iterations_planned)
    start = time.perf_counter()
    speed_from: tuple[int, float] | None = None  # (iteration, seconds): after the warm-up
    best, since_best = -1.0, 0
    loss_value = float("nan")
    iteration = 0
    while True:
        progress_now = schedule.progress(iteration)
        elapsed_s = time.perf_counter() - start
        if progress_now >= 1.0 or 0 < config.time_budget_s <= elapsed_s:
            break
        if config.time_budget_s > 0 and iteration % BUDGET_CHECK_EVERY == 0 and iteration:
            if speed_from is None:
                speed_from = (iteration, elapsed_s)
            else:
                schedule.fit_time_budget(iteration, elapsed_s, (elapsed_s - speed_from[1])
                                         / (iteration - speed_from[0]))
                bar.total = schedule.end
        clamp_px = clamp_at(config, progress_now)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, progress_now)
        if cursor + batch_size > n:
            order = train_index[torch.randperm(n, generator=cpu_gen).to(device)]
            cursor = 0
        index = order[cursor:cursor + batch_size]
        cursor += batch_size
        batch = {"frame": buffer.frame[index], "pixels": buffer.pixels[index],
                 "depth": buffer.depth[index]}
        descriptors = buffer.descriptors[index]
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            scene = head.forward_cells(descriptors if amp_dtype is not None
                                       else descriptors.float())
        loss, info = mapping_loss(scene.float(), batch, buffer, config, clamp_px)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if iteration % 25 == 0 or iteration == run.iterations_planned - 1:
            loss_value = float(loss.detach())
            run.loss_history.append(loss_value)
            inliers = float(((info["error"] < config.inlier_threshold_px)
                             & info["valid"]).float().mean())
            bar.set_postfix(loss=f"{loss_value:.3f}", inliers=f"{100 * inliers:.1f}%",
                            clamp=f"{clamp_px:.1f}px", refresh=False)
        iteration += 1
        if len(holdout) and iteration % config.early_stop_every == 0:
            share = holdout_inlier_share(head, buffer, holdout, config)
            run.holdout_history.append((iteration, share))
            if share > best + config.early_stop_min_gain:
                best, since_best = share, 0
            else:
                since_best += 1
            if (since_best >= config.early_stop_patience and iteration >= config.min_iterations
                    and best >= config.early_stop_min_share and schedule.stopped_at is None):
                schedule.stop_early(iteration)
                run.stopped_early = True
                bar.total = schedule.end
        bar.update(1)
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    run.train_time_s = time.perf_counter() - start
    run.iterations = iteration
    run.time_bound = schedule.replanned_for_budget or (
        0 < config.time_budget_s <= run.train_time_s and iteration < schedule.end)
    run.final_loss = loss_value
    if len(holdout):
        run.holdout_inlier_share = holdout_inlier_share(head, buffer, holdout, config)
    head.eval()
    return head, run
