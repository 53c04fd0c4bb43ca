"""Mapping: train a scene coordinate regression head from posed RGB-D frames.

The ACE recipe, written from its description: the frozen encoder runs once per (augmented)
mapping frame, filling a buffer of cells (descriptor, pixel, frame pose and intrinsics, measured
depth); the head is then trained on shuffled batches from that buffer with AdamW and a one-cycle
learning rate. The loss is a tanh-clamped reprojection error whose clamp shrinks over training,
plus a depth prior from *Scene Coordinate Reconstruction Priors* (ICCV 2025): with RGB-D, a
Laplace NLL of the predicted camera-frame depth around the measured depth (b = 0.1 m); without
depth, a Laplace NLL around the typical indoor depth (mu = 1.73 m, b = 0.6 m).

Training happens in coordinates centred on the mean mapping-camera position so float32 stays
precise for any fixed frame; the centre becomes the head's offset when the map is built.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.model.encoder import Encoder, get_encoder
from scr_localizer.model.head import HeadConfig, SceneCoordinateHead
from scr_localizer.model.map_file import SceneMap
from scr_localizer.model.preprocess import (
    DEFAULT_IMAGE_HEIGHT,
    cell_centres,
    encoder_size,
    resolve_device,
    to_gray,
)
from scr_localizer.validation import check_number

PRIORS = ("rgbd", "depth-distribution", "depth-distribution-wd", "none")
# The rule for a prior without data: mapping with the rgbd prior stops before training when
# fewer than this share of the sampled cells have a valid measured depth (all-zero or all-NaN
# depth streams give 0 %; 4 redkitchen Kinect frames gave 76 %). Training on would leave the
# prior silently off: RGB-only mapping under the wrong name.
MIN_RGBD_DEPTH_SHARE = 0.01


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
    time_budget_s: float = 0.0  # > 0: training ends by then, schedules follow elapsed time
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
    mixed_precision: bool = True  # CUDA only; the CPU path always runs in float32
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

    def to_dict(self) -> dict:
        return asdict(self)

    def head_config(self, input_dim: int) -> HeadConfig:
        return HeadConfig(
            input_dim=input_dim, width=self.head_width, hidden_layers=self.head_hidden_layers
        )


_PRESETS = {
    # 500 frames in <10 min on 2 cores: a 256-wide head (3.6x cheaper per step than 512) with
    # small batches gets ~10x more steps, which beat the wide head at equal time on redkitchen;
    # training stops after 400 s (schedules follow time then) or 16000 iterations. Augmentation
    # pays once there are enough steps (redkitchen, 16000 vs 8000 steps without it, RGB-D
    # queries within 10 cm/5°: revisit split 79 vs 56 %, interleaved 98 vs 97 %); with half the
    # steps (a busy machine) it cost accuracy on the interleaved split (77 vs 86 % at 5 cm/5°).
    "cpu": dict(iterations=16000, batch_size=2048, cells_per_frame=1024,
                augmentations_per_frame=1, head_width=256, time_budget_s=400.0, augment=True),
    # Close to ACE's scale: 25k iterations, batch 5120, ~8M cell buffer.
    "gpu": dict(
        iterations=25000, batch_size=5120, cells_per_frame=1024, augmentations_per_frame=8,
        max_buffer_cells=8_000_000,
    ),
    # Tens of seconds on a CPU: the test fixture's small real map (a few dozen frames).
    "small": dict(iterations=400, batch_size=2048, cells_per_frame=1024, head_width=256,
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


@dataclass
class CellBuffer:
    """Training cells. Per-cell arrays are indexed by cell, per-frame ones by `frame`."""

    descriptors: torch.Tensor  # N x D float16
    pixels: torch.Tensor  # N x 2 float32, undistorted, in the frame's base (encoder) pixels
    depth: torch.Tensor  # N float32 metres, 0 = none
    frame: torch.Tensor  # N int64
    colors: np.ndarray  # N x 3 uint8 (for the point cloud)
    camera_from_centred: torch.Tensor  # F x 3 x 4 float32
    intrinsics: torch.Tensor  # F x 4 (fx, fy, cx, cy) float32, base pixels
    centre: np.ndarray  # 3 float64: mean camera position in the fixed frame

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def to(self, device: torch.device) -> CellBuffer:
        move = dict(
            descriptors=self.descriptors, pixels=self.pixels, depth=self.depth, frame=self.frame,
            camera_from_centred=self.camera_from_centred, intrinsics=self.intrinsics,
        )
        return replace(self, **{k: v.to(device) for k, v in move.items()})


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


def _augment_transform(
    width: int, height: int, config: MappingConfig, rng: np.random.Generator, augment: bool
) -> tuple:
    """2x3 affine from input pixels to encoder pixels (a resize then a rotation about the
    output centre), the rotation alone, its angle, the output size, and photometric params."""
    scale = 1.0
    angle = 0.0
    gain, offset = 1.0, 0.0
    if augment:
        scale = math.exp(rng.uniform(math.log(config.aug_scale_min), math.log(config.aug_scale_max)))
        angle = rng.uniform(-config.aug_rotation_deg, config.aug_rotation_deg)
        gain = 1.0 + rng.uniform(-config.aug_contrast, config.aug_contrast)
        offset = rng.uniform(-config.aug_brightness, config.aug_brightness)
    stride = 8
    out_w, out_h = encoder_size(width, height, int(round(config.image_height * scale)), stride)
    sx, sy = out_w / width, out_h / height
    # Scale with pixel centres kept consistent, then rotate about the output centre.
    scale_m = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    centre = ((out_w - 1) / 2.0, (out_h - 1) / 2.0)
    rot = np.vstack([cv2.getRotationMatrix2D(centre, angle, 1.0), [0, 0, 1]])
    return (rot @ scale_m)[:2], rot[:2], angle, out_w, out_h, gain, offset


class MapTrainer:
    """Builds the buffer from frames, trains the head, and can export the mapped points."""

    def __init__(self, config: MappingConfig = MappingConfig(), progress: bool = False):
        self.config = config
        self.progress = progress
        self.device = resolve_device(config.device)
        self.encoder: Encoder = get_encoder(config.encoder, self.device)
        self.stats = MappingStats(device=str(self.device))
        self.buffer: CellBuffer | None = None
        self.head: SceneCoordinateHead | None = None
        self.loss_history: list[float] = []

    # ----------------------------------------------------------------- buffer
    def _frame_usable(self, frame: RGBDFrame) -> str | None:
        if frame.world_from_camera is None:
            return "no pose"
        pose = np.asarray(frame.world_from_camera, dtype=np.float64)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            return "invalid pose"
        if frame.color is None or frame.color.ndim != 3:
            return "no colour image"
        return None

    def build_buffer(self, frames: Iterable[RGBDFrame]) -> CellBuffer:
        config = self.config
        rng = np.random.default_rng(config.seed)
        frames_list = list(frames) if config.max_frames else frames
        if config.max_frames and len(frames_list) > config.max_frames:
            keep = np.linspace(0, len(frames_list) - 1, config.max_frames).round().astype(int)
            frames_list = [frames_list[i] for i in keep]
        descriptors, pixels, depths, frame_ids, colors = [], [], [], [], []
        poses, intrinsics = [], []
        skipped: dict[str, int] = {}
        total = 0
        start = time.perf_counter()
        bar = _progress_bar(self.progress, desc="encoding", unit="frame",
                            total=len(frames_list) if hasattr(frames_list, "__len__") else None)
        passes = config.augmentations_per_frame
        budget = config.max_buffer_cells
        for frame in frames_list:
            total += 1
            bar.update(1)
            reason = self._frame_usable(frame)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            frame_index = len(poses)
            height, width = frame.color.shape[:2]
            camera = frame.camera
            base_w, base_h = encoder_size(width, height, config.image_height, 8)
            bsx, bsy = base_w / width, base_h / height
            intrinsics.append([camera.fx * bsx, camera.fy * bsy,
                               (camera.cx + 0.5) * bsx - 0.5, (camera.cy + 0.5) * bsy - 0.5])
            poses.append(np.asarray(frame.world_from_camera, dtype=np.float64))
            gray = to_gray(frame.color)
            depth = frame.depth
            if depth is not None and depth.shape != (height, width):
                raise ScrLocalizerError(
                    f"frame '{frame.name}' has depth {depth.shape[1]}x{depth.shape[0]} but colour "
                    f"{width}x{height}; expected depth registered to the colour image"
                )
            for aug_pass in range(passes):
                augment = config.augment and not (passes > 1 and aug_pass == 0)
                affine, rotation, angle, out_w, out_h, gain, offset = _augment_transform(
                    width, height, config, rng, augment)
                warped = cv2.resize(gray, (out_w, out_h), interpolation=cv2.INTER_AREA
                                    if out_h < height else cv2.INTER_LINEAR)
                if angle != 0.0:
                    warped = cv2.warpAffine(warped, rotation, (out_w, out_h),
                                            flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                if gain != 1.0 or offset != 0.0:
                    warped = np.clip((warped - 0.5) * gain + 0.5 + offset, 0.0, 1.0)
                with torch.inference_mode():
                    feats = self.encoder(torch.from_numpy(np.ascontiguousarray(
                        warped, dtype=np.float32))[None, None].to(self.device))[0]
                rows, cols = feats.shape[-2:]
                centres = cell_centres(rows, cols, self.encoder.stride)
                inverse = cv2.invertAffineTransform(affine)
                original = centres @ inverse[:, :2].T + inverse[:, 2]
                inside = np.flatnonzero(
                    (original[:, 0] >= 0) & (original[:, 0] <= width - 1)
                    & (original[:, 1] >= 0) & (original[:, 1] <= height - 1))
                if config.cells_with_depth_only and depth is not None:
                    px = np.rint(original[inside]).astype(int)
                    inside = inside[depth[px[:, 1], px[:, 0]] > 0]
                if inside.size == 0:
                    continue
                take = min(config.cells_per_frame, inside.size,
                           max(0, budget - sum(len(d) for d in depths)))
                if take <= 0:
                    break
                chosen = np.sort(rng.choice(inside, size=take, replace=False))
                orig = original[chosen]
                ix = np.clip(np.rint(orig[:, 0]).astype(int), 0, width - 1)
                iy = np.clip(np.rint(orig[:, 1]).astype(int), 0, height - 1)
                cell_depth = (depth[iy, ix] if depth is not None
                              else np.zeros(take, np.float32)).astype(np.float32)
                cell_depth[~np.isfinite(cell_depth)] = 0.0
                undistorted = camera.undistort_points(orig)
                base = (undistorted + 0.5) * np.array([bsx, bsy]) - 0.5
                flat = feats.reshape(feats.shape[0], -1)[:, torch.from_numpy(chosen).to(
                    feats.device)].T
                descriptors.append(flat.to("cpu", torch.float16))
                pixels.append(base.astype(np.float32))
                depths.append(cell_depth)
                frame_ids.append(np.full(take, frame_index, np.int64))
                colors.append(frame.color[iy, ix, :3].astype(np.uint8))
        bar.close()
        self.stats.encode_time_s = time.perf_counter() - start
        self.stats.frames_total = total
        self.stats.frames_used = len(poses)
        self.stats.frames_skipped = skipped
        if not poses or not descriptors:
            raise ScrLocalizerError(
                f"no usable mapping frames among {total} (skipped: {skipped or 'none'}); "
                f"expected colour images with poses in the fixed frame"
            )
        world_from_camera = np.stack(poses)
        centre = world_from_camera[:, :3, 3].mean(axis=0)
        centred = world_from_camera.copy()
        centred[:, :3, 3] -= centre
        camera_from_centred = np.linalg.inv(centred)[:, :3, :]
        buffer = CellBuffer(
            descriptors=torch.cat(descriptors),
            pixels=torch.from_numpy(np.concatenate(pixels)),
            depth=torch.from_numpy(np.concatenate(depths)),
            frame=torch.from_numpy(np.concatenate(frame_ids)),
            colors=np.concatenate(colors),
            camera_from_centred=torch.from_numpy(camera_from_centred.astype(np.float32)),
            intrinsics=torch.tensor(intrinsics, dtype=torch.float32),
            centre=centre,
        )
        self.stats.buffer_cells = len(buffer)
        self.stats.cells_with_depth = float((buffer.depth > 0).float().mean())
        self.buffer = buffer
        return buffer

    # ----------------------------------------------------------------- loss
    def _camera_points(self, scene: torch.Tensor, frame: torch.Tensor, buffer: CellBuffer):
        pose = buffer.camera_from_centred[frame]
        return torch.einsum("nij,nj->ni", pose[:, :, :3], scene) + pose[:, :, 3]

    def _reprojection(self, points: torch.Tensor, frame: torch.Tensor, pixels: torch.Tensor,
                      buffer: CellBuffer) -> tuple[torch.Tensor, torch.Tensor]:
        k = buffer.intrinsics[frame]
        z = points[:, 2]
        safe_z = torch.where(z > self.config.min_depth_m, z, torch.ones_like(z))
        projected = points[:, :2] / safe_z[:, None] * k[:, :2] + k[:, 2:]
        error = torch.linalg.vector_norm(projected - pixels, dim=1)
        return error, z

    def loss(self, scene: torch.Tensor, batch: dict, clamp_px: float) -> tuple[torch.Tensor, dict]:
        config = self.config
        buffer = self.buffer
        frame = batch["frame"]
        points = self._camera_points(scene, frame, buffer)
        error, z = self._reprojection(points, frame, batch["pixels"], buffer)
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

    def clamp_at(self, progress: float) -> float:
        """Quarter-circle schedule over training progress in [0, 1]: the clamp stays wide early
        and tightens late."""
        config = self.config
        progress = min(1.0, max(0.0, progress))
        return config.clamp_end_px + (config.clamp_start_px - config.clamp_end_px) * math.sqrt(
            max(0.0, 1.0 - progress**2))

    def lr_at(self, progress: float) -> float:
        """One cycle: cosine warm-up lr_min → lr_max, then cosine decay to lr_min * end factor."""
        config = self.config
        warmup = config.lr_warmup_share
        if progress < warmup:
            t = progress / warmup
            return config.lr_min + (config.lr_max - config.lr_min) * (1 - math.cos(math.pi * t)) / 2
        t = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
        end = config.lr_min * config.lr_end_factor
        return end + (config.lr_max - end) * (1 + math.cos(math.pi * t)) / 2

    def _progress(self, iteration: int, elapsed_s: float) -> float:
        """Share of training done: by iterations, or by time when a time budget binds."""
        config = self.config
        progress = iteration / config.iterations
        if config.time_budget_s > 0:
            progress = max(progress, elapsed_s / config.time_budget_s)
        return min(1.0, progress)

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
        bar = _progress_bar(self.progress, desc="training", unit="it", total=config.iterations)
        start = time.perf_counter()
        self.loss_history = []
        loss_value = float("nan")
        iteration = 0
        while True:
            progress = self._progress(iteration, time.perf_counter() - start)
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
            from tqdm import tqdm

            tqdm.write(self.stats.summary(config))
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
            points = self._camera_points(scene, buffer.frame[chunk], buffer)
            error, z = self._reprojection(points, buffer.frame[chunk], buffer.pixels[chunk], buffer)
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


def _progress_bar(enabled: bool, **kwargs):
    """A live bar on a terminal; in a log file (not a TTY) a line every 30 s, not every step."""
    import sys

    from tqdm import tqdm

    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(disable=not enabled, dynamic_ncols=True, leave=True, mininterval=interval,
                **kwargs)


def train_map(
    frames: Iterable[RGBDFrame],
    config: MappingConfig = MappingConfig(),
    *,
    fixed_frame: str = "map",
    source: str = "",
    progress: bool = False,
) -> SceneMap:
    """Posed RGB-D (or RGB) frames → a trained SceneMap. Notebook-friendly entry point."""
    trainer = MapTrainer(config, progress=progress)
    trainer.train(frames)
    return trainer.scene_map(fixed_frame=fixed_frame, source=source)
