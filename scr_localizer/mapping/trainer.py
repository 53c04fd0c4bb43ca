"""Mapping: train a scene coordinate regression head from posed RGB-D frames (the loop).

The ACE recipe, written from its description: the frozen encoder runs once per (augmented)
mapping frame, filling a buffer of cells (`mapping.buffer`); the head is then trained on shuffled
batches from that buffer with AdamW and a one-cycle learning rate against a tanh-clamped
reprojection error plus a depth prior from *Scene Coordinate Reconstruction Priors* (ICCV 2025)
(`mapping.loss`). Config and presets: `mapping.config`.

Training happens in coordinates centred on the mean mapping-camera position so float32 stays
precise for any fixed frame; the centre becomes the head's offset when the map is built.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.surface import KeyframeAccumulator
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.log import get_logger
from scr_localizer.mapping.buffer import CellBuffer, encode_frames
from scr_localizer.mapping.config import (  # noqa: F401 - re-exported: the trainer's inputs
    MIN_RGBD_DEPTH_SHARE,
    PRIOR_CHOICES,
    PRIORS,
    MappingConfig,
    preset,
    preset_names,
    resolve_prior,
)
from scr_localizer.mapping.head_training import (  # noqa: F401 - re-exported
    HeadTraining,
    holdout_inlier_share,
    train_head,
)
from scr_localizer.mapping.loss import camera_points, clamp_at, lr_at, mapping_loss, reprojection
from scr_localizer.model.encoder import Encoder, get_encoder
from scr_localizer.model.head import SceneCoordinateHead
from scr_localizer.model.map_file import SceneMap
from scr_localizer.model.preprocess import resolve_device

LOG = get_logger(__name__)


@dataclass
class MappingStats:
    frames_total: int = 0
    frames_used: int = 0
    frames_skipped: dict = field(default_factory=dict)
    buffer_cells: int = 0
    cells_with_depth: float = 0.0
    encode_time_s: float = 0.0
    train_time_s: float = 0.0
    iterations: int = 0
    final_loss: float = float("nan")
    reprojection_median_px: float = float("nan")
    inlier_share: float = float("nan")
    depth_median_error_m: float = float("nan")
    iterations_planned: int = 0
    stopped_early: bool = False
    time_bound: bool = False  # the time budget shortened the plan or ended the run
    holdout_inlier_share: float = float("nan")
    submaps: list = field(default_factory=list)  # per part: frames, cells, iterations, ...
    device: str = ""

    def summary(self, config: MappingConfig) -> str:
        skipped = ", ".join(f"{k}: {v}" for k, v in self.frames_skipped.items()) or "none"
        return (
            f"mapped {self.frames_used}/{self.frames_total} frames (skipped {skipped}) on "
            f"{self.device}: encoding {self.encode_time_s:.1f} s, training {self.train_time_s:.1f} s "
            f"({self.iterations} iterations{' (stopped early)' if self.stopped_early else ''}"
            f"{', shortened to the time budget' if self.time_bound else ''}, "
            f"{self.buffer_cells} cells, "
            f"{100 * self.cells_with_depth:.0f}% with depth); final loss {self.final_loss:.3f}, "
            f"median reprojection {self.reprojection_median_px:.2f} px, "
            f"{100 * self.inlier_share:.1f}% of cells < {config.inlier_threshold_px:g} px, "
            f"median depth error {100 * self.depth_median_error_m:.1f} cm"
        )


class MapTrainer:
    """Builds the buffer from frames, trains the head, and can export the mapped points."""

    def __init__(self, config: MappingConfig = MappingConfig(),  # noqa: B008 - frozen
                 progress: bool = False):
        self.config = config
        self.progress = progress
        self.device = resolve_device(config.device)
        self.encoder: Encoder = get_encoder(config.encoder, self.device)
        self.stats = MappingStats(device=str(self.device))
        self.buffer: CellBuffer | None = None
        self.head: SceneCoordinateHead | None = None
        self.loss_history: list[float] = []
        self.holdout_history: list[tuple[int, float]] = []
        # Submaps (train_submaps): (head, part buffer, region, HeadTraining) per part.
        self.submaps: list[tuple] = []
        self.keyframes = KeyframeAccumulator()

    def _collect_keyframes(self, frames: Iterable[RGBDFrame]):
        """Pass frames through, keeping depth keyframes of the measured surface on the way."""
        for frame in frames:
            self.keyframes.add(frame.depth, frame.camera, frame.world_from_camera)
            yield frame

    def build_buffer(self, frames: Iterable[RGBDFrame]) -> CellBuffer:
        buffer, encoding = encode_frames(self._collect_keyframes(frames), self.config,
                                         self.encoder, self.device, self.progress)
        self.stats.encode_time_s = encoding.encode_time_s
        self.stats.frames_total = encoding.frames_total
        self.stats.frames_used = encoding.frames_used
        self.stats.frames_skipped = encoding.frames_skipped
        self.stats.buffer_cells = len(buffer)
        self.stats.cells_with_depth = float((buffer.depth > 0).float().mean())
        self.buffer = buffer
        return buffer

    # ----------------------------------------------------------------- loss
    def _check_prior_has_data(self) -> None:
        """Stop (MIN_RGBD_DEPTH_SHARE) rather than train the rgbd prior on no depth."""
        share = self.stats.cells_with_depth
        if self.config.prior == "rgbd" and share < MIN_RGBD_DEPTH_SHARE:
            raise ScrLocalizerError(
                f"the rgbd prior needs measured depth but only {100 * share:.1f} % of the "
                f"{self.stats.buffer_cells} sampled cells of {self.stats.frames_used} frames have "
                f"a valid depth (expected >= {100 * MIN_RGBD_DEPTH_SHARE:g} %; the depth images "
                "are all zero or NaN?); map RGB-only with --rgb-only or --prior "
                "depth-distribution, or fix the depth stream")

    def loss(self, scene: torch.Tensor, batch: dict, clamp_px: float) -> tuple[torch.Tensor, dict]:
        return mapping_loss(scene, batch, self.buffer, self.config, clamp_px)

    def clamp_at(self, progress: float) -> float:
        return clamp_at(self.config, progress)

    def lr_at(self, progress: float) -> float:
        return lr_at(self.config, progress)

    # ----------------------------------------------------------------- training
    def train(self, frames: Iterable[RGBDFrame] | None = None) -> SceneCoordinateHead:
        config = self.config
        if frames is not None:
            self.build_buffer(frames)
        if self.buffer is None:
            raise ScrLocalizerError("no mapping frames given; expected posed RGB-D frames")
        self._check_prior_has_data()
        self.buffer = self.buffer.to(self.device)
        head, run = train_head(self.buffer, config, self.encoder.descriptor_dim, self.device,
                               self.progress)
        self.stats.train_time_s = run.train_time_s
        self.stats.iterations = run.iterations
        self.stats.iterations_planned = run.iterations_planned
        self.stats.stopped_early = run.stopped_early
        self.stats.time_bound = run.time_bound
        self.stats.holdout_inlier_share = run.holdout_inlier_share
        self.stats.final_loss = run.final_loss
        self.loss_history = run.loss_history
        self.holdout_history = run.holdout_history
        self.head = head
        self._final_statistics()
        if self.progress:
            LOG.info(self.stats.summary(config))
        return head

    def train_submaps(self, count: int, engine: str = "auto", ray_address: str | None = None
                      ) -> list[SceneCoordinateHead]:
        """Split the buffer's frames into `count` spatially coherent parts (with overlap) and
        train one head per part, on Ray in parallel or one after another
        (mapping.parallel). One part: the same as `train`."""
        from scr_localizer.mapping.parallel import train_heads
        from scr_localizer.mapping.submaps import buffer_poses, split_frames, sub_buffer

        config = self.config
        if self.buffer is None:
            raise ScrLocalizerError("no mapping frames given; expected posed RGB-D frames")
        parts, regions = split_frames(buffer_poses(self.buffer), count, config.submap_overlap,
                                      config.seed)
        if len(parts) <= 1:
            return [self.train()]
        self._check_prior_has_data()
        buffers = [sub_buffer(self.buffer, part) for part in parts]
        LOG.info(f"{len(parts)} submaps of {', '.join(str(len(p)) for p in parts)} frames "
                 f"(overlap {config.submap_overlap:g})")
        start = time.perf_counter()
        trained = train_heads(buffers, config, self.encoder.descriptor_dim, self.device,
                              engine, ray_address, self.progress)
        self.submaps = [(head, buffer.to(self.device), region, run) for (head, run), buffer,
                        region in zip(trained, buffers, regions)]
        runs = [run for _, run in trained]
        self.stats.train_time_s = time.perf_counter() - start
        self.stats.iterations = sum(run.iterations for run in runs)
        self.stats.iterations_planned = sum(run.iterations_planned for run in runs)
        self.stats.stopped_early = all(run.stopped_early for run in runs)
        self.stats.time_bound = any(run.time_bound for run in runs)
        self.stats.final_loss = float(np.mean([run.final_loss for run in runs]))
        self.stats.holdout_inlier_share = float(np.mean([run.holdout_inlier_share
                                                         for run in runs]))
        self.stats.submaps = [{"frames": region["frames"], "cells": len(buffer),
                               "iterations": run.iterations, "stopped_early": run.stopped_early,
                               "time_bound": run.time_bound,
                               "train_time_s": round(run.train_time_s, 1)}
                              for (_, buffer, region, run) in self.submaps]
        self.head = self.submaps[0][0]
        self.loss_history = runs[0].loss_history
        self.holdout_history = runs[0].holdout_history
        self._final_statistics()
        if self.progress:
            LOG.info(self.stats.summary(config))
        return [head for head, *_ in self.submaps]

    def _parts(self) -> list[tuple[SceneCoordinateHead, CellBuffer]]:
        """(head, its buffer) of every trained part: one for a single-head map."""
        if self.submaps:
            return [(head, buffer) for head, buffer, *_ in self.submaps]
        return [(self.head, self.buffer)]

    @torch.inference_mode()
    def predict_buffer(self, limit: int = 500_000, head: SceneCoordinateHead | None = None,
                       buffer: CellBuffer | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted (centred) scene coordinates and reprojection errors of buffer cells."""
        head = head or self.head
        buffer = buffer if buffer is not None else self.buffer
        n = min(len(buffer), limit)
        index = torch.arange(n, device=buffer.descriptors.device)
        scenes, errors, depths = [], [], []
        for chunk in index.split(65536):
            scene = head.forward_cells(buffer.descriptors[chunk].float())
            points = camera_points(scene, buffer.frame[chunk], buffer)
            error, z = reprojection(points, buffer.frame[chunk], buffer.pixels[chunk], buffer,
                                    self.config.min_depth_m)
            error = torch.where(z > self.config.min_depth_m, error, torch.full_like(error, 1e6))
            scenes.append(scene)
            errors.append(error)
            depths.append(z)
        self._pred_depth = torch.cat(depths)
        return torch.cat(scenes), torch.cat(errors)

    def _final_statistics(self) -> None:
        errors, predicted, measured = [], [], []
        for head, buffer in self._parts():
            _, error = self.predict_buffer(head=head, buffer=buffer)
            errors.append(error)
            predicted.append(self._pred_depth)
            measured.append(buffer.depth[: len(error)])
        error, pred_depth, measured = (torch.cat(errors), torch.cat(predicted),
                                       torch.cat(measured))
        self.stats.reprojection_median_px = float(error.median())
        self.stats.inlier_share = float((error < self.config.inlier_threshold_px).float().mean())
        has = measured > 0
        if bool(has.any()):
            self.stats.depth_median_error_m = float(
                (pred_depth[has] - measured[has]).abs().median())

    # ----------------------------------------------------------------- outputs
    def scene_map(self, fixed_frame: str = "map", source: str = "") -> SceneMap:
        if self.head is None:
            raise ScrLocalizerError("the map has not been trained yet")
        heads = []
        for trained, buffer in self._parts():
            head = SceneCoordinateHead(trained.config)
            head.load_state_dict({k: v.detach().cpu() for k, v in trained.state_dict().items()})
            head.scene_centre.copy_(torch.from_numpy(buffer.centre).float())
            heads.append(head.eval())
        training = self.config.to_dict()
        return SceneMap(
            head=heads[0],
            extra_heads=heads[1:],
            regions=[region for *_, region, _ in self.submaps],
            encoder_name=self.encoder.name,
            encoder_hash=self.encoder.weights_hash,
            fixed_frame=fixed_frame,
            training_config=training,
            source=source,
            stats=asdict(self.stats),
            keyframes=self.keyframes.keyframes(),
        )

    def point_cloud(self, max_error_px: float = 10.0, max_points: int = 500_000
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(Nx3 float64 points in the fixed frame, Nx3 uint8 RGB) of well-fitted buffer cells."""
        points, colors = [], []
        parts = self._parts()
        for head, buffer in parts:
            scene, error = self.predict_buffer(limit=max_points // len(parts), head=head,
                                               buffer=buffer)
            keep = (error < max_error_px).cpu().numpy()
            points.append(scene.cpu().double().numpy()[keep] + buffer.centre)
            colors.append(buffer.colors[: len(keep)][keep])
        return np.concatenate(points), np.concatenate(colors)


def train_map(
    frames: Iterable[RGBDFrame],
    config: MappingConfig = MappingConfig(),  # noqa: B008 - frozen dataclass
    *,
    fixed_frame: str = "map",
    source: str = "",
    progress: bool = False,
) -> SceneMap:
    """Posed RGB-D (or RGB) frames → a trained SceneMap. Notebook-friendly entry point."""
    trainer = MapTrainer(config, progress=progress)
    trainer.train(frames)
    return trainer.scene_map(fixed_frame=fixed_frame, source=source)
