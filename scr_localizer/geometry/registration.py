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
    if color_from_depth is None and not depth_camera.is_distorted and not color_camera.is_distorted:
        # Same optical centre and no distortion: the depth along the axis is unchanged and the
        # pixel mapping is a per-axis affine map, far cheaper than lifting to 3D.
        u = (cols - depth_camera.cx) * (color_camera.fx / depth_camera.fx) + color_camera.cx
        v = (rows - depth_camera.cy) * (color_camera.fy / depth_camera.fy) + color_camera.cy
        uv = np.stack([np.rint(u), np.rint(v)], axis=1).astype(np.int64)
        z_color = z
    else:
        pixels = np.stack([cols, rows], axis=1).astype(np.float64)
        points = depth_camera.backproject(pixels, z)
        if color_from_depth is not None:
            points = transform_points(color_from_depth, points)
        points = points[points[:, 2] > 1e-6]
        uv = np.rint(color_camera.project(points)).astype(np.int64)
        z_color = points[:, 2]
    inside = (
        (uv[:, 0] >= 0)
        & (uv[:, 0] < color_camera.width)
        & (uv[:, 1] >= 0)
        & (uv[:, 1] < color_camera.height)
    )
    target = uv[inside, 1] * color_camera.width + uv[inside, 0]
    z_color = z_color[inside]
    # z-buffer: sort by target pixel, then depth (one packed integer key, 10 µm depth steps,
    # sorts ~10x faster than a lexsort); the first entry of each pixel is the closest.
    depth_key = np.minimum(z_color * 1e5, 2**22 - 1).astype(np.int64)
    order = np.argsort((target << 22) | depth_key, kind="stable")
    target, z_color = target[order], z_color[order]
    first = np.ones(target.shape, dtype=bool)
    first[1:] = target[1:] != target[:-1]
    registered = np.zeros(color_camera.height * color_camera.width, dtype=np.float32)
    registered[target[first]] = z_color[first]
    return registered.reshape(color_camera.height, color_camera.width)
