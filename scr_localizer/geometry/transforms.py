"""Rigid transforms as 4x4 matrices; rotation maths comes from transforms3d.

Quaternions at this module's boundary are in ROS order (x, y, z, w); transforms3d uses (w, x, y, z).
"""

from __future__ import annotations

import numpy as np
import transforms3d.quaternions as tq


def quaternion_xyzw_from_matrix(rotation: np.ndarray) -> np.ndarray:
    w, x, y, z = tq.mat2quat(np.asarray(rotation, dtype=np.float64)[:3, :3])
    q = np.array([x, y, z, w])
    return q if q[3] >= 0 else -q


def matrix_from_quaternion_xyzw(q_xyzw) -> np.ndarray:
    x, y, z, w = (float(v) for v in q_xyzw)
    return tq.quat2mat([w, x, y, z])


def pose_matrix(rotation: np.ndarray, translation) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return pose


def pose_from_translation_quaternion(translation, q_xyzw) -> np.ndarray:
    return pose_matrix(matrix_from_quaternion_xyzw(q_xyzw), translation)


def translation_quaternion_from_pose(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pose = np.asarray(pose, dtype=np.float64)
    return pose[:3, 3].copy(), quaternion_xyzw_from_matrix(pose[:3, :3])


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform without a general matrix inverse (exact and cheap)."""
    pose = np.asarray(pose, dtype=np.float64)
    inverse = np.eye(4)
    inverse[:3, :3] = pose[:3, :3].T
    inverse[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inverse


def transform_points(a_from_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map Nx3 points from frame b into frame a."""
    return points_b @ a_from_b[:3, :3].T + a_from_b[:3, 3]


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to a 3x3 matrix (SVD projection onto SO(3)). Recorded poses are often
    orthonormal only to ~1e-4 (7-Scenes), which is enough to matter for angles near zero."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] = -u[:, -1]
    return u @ vt


# Recorded rotations are orthonormal to ~2e-4 (7-Scenes); 1e-2 still catches scaled or sheared
# matrices (a 2x scale is off by 3) without refusing real files.
RIGID_TOLERANCE = 1e-2


def rigid_problem(pose: np.ndarray, tolerance: float = RIGID_TOLERANCE) -> str:
    """Why a 4x4 matrix is not a rigid transform ('' when it is): non-finite values, a bottom
    row other than 0 0 0 1, or a rotation part that is not orthonormal with determinant +1."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        return f"shape {pose.shape}, expected 4x4"
    if not np.all(np.isfinite(pose)):
        return "non-finite values"
    if np.abs(pose[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-9:
        return f"bottom row {pose[3].tolist()}, expected [0, 0, 0, 1]"
    rotation = pose[:3, :3]
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if error > tolerance or np.linalg.det(rotation) <= 0:
        return (f"rotation part is not a rotation (|R^T R - I| = {error:.3g}, det "
                f"{np.linalg.det(rotation):.3g}; expected orthonormal within {tolerance:g}, det +1)")
    return ""


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle of a rotation matrix, from atan2 of its skew and symmetric parts: unlike
    arccos((trace - 1) / 2), a matrix that is slightly off SO(3) does not read as ~1 degree."""
    r = np.asarray(rotation, dtype=np.float64)[:3, :3]
    sin = 0.5 * np.linalg.norm([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    cos = (np.trace(r) - 1.0) / 2.0
    return float(np.degrees(np.arctan2(sin, cos)))


def pose_error(estimate_world_from_camera: np.ndarray, truth_world_from_camera: np.ndarray):
    """(translation error in metres, rotation error in degrees) between two camera poses; both
    rotations are first projected onto SO(3)."""
    translation_m = float(
        np.linalg.norm(estimate_world_from_camera[:3, 3] - truth_world_from_camera[:3, 3])
    )
    relative = (nearest_rotation(estimate_world_from_camera).T
                @ nearest_rotation(truth_world_from_camera))
    return translation_m, rotation_angle_deg(relative)


def slerp_quaternion_xyzw(q0, q1, fraction: float) -> np.ndarray:
    """Spherical interpolation along the short arc (used for TF interpolation)."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + fraction * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    q = (np.sin((1 - fraction) * theta) * q0 + np.sin(fraction * theta) * q1) / np.sin(theta)
    return q / np.linalg.norm(q)


def interpolate_pose(pose0: np.ndarray, pose1: np.ndarray, fraction: float) -> np.ndarray:
    t0, q0 = translation_quaternion_from_pose(pose0)
    t1, q1 = translation_quaternion_from_pose(pose1)
    return pose_from_translation_quaternion(
        t0 + fraction * (t1 - t0), slerp_quaternion_xyzw(q0, q1, fraction)
    )
