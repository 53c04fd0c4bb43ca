"""The map's measured surface: depth keyframes (subsampled depth images with their poses).

The regressed scene coordinates are a few centimetres noisy, which limits a pose solved from
them. The mapping frames' measured depth describes the same surfaces to millimetres; the
localizer aligns a query's measured depth to the keyframes nearest to its fix (point-to-plane,
`localization.depth_refinement`) and checks that the fix's depth agrees with them.

Keyframes, not one fused surface: the poses of a recording drift against its depth by
centimetres between visits (redkitchen: query frame 55 against the depth of frame 56 at the
ground-truth poses: median point-to-plane offset -0.1 mm, MAD 5 mm; against frame 120, -12 mm
and 16 mm), so a fused surface averages those offsets in, while the few keyframes nearest to a
fix are consistent with it (aligning to 3 of them: median 0.87 cm from the ground truth on 10
interleaved queries, a fused surface of every mapped frame: ~3 cm, whatever the start).

Built while mapping (`KeyframeAccumulator`); stored in the map file as three small tensors
(about 10 KB per keyframe: an 80x60 float16 depth grid at 640x480).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from scr_localizer.geometry.camera import PinholeCamera

DEFAULT_GRID_STRIDE = 8  # keyframe depth kept every 8th row and column
# A mapping frame becomes a keyframe this far (or this much rotated) from the previous one:
# redkitchen's 500 interleaved mapping frames give 148 keyframes (1.4 MB); with 5 cm / 5 deg,
# 70, and the refined fixes were further from the ground truth (1.64 vs 1.48 cm median).
KEYFRAME_SPACING_M = 0.02
KEYFRAME_SPACING_DEG = 2.0
MAX_KEYFRAMES = 2000
SURFEL_CACHE_KEYFRAMES = 64


@dataclass
class SurfaceModel:
    """Surfels in the map frame: points Nx3 and unit normals Nx3 (float32)."""

    points: np.ndarray
    normals: np.ndarray
    spacing_m: float = 0.02  # typical distance between neighbouring surfels

    def __len__(self) -> int:
        return len(self.points)


def depth_points_and_normals(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                             stride: int = 1):
    """Camera-frame points (HxWx3 on the stride grid) and unit normals from neighbouring depth
    pixels (cross product of the grid's row and column differences), NaN where unknown; the
    intrinsics are those of `depth`'s own pixels."""
    sampled = np.asarray(depth, dtype=np.float64)[::stride, ::stride]
    rows, cols = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    z = np.where(sampled > 0, sampled, np.nan)
    points = np.stack([(cols - cx) / fx * z, (rows - cy) / fy * z, z], axis=-1)
    normals = np.full_like(points, np.nan)
    du = points[1:-1, 2:] - points[1:-1, :-2]
    dv = points[2:, 1:-1] - points[:-2, 1:-1]
    cross = np.cross(du, dv)
    norm = np.linalg.norm(cross, axis=-1, keepdims=True)
    inner = cross / np.maximum(norm, 1e-12)
    # Depth jumps (occlusion edges) give no surface: neighbours must be within 5 % of depth.
    centre = z[1:-1, 1:-1]
    with np.errstate(invalid="ignore"):
        smooth = np.ones_like(centre, dtype=bool)
        for neighbour in (z[1:-1, 2:], z[1:-1, :-2], z[2:, 1:-1], z[:-2, 1:-1]):
            smooth &= np.abs(neighbour - centre) < 0.05 * centre
    inner[~smooth] = np.nan
    flip = np.einsum("ijk,ijk->ij", inner, points[1:-1, 1:-1]) > 0  # face the camera
    inner[flip] *= -1
    normals[1:-1, 1:-1] = inner
    return points, normals


def _rotation_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass
class DepthKeyframes:
    """Subsampled depth of selected mapping frames: poses Kx4x4 (colour optical frame in the map
    frame), intrinsics Kx4 (fx, fy, cx, cy in grid pixels), depth KxHxW metres (0 = none)."""

    world_from_camera: np.ndarray
    intrinsics: np.ndarray
    depth: np.ndarray

    def __len__(self) -> int:
        return len(self.world_from_camera)

    def nearest(self, world_from_camera: np.ndarray, count: int, max_distance_m: float = 1.0,
                max_angle_deg: float = 60.0) -> np.ndarray:
        """Indices of up to `count` keyframes whose viewpoint is closest to the pose (distance
        of camera centres / 0.25 m plus angle of optical axes / 15 deg)."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        distance = np.linalg.norm(self.world_from_camera[:, :3, 3] - world_from_camera[:3, 3],
                                  axis=1)
        cos = np.einsum("ki,i->k", self.world_from_camera[:, :3, 2], world_from_camera[:3, 2])
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        score = distance / 0.25 + angle / 15.0
        usable = np.flatnonzero((distance < max_distance_m) & (angle < max_angle_deg))
        return usable[np.argsort(score[usable])][:count]

    def _surfels(self, k: int):
        """(points, normals in the map frame, spacing) of keyframe k, or None; cached (the last
        SURFEL_CACHE_KEYFRAMES, ~0.2 MB each): nearby fixes reuse the same keyframes (5.7 of
        52 ms per refinement before the cache)."""
        cache = self.__dict__.setdefault("_surfel_cache", OrderedDict())
        if k in cache:
            cache.move_to_end(k)
        else:
            while len(cache) >= SURFEL_CACHE_KEYFRAMES:
                cache.popitem(last=False)
            fx, fy, cx, cy = (float(v) for v in self.intrinsics[k])
            p, n = depth_points_and_normals(self.depth[k], fx, fy, cx, cy)
            ok = np.isfinite(n).all(axis=-1)
            pose = self.world_from_camera[k]
            cache[k] = None if not ok.any() else (
                (p[ok] @ pose[:3, :3].T + pose[:3, 3]).astype(np.float32),
                (n[ok] @ pose[:3, :3].T).astype(np.float32), float(np.median(p[ok][:, 2])) / fx)
        return cache[k]

    def surface(self, indices: np.ndarray) -> SurfaceModel | None:
        """Surfels (grid points with normals, in the map frame) of the given keyframes."""
        points, normals, spacing = [], [], []
        for k in indices:
            surfels = self._surfels(int(k))
            if surfels is None:
                continue
            points.append(surfels[0])
            normals.append(surfels[1])
            spacing.append(surfels[2])
        if not points:
            return None
        return SurfaceModel(np.concatenate(points), np.concatenate(normals),
                            float(np.median(spacing)))


class KeyframeAccumulator:
    """Collects depth keyframes from posed mapping frames (every KEYFRAME_SPACING from the last)."""

    def __init__(self, stride: int = DEFAULT_GRID_STRIDE):
        self.stride = stride
        self._poses: list[np.ndarray] = []
        self._intrinsics: list[np.ndarray] = []
        self._depth: list[np.ndarray] = []

    def add(self, depth: np.ndarray | None, camera: PinholeCamera,
            world_from_camera: np.ndarray | None) -> bool:
        if depth is None or world_from_camera is None or len(self._poses) >= MAX_KEYFRAMES:
            return False
        if not np.all(np.isfinite(world_from_camera)):
            return False
        if self._poses:
            last = self._poses[-1]
            moved = np.linalg.norm(world_from_camera[:3, 3] - last[:3, 3])
            if moved < KEYFRAME_SPACING_M and (
                    _rotation_deg(world_from_camera, last) < KEYFRAME_SPACING_DEG):
                return False
        # The grid's pixel (r, c) is the image pixel (r * stride, c * stride).
        grid = np.asarray(depth, dtype=np.float32)[::self.stride, ::self.stride]
        if self._depth and grid.shape != self._depth[0].shape:
            return False  # one grid size per map (frames of another size add no keyframe)
        if np.count_nonzero(grid > 0) < 0.1 * grid.size:
            return False
        s = float(self.stride)
        self._poses.append(np.asarray(world_from_camera, dtype=np.float64).copy())
        self._intrinsics.append(np.array([camera.fx / s, camera.fy / s, camera.cx / s,
                                          camera.cy / s]))
        self._depth.append(grid)
        return True

    def keyframes(self) -> DepthKeyframes | None:
        if not self._poses:
            return None
        return DepthKeyframes(np.stack(self._poses), np.stack(self._intrinsics),
                              np.stack(self._depth))
