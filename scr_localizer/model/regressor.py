"""Image → per-cell 2D–3D correspondences with a trained map (the input to pose solvers)."""

from __future__ import annotations

import copy
import os

import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.model.encoder import get_encoder
from scr_localizer.model.map_file import SceneMap, load_map
from scr_localizer.model.preprocess import (
    DEFAULT_IMAGE_HEIGHT,
    cell_centres,
    prepare_image,
    resolve_device,
)


class SceneCoordinateRegressor:
    """Frozen encoder + the map's head on one device."""

    def __init__(self, scene_map: SceneMap | str | os.PathLike, device: str | torch.device = "auto"):
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
        self.head = copy.deepcopy(scene_map.head).to(self.device).eval()
        self.image_height = int(
            scene_map.training_config.get("image_height", DEFAULT_IMAGE_HEIGHT)
        )

    @torch.inference_mode()
    def predict(
        self, color_rgb_uint8: np.ndarray, camera: PinholeCamera | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pixels Nx2 float32 in the input image's pixel coordinates, scene_xyz Nx3 float32 in
        the map's fixed frame), one row per encoder cell, row-major."""
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
        prepared = prepare_image(image, self.image_height, self.encoder.stride)
        gray = torch.from_numpy(prepared.gray)[None, None].to(self.device)
        descriptors = self.encoder(gray)
        coords = self.head(descriptors)[0]  # 3 x rows x cols
        rows, cols = coords.shape[-2:]
        scene_xyz = coords.reshape(3, -1).T.float().cpu().numpy()
        pixels = prepared.to_input_pixels(cell_centres(rows, cols, self.encoder.stride))
        return pixels.astype(np.float32), scene_xyz.astype(np.float32)
