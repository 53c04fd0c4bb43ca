"""Relocalization: one colour image (plus optional depth) and a map to a camera pose.

The encoder and head run on the GPU in fp16 when there is one (CPU fp32 otherwise). The image is
uploaded once; descriptors, cell selection and scene coordinates stay on the device until the
selected correspondences (a few thousand 3-vectors) come back for the pose solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.localization.pose_solvers import (
    PnPConfig,
    PoseEstimate,
    RGBDConfig,
    estimate_pose_rgb,
    estimate_pose_rgbd,
)
from scr_localizer.model.preprocess import cell_centres, encoder_size, prepare_image

DEPTH_SOLVERS = ("joint", "kabsch", "pnp+depth", "pnp")


@dataclass
class LocalizerConfig:
    """What the relocalizer does per frame and when it calls a pose trustworthy."""

    max_correspondences: int = 2400  # cells sent through the head and the solver (0 = all)
    depth_solver: str = "pnp+depth"  # with depth: one of DEPTH_SOLVERS ("pnp" ignores depth)
    pnp: PnPConfig = field(default_factory=PnPConfig)
    rgbd: RGBDConfig = field(default_factory=RGBDConfig)
    # Success thresholds: every one must hold.
    # Images of other scenes (shuffled pixels, noise) get <= ~40 of 2400 by chance.
    min_inliers: int = 80
    min_inlier_ratio: float = 0.03
    max_position_std_m: float = 0.15
    max_rotation_std_deg: float = 5.0
    # Residual-based covariances assume independent cells, but a map's errors are shared by
    # neighbouring cells, so the raw covariance is far too small. It is multiplied by these
    # factors (per solver: RGB-only and with depth), fitted on redkitchen so that ~95 % of
    # per-axis position errors fall inside 2 sigma (benchmarks/bench_localization.py).
    covariance_scale_rgb: float = 50.0
    covariance_scale_rgbd: float = 40.0
    # Optionally also x inliers / effective_independent_cells (when > 1; 0 disables).
    effective_independent_cells: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.depth_solver not in DEPTH_SOLVERS:
            raise ScrLocalizerError(
                f"unknown depth_solver '{self.depth_solver}'; expected one of "
                f"{', '.join(DEPTH_SOLVERS)}"
            )


@dataclass
class LocalizationResult:
    success: bool
    world_from_camera: np.ndarray  # 4x4, colour optical frame in the map frame
    covariance: np.ndarray  # 6x6 (x, y, z, roll, pitch, yaw), metres / radians, map frame
    inlier_count: int
    inlier_ratio: float
    timings_ms: dict[str, float]
    solver: str = ""
    failure_reason: str = ""  # empty on success

    @property
    def position_std_m(self) -> float:
        return float(np.sqrt(max(np.max(np.diag(self.covariance)[:3]), 0.0)))

    @property
    def rotation_std_deg(self) -> float:
        return float(np.degrees(np.sqrt(max(np.max(np.diag(self.covariance)[3:]), 0.0))))


class _Timer:
    """Stage timings; on CUDA the stream is synchronised so each stage gets its own time."""

    def __init__(self, device: torch.device):
        self.sync = device.type == "cuda"
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.times[stage] = self.times.get(stage, 0.0) + (now - self._last) * 1e3
        self._last = now


class Localizer:
    """Holds the regressor on its device and per-size buffers reused across frames."""

    def __init__(self, scene_map, config: LocalizerConfig | None = None, device="auto"):
        from scr_localizer.model.regressor import SceneCoordinateRegressor

        self.config = config or LocalizerConfig()
        self.scene_map = scene_map
        self.regressor = SceneCoordinateRegressor(scene_map, device=device)
        self.device = self.regressor.device
        self.encoder = self.regressor.encoder
        self.head = self.regressor.head
        self.stride = int(self.encoder.stride)
        self.use_fp16 = self.device.type == "cuda"
        self._buffers: dict = {}

    # -- regression ---------------------------------------------------------------------------
    def _layout(self, width: int, height: int):
        """Per image size: encoder input size, cell selection (on device) and cell pixels."""
        key = (width, height)
        if key not in self._buffers:
            enc_w, enc_h = encoder_size(width, height, self.regressor.image_height, self.stride)
            rows, cols = enc_h // self.stride, enc_w // self.stride
            count = rows * cols
            wanted = self.config.max_correspondences
            if 0 < wanted < count:
                # A fixed spatially stratified subset: one random cell per block of cells, so
                # coverage stays even and results are repeatable frame to frame.
                rng = np.random.default_rng(self.config.seed)
                step = count / wanted
                selected = np.floor((np.arange(wanted) + rng.random(wanted)) * step)
                selected = np.unique(np.clip(selected.astype(np.int64), 0, count - 1))
            else:
                selected = np.arange(count)
            centres = cell_centres(rows, cols, self.stride)[selected]
            scale = np.array([enc_w / width, enc_h / height])
            pixels = ((centres + 0.5) / scale - 0.5).astype(np.float32)
            layout = {
                "encoder_size": (enc_w, enc_h),
                "selected": torch.from_numpy(selected).to(self.device),
                "pixels": pixels,
                "resize": (enc_w, enc_h) != (width, height),
            }
            if self.device.type == "cuda" and not layout["resize"]:
                layout["host"] = torch.empty((height, width, 3), dtype=torch.uint8).pin_memory()
                layout["upload"] = torch.empty(
                    (height, width, 3), dtype=torch.uint8, device=self.device
                )
            self._buffers[key] = layout
        return self._buffers[key]

    def _upload(self, color: np.ndarray, layout) -> torch.Tensor:
        """1x1xHxW float gray in [0, 1] on the device (identical to mapping's prepare_image)."""
        if "upload" in layout and color.dtype == np.uint8 and color.ndim == 3:
            layout["host"].numpy()[...] = color[..., :3]
            layout["upload"].copy_(layout["host"], non_blocking=True)
            gray = layout["upload"].float().mean(dim=2) / 255.0
            return gray[None, None]
        prepared = prepare_image(color, self.regressor.image_height, self.stride)
        return torch.from_numpy(prepared.gray)[None, None].to(self.device, non_blocking=True)

    @torch.inference_mode()
    def regress(self, color: np.ndarray, timer: _Timer | None = None):
        """(pixels Mx2 float32 in input pixel coordinates, scene_xyz Mx3 float32) for the
        selected cells."""
        timer = timer or _Timer(self.device)
        height, width = color.shape[:2]
        layout = self._layout(width, height)
        gray = self._upload(color, layout)
        timer.lap("preprocess")
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_fp16):
            descriptors = self.encoder(gray)
            timer.lap("encoder")
            cells = descriptors[0].flatten(1).T.index_select(0, layout["selected"])
            hidden = cells
            for layer in self.head.layers:
                hidden = F.relu(F.linear(hidden, layer.weight.flatten(1), layer.bias))
            output = F.linear(hidden, self.head.output.weight.flatten(1), self.head.output.bias)
        # Division by w and the scene offset in fp32: fp16 would quantise metres to millimetres.
        scene_xyz = self.head._homogeneous(output.float(), channel_dim=1)
        scene_xyz = scene_xyz.cpu().numpy()
        timer.lap("head")
        return layout["pixels"], scene_xyz

    # -- pose ---------------------------------------------------------------------------------
    def _check_inputs(self, color, camera, depth):
        color = np.asarray(color)
        if color.ndim != 3 or color.shape[2] < 3 or color.shape[0] < 8 or color.shape[1] < 8:
            raise ScrLocalizerError(
                f"colour image of shape {color.shape} cannot be localized; expected HxWx3 RGB"
            )
        if (camera.width, camera.height) != (color.shape[1], color.shape[0]):
            raise ScrLocalizerError(
                f"image is {color.shape[1]}x{color.shape[0]} but its camera says "
                f"{camera.width}x{camera.height}; expected matching sizes"
            )
        if depth is not None and np.asarray(depth).shape[:2] != color.shape[:2]:
            raise ScrLocalizerError(
                f"depth image is {np.asarray(depth).shape[1]}x{np.asarray(depth).shape[0]} but "
                f"the colour image is {color.shape[1]}x{color.shape[0]}; expected depth "
                "registered to colour"
            )
        return color

    def localize(
        self, color: np.ndarray, camera: PinholeCamera, depth: np.ndarray | None = None
    ) -> LocalizationResult:
        """Pose of the colour camera in the map. `depth` (float32 metres registered to the
        colour image, 0 = invalid) switches to the configured RGB-D solver."""
        start = time.perf_counter()
        color = self._check_inputs(color, camera, depth)
        timer = _Timer(self.device)
        pixels, scene_xyz = self.regress(color, timer)
        result = self.solve(pixels, scene_xyz, camera, depth)
        result.timings_ms = {**timer.times, **result.timings_ms}
        result.timings_ms["total"] = (time.perf_counter() - start) * 1e3
        return result

    def solve(
        self, pixels: np.ndarray, scene_xyz: np.ndarray, camera: PinholeCamera,
        depth: np.ndarray | None = None,
    ) -> LocalizationResult:
        """The pose part of `localize` for given correspondences (e.g. to compare solvers on
        one regression)."""
        finite = np.isfinite(scene_xyz).all(axis=1)
        if not finite.all():
            pixels, scene_xyz = pixels[finite], scene_xyz[finite]
        estimate = self._solve(pixels, scene_xyz, camera, depth)
        result = LocalizationResult(
            success=False,
            world_from_camera=estimate.world_from_camera,
            covariance=estimate.covariance * self._covariance_factor(estimate),
            inlier_count=estimate.inlier_count,
            inlier_ratio=estimate.inlier_ratio,
            timings_ms=dict(estimate.timings_ms),
            solver=estimate.solver,
        )
        result.failure_reason = self._failure_reason(result)
        result.success = not result.failure_reason
        return result

    def _solve(self, pixels, scene_xyz, camera, depth) -> PoseEstimate:
        config = self.config
        if depth is None or config.depth_solver == "pnp":
            return estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp)
        measured = _sample_depth(np.asarray(depth, dtype=np.float32), pixels)
        if np.count_nonzero(measured > 0) < config.rgbd.min_valid_depth_points:
            return estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp)
        if config.depth_solver == "pnp+depth":
            estimate = estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp, measured)
            estimate.solver = "pnp+depth"
            return estimate
        camera_xyz = camera.backproject(pixels.astype(np.float64), measured.astype(np.float64))
        camera_xyz[measured <= 0] = 0.0
        rgbd = config.rgbd
        if config.depth_solver != rgbd.refinement:
            rgbd = RGBDConfig(**{**rgbd.__dict__, "refinement": config.depth_solver})
        return estimate_pose_rgbd(pixels, scene_xyz, camera_xyz, camera, rgbd)

    def _covariance_factor(self, estimate: PoseEstimate) -> float:
        config = self.config
        factor = config.covariance_scale_rgb if estimate.solver == "pnp" else (
            config.covariance_scale_rgbd)
        if config.effective_independent_cells > 0:
            factor *= max(1.0, estimate.inlier_count / config.effective_independent_cells)
        return factor

    def _failure_reason(self, result: LocalizationResult) -> str:
        config = self.config
        if result.inlier_count < config.min_inliers:
            return f"{result.inlier_count} inliers < {config.min_inliers}"
        if result.inlier_ratio < config.min_inlier_ratio:
            return f"inlier ratio {result.inlier_ratio:.2f} < {config.min_inlier_ratio}"
        if not np.all(np.isfinite(result.covariance)):
            return "covariance not finite"
        if result.position_std_m > config.max_position_std_m:
            return f"position std {result.position_std_m:.3f} m > {config.max_position_std_m}"
        if result.rotation_std_deg > config.max_rotation_std_deg:
            return f"rotation std {result.rotation_std_deg:.2f} deg > {config.max_rotation_std_deg}"
        return ""


def _sample_depth(depth: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Depth at each cell centre (nearest pixel); 0 where invalid."""
    height, width = depth.shape[:2]
    cols = np.clip(np.rint(pixels[:, 0]).astype(np.int64), 0, width - 1)
    rows = np.clip(np.rint(pixels[:, 1]).astype(np.int64), 0, height - 1)
    values = depth[rows, cols].astype(np.float64)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    return values
