"""The classical peer: a 3D keypoint map from the mapping frames and RANSAC-PnP queries.

This is what rtabmap-style visual localization does: detect local features (SIFT, or ORB) in
every mapping frame, lift them to 3D with the registered depth and the frame's pose, keep the
descriptors with their map points; a query's features are matched against all of them
(approximate nearest neighbours + ratio test) and the 2D–3D matches go to LO-RANSAC PnP.

The ratio test compares the best match with the best one on a *different* 3D point (more than
`same_point_m` away): the map holds the same physical point seen from many frames, so a plain
ratio test would reject exactly the features that were mapped well.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import poselib

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.transforms import invert_pose, transform_points
from scr_localizer.io.frames import RGBDFrame


@dataclass(frozen=True)
class KeypointConfig:
    feature: str = "sift"  # "sift" or "orb"
    map_features_per_frame: int = 1000
    query_features: int = 2000
    min_depth_m: float = 0.2
    max_depth_m: float = 8.0
    max_depth_jump: float = 0.05  # reject keypoints whose 5x5 depth range exceeds this share
    ratio: float = 0.8
    neighbours: int = 6  # candidates searched for the spatial ratio test
    same_point_m: float = 0.05
    flann_trees: int = 4
    flann_checks: int = 64
    threshold_px: float = 4.0  # RANSAC reprojection threshold at 640 px image width
    max_iterations: int = 10000
    min_inliers: int = 12
    seed: int = 0

    def __post_init__(self):
        if self.feature not in ("sift", "orb"):
            raise ScrLocalizerError(f"keypoint feature '{self.feature}' is unknown; "
                                    "expected sift or orb")


def _detector(config: KeypointConfig, count: int):
    if config.feature == "sift":
        return cv2.SIFT_create(nfeatures=count)
    return cv2.ORB_create(nfeatures=count)


def _gray(color: np.ndarray) -> np.ndarray:
    return color if color.ndim == 2 else cv2.cvtColor(color, cv2.COLOR_RGB2GRAY)


def _detect(detector, color: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    keypoints, descriptors = detector.detectAndCompute(_gray(color), None)
    pixels = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2)
    return pixels, descriptors


class KeypointResult(NamedTuple):
    success: bool
    world_from_camera: np.ndarray  # 4x4; identity when not localized
    inliers: int
    time_ms: float


@dataclass
class KeypointMap:
    """Descriptors (N x D, float32 for SIFT, uint8 for ORB) and their 3D map points (N x 3)."""

    descriptors: np.ndarray
    points: np.ndarray
    frame_of_point: np.ndarray  # index of the mapping frame each point came from
    config: KeypointConfig

    def __len__(self) -> int:
        return len(self.points)

    @property
    def nbytes(self) -> int:
        return int(self.descriptors.nbytes + self.points.nbytes)

    @classmethod
    def build(cls, frames: Iterable[RGBDFrame], config: KeypointConfig = KeypointConfig()
              ) -> KeypointMap:
        detector = _detector(config, config.map_features_per_frame)
        descriptors, points, owners = [], [], []
        used = 0
        for index, frame in enumerate(frames):
            if frame.depth is None or frame.world_from_camera is None:
                raise ScrLocalizerError(
                    f"mapping frame '{frame.name or index}' has no "
                    f"{'depth' if frame.depth is None else 'pose'}; a keypoint map needs both"
                )
            pixels, desc = _detect(detector, frame.color)
            if desc is None or len(pixels) == 0:
                continue
            depth = frame.depth
            kernel = np.ones((5, 5), np.uint8)
            depth_range = cv2.dilate(depth, kernel) - cv2.erode(depth, kernel)
            cols = np.clip(np.round(pixels[:, 0]).astype(int), 0, depth.shape[1] - 1)
            rows = np.clip(np.round(pixels[:, 1]).astype(int), 0, depth.shape[0] - 1)
            z = depth[rows, cols].astype(np.float64)
            keep = (
                (z > config.min_depth_m)
                & (z < config.max_depth_m)
                & (depth_range[rows, cols] < config.max_depth_jump * np.maximum(z, 1e-6))
            )
            if not keep.any():
                continue
            camera_points = frame.camera.backproject(pixels[keep], z[keep])
            points.append(transform_points(frame.world_from_camera, camera_points))
            descriptors.append(desc[keep])
            owners.append(np.full(int(keep.sum()), index, dtype=np.int32))
            used += 1
        if not points:
            raise ScrLocalizerError(
                "no keypoints with valid depth in the mapping frames; expected RGB-D frames "
                "with texture"
            )
        return cls(np.concatenate(descriptors), np.concatenate(points),
                   np.concatenate(owners), config)


class KeypointLocalizer:
    """Localizes colour images against a `KeypointMap` (RGB only, like the SCR PnP path)."""

    def __init__(self, keypoint_map: KeypointMap, config: KeypointConfig | None = None):
        self.map = keypoint_map
        self.config = config or keypoint_map.config
        self.detector = _detector(self.config, self.config.query_features)
        self._hamming = keypoint_map.descriptors.dtype == np.uint8
        if self._hamming:
            index = dict(algorithm=6, table_number=6, key_size=12, multi_probe_level=1)  # LSH
        else:
            index = dict(algorithm=1, trees=self.config.flann_trees)  # KD-trees
        # The KD-trees are randomised from OpenCV's global generator: seeded here, a peer's
        # matches do not depend on what else the process built before (the tuning case's peer
        # went 89 -> 86 % recall with the cases collected in another order).
        cv2.setRNGSeed(self.config.seed)
        self.index = cv2.flann_Index(np.ascontiguousarray(keypoint_map.descriptors), index)
        self.last_timings_ms: dict[str, float] = {}

    def match(self, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query indices, map indices) that pass the spatial ratio test."""
        cfg = self.config
        k = min(cfg.neighbours, len(self.map))
        neighbours, distances = self.index.knnSearch(
            np.ascontiguousarray(descriptors), k, params=dict(checks=cfg.flann_checks))
        neighbours = neighbours.reshape(len(descriptors), k).astype(np.int64)
        distances = distances.reshape(len(descriptors), k).astype(np.float64)
        if not self._hamming:
            distances = np.sqrt(np.maximum(distances, 0.0))  # FLANN's L2 is squared
        found = neighbours >= 0
        points = self.map.points[np.where(found, neighbours, 0)]
        other_point = np.sum((points - points[:, :1]) ** 2, axis=-1) > cfg.same_point_m ** 2
        other_point &= found
        has_second = other_point.any(axis=1)
        second = np.take_along_axis(distances, np.argmax(other_point, axis=1)[:, None], 1)[:, 0]
        passed = found[:, 0] & (~has_second | (distances[:, 0] < cfg.ratio * second))
        query_idx = np.flatnonzero(passed)
        return query_idx, neighbours[query_idx, 0]

    def localize(self, color: np.ndarray, camera: PinholeCamera) -> KeypointResult:
        cfg = self.config
        start = time.perf_counter()
        pixels, descriptors = _detect(self.detector, color)
        detected = time.perf_counter()
        failed = KeypointResult(False, np.eye(4), 0, 0.0)
        if descriptors is None or len(pixels) < 4:
            self.last_timings_ms = {"features": (detected - start) * 1e3}
            return failed._replace(time_ms=(detected - start) * 1e3)
        query_idx, map_idx = self.match(descriptors)
        matched = time.perf_counter()
        timings = {"features": (detected - start) * 1e3, "matching": (matched - detected) * 1e3}
        if len(query_idx) < max(cfg.min_inliers, 4):
            self.last_timings_ms = timings | {"ransac": 0.0}
            return failed._replace(time_ms=(matched - start) * 1e3)
        image_points = camera.undistort_points(pixels[query_idx])
        threshold = cfg.threshold_px * camera.width / 640.0
        pinhole = poselib.Camera("PINHOLE", [camera.fx, camera.fy, camera.cx, camera.cy],
                                 camera.width, camera.height)
        solution, info = poselib.estimate_absolute_pose(
            np.ascontiguousarray(image_points), np.ascontiguousarray(self.map.points[map_idx]),
            pinhole,
            {"max_reproj_error": threshold, "max_iterations": cfg.max_iterations,
             "seed": cfg.seed},
            {"loss_type": "CAUCHY", "loss_scale": 0.5 * threshold},
        )
        end = time.perf_counter()
        self.last_timings_ms = timings | {"ransac": (end - matched) * 1e3}
        inliers = int(info.get("num_inliers", 0))
        time_ms = (end - start) * 1e3
        if inliers < cfg.min_inliers:
            return KeypointResult(False, np.eye(4), inliers, time_ms)
        camera_from_world = np.eye(4)
        camera_from_world[:3, :3] = solution.R
        camera_from_world[:3, 3] = solution.t
        return KeypointResult(True, invert_pose(camera_from_world), inliers, time_ms)
