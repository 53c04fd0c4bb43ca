"""Training several heads (submaps): in parallel on Ray when it is installed (a local instance,
or a cluster with `ray_address`; one GPU per task where the cluster has GPUs), otherwise one
after another in this process. Ray is an optional extra (`pip install ray`), never required.
"""

from __future__ import annotations

import os

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
    if engine == "sequential":
        results = []
        for index, buffer in enumerate(buffers):
            results.append(train_head(buffer.to(device), config, descriptor_dim, device,
                                      progress, desc=f"training submap {index + 1}/"
                                      f"{len(buffers)}"))
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
        refs = [task.remote(buffer.to("cpu"), config, descriptor_dim, threads, bool(gpus))
                for buffer in buffers]
        outputs = ray.get(refs)
    finally:
        if started_here:
            ray.shutdown()
    results = []
    for state, run in outputs:
        head = SceneCoordinateHead(config.head_config(descriptor_dim))
        head.load_state_dict(state)
        results.append((head.to(device).eval(), run))
    return results
