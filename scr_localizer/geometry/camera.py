"""Pinhole camera with optional lens distortion, as described by sensor_msgs/CameraInfo."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from scr_localizer.errors import ScrLocalizerError

SUPPORTED_DISTORTION_MODELS = ("", "none", "plumb_bob", "rational_polynomial", "equidistant")


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of one image stream. `distortion` follows OpenCV's coefficient order
    (k1, k2, p1, p2, k3[, k4, k5, k6]) which is also CameraInfo's for plumb_bob and
    rational_polynomial."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = ""
    distortion: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.distortion_model not in SUPPORTED_DISTORTION_MODELS:
            raise ScrLocalizerError(
                f"unsupported distortion model '{self.distortion_model}'; expected one of "
                f"{', '.join(m for m in SUPPORTED_DISTORTION_MODELS if m)}"
            )
        # NaN passes `fx <= 0`, hence the explicit finiteness checks (a NaN focal length
        # trains a map of NaN weights).
        values = (self.fx, self.fy, self.cx, self.cy)
        if not (all(math.isfinite(v) for v in values) and self.fx > 0 and self.fy > 0
                and self.width > 0 and self.height > 0):
            raise ScrLocalizerError(
                f"invalid camera intrinsics fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy} "
                f"size={self.width}x{self.height}; expected positive focal lengths and image "
                "size and a finite principal point"
            )
        if not all(math.isfinite(c) for c in self.distortion):
            raise ScrLocalizerError(
                f"invalid distortion coefficients {tuple(self.distortion)}; expected finite "
                "numbers"
            )

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the conventional name
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def is_distorted(self) -> bool:
        return self.distortion_model not in ("", "none") and any(
            abs(c) > 0 for c in self.distortion
        )

    def distortion_array(self) -> np.ndarray:
        return np.asarray(self.distortion, dtype=np.float64)

    def scaled(self, scale: float) -> PinholeCamera:
        """The same camera for an image resized by `scale` (pixel centres kept consistent)."""
        return replace(
            self,
            width=int(round(self.width * scale)),
            height=int(round(self.height * scale)),
            fx=self.fx * scale,
            fy=self.fy * scale,
            cx=(self.cx + 0.5) * scale - 0.5,
            cy=(self.cy + 0.5) * scale - 0.5,
        )

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Nx2 distorted pixels to the pixels an ideal pinhole with the same K would see."""
        if not self.is_distorted:
            return np.asarray(pixels, dtype=np.float64)
        import cv2

        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(pts, self.K, self.distortion_array()[:4], P=self.K)
        else:
            out = cv2.undistortPoints(pts, self.K, self.distortion_array(), P=self.K)
        return out.reshape(-1, 2)

    def backproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Nx2 pixels with depth (metres, along the optical axis) to Nx3 points in the camera
        frame (REP-103 optical: x right, y down, z forward)."""
        undistorted = self.undistort_points(pixels)
        x = (undistorted[:, 0] - self.cx) / self.fx * depth
        y = (undistorted[:, 1] - self.cy) / self.fy * depth
        return np.stack([x, y, depth], axis=1)

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """Nx3 camera-frame points to Nx2 pixels (distortion applied when present)."""
        points = np.asarray(points_camera, dtype=np.float64)
        if self.is_distorted:
            import cv2

            zero = np.zeros(3)
            if self.distortion_model == "equidistant":
                out, _ = cv2.fisheye.projectPoints(
                    points.reshape(-1, 1, 3), zero, zero, self.K, self.distortion_array()[:4]
                )
            else:
                out, _ = cv2.projectPoints(points, zero, zero, self.K, self.distortion_array())
            return out.reshape(-1, 2)
        z = points[:, 2]
        return np.stack(
            [self.fx * points[:, 0] / z + self.cx, self.fy * points[:, 1] / z + self.cy], axis=1
        )
