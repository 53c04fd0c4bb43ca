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
from scr_localizer.mapping.loss import (
    camera_points,
    clamp_at,
    lr_at,
    mapping_loss,
    reprojection,
    training_progress,
)
from scr_localizer.mapping.progress import progress_bar
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
    device: str = ""

    def summary(self, config: MappingConfig) -> str:
        skipped = ", ".join(f"{k}: {v}" for k, v in self.frames_skipped.items()) or "none"
        return (
            f"mapped {self.frames_used}/{self.frames_total} frames (skipped {skipped}) on "
            f"{self.device}: encoding {self.encode_time_s:.1f} s, training {self.train_time_s:.1f} s "
            f"({self.iterations} iterations, {self.buffer_cells} cells, "
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

    def build_buffer(self, frames: Iterable[RGBDFrame]) -> CellBuffer:
        buffer, encoding = encode_frames(frames, self.config, self.encoder, self.device,
                                         self.progress)
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
        device = self.device
        buffer = self.buffer.to(device)
        self.buffer = buffer
        cpu_gen = torch.Generator().manual_seed(config.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            head = SceneCoordinateHead(config.head_config(self.encoder.descriptor_dim))
        head = head.to(device).train()
        optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr_min,
                                      weight_decay=config.weight_decay)
        use_amp = device.type == "cuda" and config.mixed_precision
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        n = len(buffer)
        batch_size = min(config.batch_size, n)
        order = torch.randperm(n, generator=cpu_gen).to(device)
        cursor = 0
        bar = progress_bar(self.progress, desc="training", unit="it", total=config.iterations)
        start = time.perf_counter()
        self.loss_history = []
        loss_value = float("nan")
        iteration = 0
        while True:
            progress = training_progress(config, iteration, time.perf_counter() - start)
            if progress >= 1.0:
                break
            clamp_px = self.clamp_at(progress)
            for group in optimizer.param_groups:
                group["lr"] = self.lr_at(progress)
            if cursor + batch_size > n:
                order = torch.randperm(n, generator=cpu_gen).to(device)
                cursor = 0
            index = order[cursor:cursor + batch_size]
            cursor += batch_size
            batch = {"frame": buffer.frame[index], "pixels": buffer.pixels[index],
                     "depth": buffer.depth[index]}
            descriptors = buffer.descriptors[index]
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                scene = head.forward_cells(descriptors if use_amp else descriptors.float())
            loss, info = self.loss(scene.float(), batch, clamp_px)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if iteration % 25 == 0 or iteration == config.iterations - 1:
                loss_value = float(loss.detach())
                self.loss_history.append(loss_value)
                inliers = float(((info["error"] < config.inlier_threshold_px)
                                 & info["valid"]).float().mean())
                bar.set_postfix(loss=f"{loss_value:.3f}", inliers=f"{100 * inliers:.1f}%",
                                clamp=f"{clamp_px:.1f}px", refresh=False)
                if config.time_budget_s > 0 and progress > 0.01:
                    # Time-bound: the expected total follows the measured speed (honest ETA).
                    bar.total = min(config.iterations, max(iteration + 1,
                                                           int(iteration / progress)))
            bar.update(1)
            iteration += 1
        bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize()
        self.stats.train_time_s = time.perf_counter() - start
        self.stats.iterations = iteration
        self.stats.final_loss = loss_value
        head.eval()
        self.head = head
        self._final_statistics()
        if self.progress:
            LOG.info(self.stats.summary(config))
        return head

    @torch.inference_mode()
    def predict_buffer(self, limit: int = 500_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted (centred) scene coordinates and reprojection errors of buffer cells."""
        buffer = self.buffer
        n = min(len(buffer), limit)
        index = torch.arange(n, device=buffer.descriptors.device)
        scenes, errors, depths = [], [], []
        for chunk in index.split(65536):
            scene = self.head.forward_cells(buffer.descriptors[chunk].float())
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
        scene, error = self.predict_buffer()
        self.stats.reprojection_median_px = float(error.median())
        self.stats.inlier_share = float((error < self.config.inlier_threshold_px).float().mean())
        measured = self.buffer.depth[: len(error)]
        has = measured > 0
        if bool(has.any()):
            self.stats.depth_median_error_m = float(
                (self._pred_depth[has] - measured[has]).abs().median())

    # ----------------------------------------------------------------- outputs
    def scene_map(self, fixed_frame: str = "map", source: str = "") -> SceneMap:
        if self.head is None:
            raise ScrLocalizerError("the map has not been trained yet")
        head = SceneCoordinateHead(self.head.config)
        head.load_state_dict({k: v.detach().cpu() for k, v in self.head.state_dict().items()})
        head.scene_centre.copy_(torch.from_numpy(self.buffer.centre).float())
        training = self.config.to_dict()
        return SceneMap(
            head=head.eval(),
            encoder_name=self.encoder.name,
            encoder_hash=self.encoder.weights_hash,
            fixed_frame=fixed_frame,
            training_config=training,
            source=source,
            stats=asdict(self.stats),
        )

    def point_cloud(self, max_error_px: float = 10.0, max_points: int = 500_000
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(Nx3 float64 points in the fixed frame, Nx3 uint8 RGB) of well-fitted buffer cells."""
        scene, error = self.predict_buffer(limit=max_points)
        keep = (error < max_error_px).cpu().numpy()
        xyz = scene.cpu().double().numpy()[keep] + self.buffer.centre
        return xyz, self.buffer.colors[: len(keep)][keep]


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
