"""Build a map from a mapping bag: the one orchestration of read -> encode -> train -> write, run
by `scr-localizer map`, the mapping node and the demo."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import check_writable
from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader
from scr_localizer.log import get_logger, interactive
from scr_localizer.mapping.config import (
    PRIOR_CHOICES,
    preset,
    preset_names,
    resolve_prior,
    submap_count,
)
from scr_localizer.validation import check_number

LOG = get_logger(__name__)


@dataclass(frozen=True)
class MapJob:
    """Where the frames come from, where the map goes and how hard to train.

    `prior` is one of mapping.config.PRIOR_CHOICES ("auto": rgbd with depth, else
    depth-distribution); `iterations` and `time_budget_s` None keep the preset's (the budget
    bounds each head and all heads together); `mapping_overrides` are further
    MappingConfig fields (e.g. time_budget_s). `source` is recorded in the map (default: the
    bag's name).
    """

    bag: str | Path
    output: str | Path
    read: BagReadConfig = field(default_factory=BagReadConfig)
    preset: str = "cpu"
    prior: str = "auto"
    device: str = "auto"
    seed: int = 0
    iterations: int | None = None
    # Seconds of training at most, all heads together (the preset's when None): slower CPUs
    # that want the plan trained in full can give more.
    time_budget_s: float | None = None
    mapping_overrides: dict = field(default_factory=dict)
    overwrite: bool = False
    ply: str | Path | None = None
    source: str = ""
    progress: bool = True
    # Heads over parts of the scene: "1", a number, or "auto" (one per submap_frames frames);
    # trained in parallel on Ray when it is installed ("auto"), at ray_address if given.
    submaps: str = "1"
    parallel: str = "auto"
    ray_address: str | None = None

    def __post_init__(self):
        if self.preset not in preset_names():
            raise ScrLocalizerError(
                f"unknown preset '{self.preset}'; expected one of {', '.join(preset_names())}")
        if self.prior not in PRIOR_CHOICES:
            raise ScrLocalizerError(
                f"unknown prior '{self.prior}'; expected one of {', '.join(PRIOR_CHOICES)}")
        if self.iterations is not None:
            check_number(self.iterations, "iterations", 1, integer=True)
        if self.time_budget_s is not None:
            check_number(self.time_budget_s, "time budget (seconds)", 0.0, low_open=True)
        submap_count(self.submaps, 1, 1)  # a bad request fails before any work
        if self.parallel not in ("auto", "ray", "sequential"):
            raise ScrLocalizerError(f"unknown parallel engine '{self.parallel}'; expected one "
                                    "of auto, ray, sequential")


@dataclass
class MapResult:
    path: Path
    scene_map: object  # model.map_file.SceneMap
    trainer: object  # mapping.trainer.MapTrainer: stats, point_cloud()
    prior: str
    has_depth: bool
    frames: int
    read_summary: str
    seconds: float


def check_outputs(job: MapJob) -> None:
    """Fail before any work when the outputs cannot be written."""
    output = Path(job.output)
    if output.is_file() and not job.overwrite:
        raise ScrLocalizerError(f"'{output}' exists; pass --overwrite to replace it")
    check_writable(output, "map")
    if job.ply:
        check_writable(job.ply, "PLY output")


def _logged_frames(reader, total: int):
    """Frames with a log line every 10 % (where no progress bar is shown)."""
    step = max(1, total // 10)
    for index, frame in enumerate(reader, start=1):
        if index == 1 or index % step == 0 or index == total:
            LOG.info(f"encoding mapping frames: {index}/{total}")
        yield frame


def build_map(job: MapJob) -> MapResult:
    """Read the bag (every check a user can act on happens first, before torch is imported),
    encode the frames, train the head, write the map atomically and, if asked, the PLY."""
    check_outputs(job)
    reader = RGBDBagReader(job.bag, job.read)
    has_depth = bool(reader.depth_topic)

    # Imported only now: torch takes seconds to import, and bad input has failed by here.
    from scr_localizer.mapping.trainer import MapTrainer
    from scr_localizer.model.map_file import estimated_map_bytes, save_map

    prior = resolve_prior(job.prior, has_depth)
    overrides = dict(job.mapping_overrides)
    if job.iterations is not None:
        overrides["iterations"] = job.iterations
    if job.time_budget_s is not None:
        overrides["time_budget_s"] = overrides["map_time_budget_s"] = job.time_budget_s
    overrides.setdefault("submaps", str(job.submaps))
    config = preset(job.preset, device=job.device, prior=prior, seed=job.seed, **overrides)
    total = len(reader)
    LOG.info(f"mapping '{job.bag}': {total} frames, {'RGB-D' if has_depth else 'RGB-only'}, "
             f"preset {job.preset}, prior {prior}")
    start = time.perf_counter()
    trainer = MapTrainer(config, progress=job.progress)
    check_writable(job.output, "map", min_free_bytes=estimated_map_bytes(
        config.head_config(trainer.encoder.descriptor_dim),
        submap_count(config.submaps, total, config.submap_frames)))
    bar_shown = job.progress and interactive()
    trainer.build_buffer(reader if bar_shown or not job.progress else _logged_frames(reader, total))
    read_summary = reader.report.summary()
    LOG.info(f"bag reading: {read_summary}")
    from scr_localizer.mapping.submaps import buffer_poses, view_direction_bins
    from scr_localizer.model.precision import float32_cpu_steps

    directions = (view_direction_bins(buffer_poses(trainer.buffer))
                  if trainer.buffer is not None else 0)
    count = submap_count(config.submaps, trainer.stats.frames_used, config.submap_frames,
                         directions)
    if str(config.submaps).strip().lower() == "auto":
        LOG.info(f"submaps auto: {count} (the cameras looked in {directions} directions, "
                 f"{trainer.stats.frames_used} frames)")
    effort = f"up to {config.iterations} iterations"
    if config.passes > 0:
        float32_cpu = float32_cpu_steps(trainer.device, config.mixed_precision)
        passes = config.passes_for(float32_cpu)
        why = " for float32 steps on this CPU" if passes != config.passes else ""
        effort = (f"about {config.planned_iterations(len(trainer.buffer) // count, float32_cpu)}"
                  f" iterations planned per head ({passes:g} passes{why}, at most "
                  f"{config.iterations})")
    stops = ", stopping early on held-out cells" if config.holdout_cells else ""
    budget = (f", at most {config.time_budget_s:g} s{' each' if count > 1 else ''}"
              if config.time_budget_s > 0 else "")
    if count > 1 and config.map_time_budget_s > 0:
        budget += f" and {config.map_time_budget_s:g} s for all heads together"
    LOG.info(f"training {effort}{budget}{stops} on {len(trainer.buffer)} cells")
    if count > 1:
        trainer.train_submaps(count, job.parallel, job.ray_address)
    else:
        trainer.train()
    scene_map = trainer.scene_map(fixed_frame=job.read.fixed_frame,
                                  source=job.source or Path(job.bag).name)
    path = save_map(scene_map, job.output)
    seconds = time.perf_counter() - start
    heads = f", {len(scene_map.heads)} submaps" if len(scene_map.heads) > 1 else ""
    LOG.info(f"map written to '{path}' ({path.stat().st_size / 1e6:.2f} MB{heads}) after "
             f"{seconds:.0f} s")
    if job.ply:
        from scr_localizer.model.point_cloud import write_ply

        xyz, rgb = trainer.point_cloud()
        write_ply(job.ply, xyz, rgb)
        LOG.info(f"point cloud of {len(xyz)} points written to '{job.ply}'")
    return MapResult(path=path, scene_map=scene_map, trainer=trainer, prior=prior,
                     has_depth=has_depth, frames=total, read_summary=read_summary,
                     seconds=seconds)
