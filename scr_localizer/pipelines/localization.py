"""Localize every frame of a bag against a map, offline, and (for evaluation) score it against the
bag's ground truth: the one orchestration behind `localize` and `evaluate`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError


@dataclass(frozen=True)
class LocalizeJob:
    """Map, bag and how to read and solve. Topics None are chosen automatically; `ground_truth`
    is "auto" (the ground-truth topic, else TF from the map's fixed frame), "none" or a topic."""

    map: str | Path
    bag: str | Path
    color_topic: str | None = None
    depth_topic: str | None = None
    camera_info_topic: str | None = None
    use_depth: bool = True
    depth_solver: str | None = None
    device: str = "auto"
    backend: str = "torch"  # encoder backend (model.backends.BACKENDS)
    precision: str = "auto"  # head hidden layers (model.precision.PRECISIONS)
    threads: int | None = None
    frame_step: int = 1
    ground_truth: str = "none"
    progress: bool = False

    def __post_init__(self):
        if self.frame_step < 1:
            raise ScrLocalizerError(f"frame step must be >= 1, got {self.frame_step}")
        if self.threads is not None and self.threads < 0:
            raise ScrLocalizerError(f"threads must be >= 0 (0: torch's), got {self.threads}")


@dataclass
class LocalizeResult:
    records: list  # evaluation.metrics.FrameRecord per frame, stamp order
    scene_map: object  # model.map_file.SceneMap
    localizer: object  # localization.localizer.Localizer
    reader: object  # io.bag_reader.RGBDBagReader
    truth_source: str | None


def build_localizer(map_path, depth_solver: str | None = None, device: str = "auto",
                    threads: int | None = None, backend: str = "torch",
                    precision: str = "auto"):
    """(scene_map, Localizer) for a map file."""
    from scr_localizer.localization.localizer import Localizer, LocalizerConfig
    from scr_localizer.model.map_file import load_map

    if threads:
        import torch

        torch.set_num_threads(max(1, threads))
    scene_map = load_map(map_path)
    config = LocalizerConfig(backend=backend, precision=precision)
    if depth_solver:
        config = LocalizerConfig(depth_solver=depth_solver, backend=backend, precision=precision)
    return scene_map, Localizer(scene_map, config, device=device)


def localize_bag(job: LocalizeJob) -> LocalizeResult:
    from scr_localizer.localization.offline import localize_frames, open_query_bag

    scene_map, localizer = build_localizer(job.map, job.depth_solver, job.device, job.threads,
                                           job.backend, job.precision)
    reader, truth_source = open_query_bag(
        job.bag, scene_map.fixed_frame, ground_truth=job.ground_truth,
        color_topic=job.color_topic, depth_topic=job.depth_topic if job.use_depth else "",
        camera_info_topic=job.camera_info_topic, frame_step=job.frame_step,
    )
    records = localize_frames(localizer, reader, use_depth=job.use_depth, progress=job.progress)
    return LocalizeResult(records=records, scene_map=scene_map, localizer=localizer,
                          reader=reader, truth_source=truth_source)


def evaluate_bag(job: LocalizeJob) -> tuple[LocalizeResult, dict]:
    """localize_bag, then the summary (accuracy against the ground truth, latency, counts)."""
    from scr_localizer.evaluation.metrics import summarize

    result = localize_bag(job)
    summary = summarize(result.records, extra={
        "map": str(job.map),
        "bag": str(job.bag),
        "ground_truth_source": result.truth_source,
        "depth_used": bool(result.reader.depth_topic) and job.use_depth,
        "device": str(result.localizer.device),
        "backend": result.localizer.regressor.backend,
        "head_dtype": str(result.localizer.regressor.head_dtype or "float32").replace("torch.", ""),
        "read_report": result.reader.report.summary(),
    })
    return result, summary
