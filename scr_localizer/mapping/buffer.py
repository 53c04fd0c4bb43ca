"""The training buffer: every mapping frame (with scale, rotation and photometric augmentation)
through the frozen encoder once, a sample of its cells kept with their pixel, measured depth,
frame pose and intrinsics."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.mapping.config import MappingConfig
from scr_localizer.mapping.progress import progress_bar
from scr_localizer.model.backends import encoder_runner
from scr_localizer.model.preprocess import cell_centres, encoder_size, to_gray


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
class EncodingStats:
    frames_total: int = 0
    frames_used: int = 0
    frames_skipped: dict = field(default_factory=dict)
    encode_time_s: float = 0.0


def augment_transform(
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


def unusable_reason(frame: RGBDFrame) -> str | None:
    """Why a frame cannot be a mapping frame, None when it can."""
    if frame.world_from_camera is None:
        return "no pose"
    pose = np.asarray(frame.world_from_camera, dtype=np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        return "invalid pose"
    if frame.color is None or frame.color.ndim != 3:
        return "no colour image"
    return None


def encode_frames(frames: Iterable[RGBDFrame], config: MappingConfig, encoder, device,
                  progress: bool = False) -> tuple[CellBuffer, EncodingStats]:
    """Run the frozen encoder once per (augmented) frame and keep up to cells_per_frame cells
    of each: the buffer the head trains on."""
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
    bar = progress_bar(progress, desc="encoding", unit="frame",
                        total=len(frames_list) if hasattr(frames_list, "__len__") else None)
    # Without augmentation every pass would encode the same image again: one pass then.
    passes = config.augmentations_per_frame if config.augment else 1
    budget = config.max_buffer_cells
    # Float32 descriptors, run as localization runs its encoder on this device (ONNX Runtime
    # or channels-last on a CPU: 2026-12-07, an AMD EPYC without bfloat16, 500 redkitchen
    # frames encoded four times each in 182 s before, with the eager module).
    run_encoder, _ = encoder_runner(encoder, torch.device(device))
    for frame in frames_list:
        total += 1
        bar.update(1)
        reason = unusable_reason(frame)
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
            affine, rotation, angle, out_w, out_h, gain, offset = augment_transform(
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
                feats = run_encoder(torch.from_numpy(np.ascontiguousarray(
                    warped, dtype=np.float32))[None, None].to(device))[0]
            rows, cols = feats.shape[-2:]
            centres = cell_centres(rows, cols, encoder.stride)
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
    stats = EncodingStats(frames_total=total, frames_used=len(poses), frames_skipped=skipped,
                          encode_time_s=time.perf_counter() - start)
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
    return buffer, stats
