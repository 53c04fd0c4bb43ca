"""Image -> per-cell 2D-3D correspondences with a trained map: the one inference path, run by
the localizer (and so the node), the tests and the benchmarks.

The encoder and head run on the GPU with fp16 hidden layers when there is one; on the CPU the
head's hidden layers run in bfloat16 where the CPU computes it natively (model.precision), fp32
otherwise; the head keeps its last layer in fp32. The image is uploaded once; descriptors, cell
selection and scene coordinates stay on the device until the selected correspondences (a few
thousand 3-vectors) come back.
"""

from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.model.backends import encoder_runner
from scr_localizer.model.encoder import get_encoder
from scr_localizer.model.map_file import SceneMap, load_map
from scr_localizer.model.precision import autocast_dtype
from scr_localizer.model.preprocess import (
    DEFAULT_IMAGE_HEIGHT,
    cell_centres,
    encoder_size,
    prepare_image,
    resolve_device,
)


class StageTimer:
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


class SceneCoordinateRegressor:
    """Frozen encoder + the map's head on one device, with per-size buffers reused across
    frames."""

    def __init__(self, scene_map: SceneMap | str | os.PathLike, device: str | torch.device = "auto",
                 seed: int = 0, backend: str = "torch", precision: str = "auto"):
        if not isinstance(scene_map, SceneMap):
            scene_map = load_map(scene_map)
        self.device = resolve_device(device)
        self.scene_map = scene_map
        self.encoder = get_encoder(scene_map.encoder_name, self.device)
        if self.encoder.weights_hash != scene_map.encoder_hash:
            raise ScrLocalizerError(
                f"map was made with different '{scene_map.encoder_name}' encoder weights (hash "
                f"{scene_map.encoder_hash[:12]}, installed {self.encoder.weights_hash[:12]}); "
                f"re-create the map with the installed encoder"
            )
        # Every head of the map (submaps: one per part of the scene); `head` is the first.
        self.heads = [copy.deepcopy(head).to(self.device).eval() for head in scene_map.heads]
        self.head = self.heads[0]
        self.image_height = int(
            scene_map.training_config.get("image_height", DEFAULT_IMAGE_HEIGHT)
        )
        self.stride = int(self.encoder.stride)
        # Hidden layers of the head: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32.
        self.head_dtype = autocast_dtype(self.device, precision)
        self.use_fp16 = self.head_dtype == torch.float16
        # The one encoder call of inference: PyTorch (channels-last on the CPU, with bfloat16
        # coarse blocks where the head runs in bfloat16), or the same graph in ONNX Runtime.
        self._encode, self.backend = encoder_runner(self.encoder, self.device, backend,
                                                    self.head_dtype)
        self.seed = seed
        self._layouts: dict = {}

    def _layout(self, width: int, height: int, max_cells: int):
        """Per image size: encoder input size, cell selection (on device) and cell pixels."""
        key = (width, height, max_cells)
        if key not in self._layouts:
            enc_w, enc_h = encoder_size(width, height, self.image_height, self.stride)
            rows, cols = enc_h // self.stride, enc_w // self.stride
            count = rows * cols
            if 0 < max_cells < count:
                # A fixed spatially stratified subset: one random cell per block of cells, so
                # coverage stays even and results are repeatable frame to frame.
                rng = np.random.default_rng(self.seed)
                step = count / max_cells
                selected = np.floor((np.arange(max_cells) + rng.random(max_cells)) * step)
                selected = np.unique(np.clip(selected.astype(np.int64), 0, count - 1))
            else:
                selected = np.arange(count)
            centres = cell_centres(rows, cols, self.stride)[selected]
            scale = np.array([enc_w / width, enc_h / height])
            pixels = ((centres + 0.5) / scale - 0.5).astype(np.float32)
            layout = {
                "encoder_size": (enc_w, enc_h),
                "selected": torch.from_numpy(selected).to(self.device),
                "all": len(selected) == count,
                "pixels": pixels,
                "resize": (enc_w, enc_h) != (width, height),
            }
            if self.device.type == "cuda" and not layout["resize"]:
                layout["host"] = torch.empty((height, width, 3), dtype=torch.uint8).pin_memory()
                layout["upload"] = torch.empty(
                    (height, width, 3), dtype=torch.uint8, device=self.device
                )
            self._layouts[key] = layout
        return self._layouts[key]

    def _upload(self, color: np.ndarray, layout) -> torch.Tensor:
        """1x1xHxW float gray in [0, 1] on the device (identical to mapping's prepare_image)."""
        if "upload" in layout and color.dtype == np.uint8 and color.ndim == 3:
            layout["host"].numpy()[...] = color[..., :3]
            layout["upload"].copy_(layout["host"], non_blocking=True)
            gray = layout["upload"].float().mean(dim=2) / 255.0
            return gray[None, None]
        prepared = prepare_image(color, self.image_height, self.stride)
        return torch.from_numpy(prepared.gray)[None, None].to(self.device, non_blocking=True)

    @torch.inference_mode()
    def regress(self, color: np.ndarray, max_cells: int = 0, timer: StageTimer | None = None):
        """(pixels Mx2 float32 in input pixel coordinates, scene_xyz Mx3 float32 in the map's
        fixed frame) for `max_cells` stratified cells (0: every cell, row-major)."""
        pixels, scene_xyz = self.regress_heads(color, max_cells, timer, heads=[0])
        return pixels, scene_xyz[0]

    @torch.inference_mode()
    def regress_heads(self, color: np.ndarray, max_cells: int = 0,
                      timer: StageTimer | None = None, heads: list[int] | None = None):
        """(pixels, [scene_xyz of each head asked for]): the encoder runs once, then every
        head (submaps) on the same cells. `heads` None: all of them."""
        timer = timer or StageTimer(self.device)
        pixels, cells = self.encode_cells(color, max_cells, timer)
        scene_xyz = self.forward_heads(cells, range(len(self.heads)) if heads is None else heads)
        timer.lap("head")
        return pixels, scene_xyz

    @torch.inference_mode()
    def encode_cells(self, color: np.ndarray, max_cells: int = 0,
                     timer: StageTimer | None = None) -> tuple[np.ndarray, torch.Tensor]:
        """(pixels Mx2 in input pixel coordinates, their descriptors MxD on the device): the
        encoder's half, shared by every head."""
        timer = timer or StageTimer(self.device)
        height, width = color.shape[:2]
        layout = self._layout(width, height, max_cells)
        gray = self._upload(color, layout)
        timer.lap("preprocess")
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_fp16):
            descriptors = self._encode(gray)
        timer.lap("encoder")
        cells = descriptors[0].flatten(1).T
        if not layout["all"]:
            cells = cells.index_select(0, layout["selected"])
        return layout["pixels"], cells

    @torch.inference_mode()
    def forward_heads(self, cells: torch.Tensor, heads, rows: np.ndarray | None = None
                      ) -> list[np.ndarray]:
        """Scene coordinates (Mx3 float32, map frame) of the given heads for the encoded cells
        (or only the cells at `rows`)."""
        if rows is not None:
            cells = cells.index_select(0, torch.as_tensor(rows, device=cells.device))
        with torch.autocast(self.device.type, dtype=self.head_dtype,
                            enabled=self.head_dtype is not None):
            scene_xyz = [self.heads[index].forward_cells(cells) for index in heads]
        return [xyz.cpu().numpy() for xyz in scene_xyz]

    def predict(
        self, color_rgb_uint8: np.ndarray, camera: PinholeCamera | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every cell's correspondence (what `regress` gives with max_cells 0), after checking
        the image and, when given, that the camera describes it."""
        image = np.asarray(color_rgb_uint8)
        if image.ndim not in (2, 3) or image.shape[0] < 8 or image.shape[1] < 8:
            raise ScrLocalizerError(
                f"image of shape {image.shape} cannot be localized; expected HxWx3 RGB uint8"
            )
        if camera is not None and (camera.width, camera.height) != (image.shape[1], image.shape[0]):
            raise ScrLocalizerError(
                f"image is {image.shape[1]}x{image.shape[0]} but its camera info says "
                f"{camera.width}x{camera.height}; expected matching sizes"
            )
        return self.regress(image, max_cells=0)
