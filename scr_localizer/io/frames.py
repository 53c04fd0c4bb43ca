"""The unit every pipeline stage consumes: one colour image with aligned depth and a pose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scr_localizer.geometry.camera import PinholeCamera


@dataclass
class RGBDFrame:
    """One synchronized RGB-D frame.

    `depth` is registered to the colour image (same size and camera), float32 metres, with 0
    wherever depth is invalid (NaN and 0 in the source both become 0). It is None for RGB-only
    data. `world_from_camera` is the colour camera's optical frame in the fixed frame, or None
    when no pose is known (live queries).
    """

    stamp_ns: int
    color: np.ndarray
    camera: PinholeCamera
    depth: np.ndarray | None = None
    world_from_camera: np.ndarray | None = None
    frame_id: str = ""
    name: str = ""

    @property
    def stamp_s(self) -> float:
        return self.stamp_ns * 1e-9


def sanitize_depth(depth_m: np.ndarray, max_depth_m: float = 20.0) -> np.ndarray:
    """float32 metres with every invalid value (NaN, inf, <=0, beyond range) set to 0."""
    depth = np.asarray(depth_m, dtype=np.float32).copy()
    invalid = ~np.isfinite(depth) | (depth <= 0) | (depth > max_depth_m)
    depth[invalid] = 0.0
    return depth
