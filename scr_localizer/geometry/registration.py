"""Depth registration: resample a depth image into the colour camera's image."""

from __future__ import annotations

import numpy as np

from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.transforms import transform_points


def register_depth(
    depth_m: np.ndarray,
    depth_camera: PinholeCamera,
    color_camera: PinholeCamera,
    color_from_depth: np.ndarray | None = None,
) -> np.ndarray:
    """Depth (metres, 0 invalid) seen by `depth_camera` re-projected into `color_camera`.

    Each valid depth pixel is lifted to 3D, moved by the depth→colour extrinsic and splatted
    into the nearest colour pixel; where several land on one pixel the closest wins (z-buffer).
    Colour pixels that receive nothing are 0 (invalid).
    """
    rows, cols = np.nonzero(depth_m > 0)
    z = depth_m[rows, cols].astype(np.float64)
    pixels = np.stack([cols, rows], axis=1).astype(np.float64)
    points = depth_camera.backproject(pixels, z)
    if color_from_depth is not None:
        points = transform_points(color_from_depth, points)
    in_front = points[:, 2] > 1e-6
    points = points[in_front]
    uv = np.rint(color_camera.project(points)).astype(np.int64)
    inside = (
        (uv[:, 0] >= 0)
        & (uv[:, 0] < color_camera.width)
        & (uv[:, 1] >= 0)
        & (uv[:, 1] < color_camera.height)
    )
    uv, z_color = uv[inside], points[inside, 2]
    registered = np.full(color_camera.height * color_camera.width, np.inf)
    np.minimum.at(registered, uv[:, 1] * color_camera.width + uv[:, 0], z_color)
    registered[~np.isfinite(registered)] = 0.0
    return registered.reshape(color_camera.height, color_camera.width).astype(np.float32)
