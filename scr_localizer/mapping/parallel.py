"""Training several heads (submaps): in parallel on Ray when it is installed (a local instance,
or a cluster with `ray_address`; one GPU per task where the cluster has GPUs), otherwise one
after another in this process. Ray is an optional extra (`pip install ray`), never required.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace

import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.log import get_logger

LOG = get_logger(__name__)

ENGINES = ("auto", "ray", "sequential")


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str, heads: int, ray_address: str | None = None) -> str:
    """"ray" or "sequential": auto takes Ray for more than one head when it is installed."""
    if engine not in ENGINES:
        raise ScrLocalizerError(f"unknown training engine '{engine}'; expected one of "
                                f"{', '.join(ENGINES)}")
    if engine == "ray" or (ray_address and engine == "auto"):
        if not ray_available():
            raise ScrLocalizerError(
                "parallel training on Ray was asked for but ray is not installed; install it "
                "with `pip install ray` or train the submaps one after another "
                "(--parallel sequential)")
        return "ray"
    if engine == "auto" and heads > 1 and ray_available():
        return "ray"
    return "sequential"


def head_time_budgets(config, head_cells: list[int], concurrent: int) -> list[float]:
    """Each head's time_budget_s (0: none). With map_time_budget_s the map's budget is shared
    out over the `concurrent` heads that train at once, so that the heads together end near it
    (room360's 14 heads trained for 31 min on a 2-core CPU without bfloat16, each within its
    own 400 s); no head gets more than time_budget_s. The shares follow the square root of a
    head's cells, not the cells: in proportion to the cells room360's smallest heads (27-32
    frames) got 53-62 s and 39-45 % of their held-out cells within 10 px; by the square root
    71-78 s and 53-56 %, and colour-only queries within 10 cm / 5 deg went 71 -> 76 %."""
    weights = [math.sqrt(cells) for cells in head_cells]
    total = sum(weights)
    if config.map_time_budget_s <= 0 or not total:
        return [config.time_budget_s] * len(head_cells)
    budgets = []
    for weight in weights:
        share = config.map_time_budget_s * min(1.0, concurrent * weight / total)
        budgets.append(min(share, config.time_budget_s) if config.time_budget_s > 0 else share)
    return budgets


def _trained_line(index: int, count: int, run, config) -> str:
    how = ("stopped early" if run.stopped_early else "time-bound" if run.time_bound
           else "as planned")
    held_out = ("" if math.isnan(run.holdout_inlier_share) else
                f", {100 * run.holdout_inlier_share:.0f} % of held-out cells within "
                f"{config.inlier_threshold_px:g} px")
    return (f"submap {index + 1}/{count} trained: {run.iterations} iterations in "
            f"{run.train_time_s:.0f} s ({how}){held_out}")


def _train_task(buffer, config, descriptor_dim: int, threads: int, use_gpu: bool):
    """One head on one worker: (state dict on the CPU, HeadTraining)."""
    from scr_localizer.mapping.head_training import train_head

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(max(1, threads))
    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    head, run = train_head(buffer.to(device), config, descriptor_dim, device)
    return {k: v.detach().cpu() for k, v in head.state_dict().items()}, run


def train_heads(buffers: list, config, descriptor_dim: int, device: torch.device,
                engine: str = "auto", ray_address: str | None = None,
                progress: bool = False) -> list[tuple]:
    """[(head, HeadTraining)] for each buffer, in order."""
    from scr_localizer.mapping.head_training import train_head
    from scr_localizer.model.head import SceneCoordinateHead

    engine = resolve_engine(engine, len(buffers), ray_address)
    cells = [len(buffer) for buffer in buffers]
    if engine == "sequential":
        results = []
        budgets = head_time_budgets(config, cells, 1)
        for index, (buffer, budget) in enumerate(zip(buffers, budgets)):
            results.append(train_head(buffer.to(device), replace(config, time_budget_s=budget),
                                      descriptor_dim, device, progress,
                                      desc=f"training submap {index + 1}/{len(buffers)}"))
            LOG.info(_trained_line(index, len(buffers), results[-1][1], config))
        return results
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False)
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if device.type != "cpu" else 0
        cpus = int(resources.get("CPU", 1))
        # Every task at once: the CPUs shared out, or one GPU each.
        threads = max(1, cpus // max(1, len(buffers)))
        task = ray.remote(num_cpus=threads if not gpus else 1,
                          num_gpus=1 if gpus else 0)(_train_task)
        LOG.info(f"training {len(buffers)} submaps in parallel on Ray "
                 f"({'one GPU' if gpus else f'{threads} CPU threads'} each)")
        concurrent = max(1, gpus or cpus // threads)
        budgets = head_time_budgets(config, cells, concurrent)
        # The largest first: the last heads to start are then short ones, and the map's
        # training ends near its budget.
        order = sorted(range(len(buffers)), key=lambda index: -cells[index])
        pending = {task.remote(buffers[index].to("cpu"),
                               replace(config, time_budget_s=budgets[index]), descriptor_dim,
                               threads, bool(gpus)): index for index in order}
        outputs = [None] * len(buffers)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            outputs[index] = ray.get(done[0])
            LOG.info(_trained_line(index, len(buffers), outputs[index][1], config))
    finally:
        if started_here:
            ray.shutdown()
    results = []
    for state, run in outputs:
        head = SceneCoordinateHead(config.head_config(descriptor_dim))
        head.load_state_dict(state)
        results.append((head.to(device).eval(), run))
    return results
