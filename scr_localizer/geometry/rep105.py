"""REP-105 output maths of a relocalizer: from the camera's pose in the map to the transform it
publishes (map -> odom when odometry exists, else map -> body) and the body pose's covariance.
Kept apart from any node, as nav2_amcl keeps its map->odom maths, so it can be unit-tested."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scr_localizer.geometry.transforms import interpolate_pose, invert_pose


def skew(v) -> np.ndarray:
    """3-vector to its cross-product matrix."""
    x, y, z = (float(c) for c in v)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def transfer_pose_covariance(covariance_map: np.ndarray, map_from_camera: np.ndarray,
                             camera_from_body: np.ndarray) -> np.ndarray:
    """Covariance of the body pose given the camera pose covariance (both 6x6, x y z roll pitch
    yaw, perturbations expressed in the map frame as PoseWithCovariance expects).

    A small map-frame rotation dθ of the rigid camera+body assembly moves the body origin by
    dθ × lever, where lever = body origin minus camera origin in the map frame; rotation
    uncertainty is the same for both frames.
    """
    covariance_map = np.asarray(covariance_map, dtype=np.float64).reshape(6, 6)
    lever = map_from_camera[:3, :3] @ camera_from_body[:3, 3]
    jacobian = np.eye(6)
    jacobian[:3, 3:] = -skew(lever)
    return jacobian @ covariance_map @ jacobian.T


@dataclass(frozen=True)
class MapOutputs:
    """What one fix publishes: `parent_from_child` on TF (map -> odom, or map -> body without
    odometry) and the body's pose in the map with its covariance (None when unknown)."""

    parent: str
    child: str
    parent_from_child: np.ndarray
    map_from_body: np.ndarray
    map_from_odom: np.ndarray | None
    body_covariance: np.ndarray | None


def compose_map_outputs(map_frame: str, odom_frame: str, body_frame: str,
                        map_from_camera: np.ndarray, camera_from_body: np.ndarray,
                        odom_from_body: np.ndarray | None,
                        camera_covariance: np.ndarray | None = None,
                        two_d_mode: bool = False) -> MapOutputs:
    """map_from_body = map_from_camera · camera_from_body; with odometry (odom_frame set),
    map_from_odom = map_from_body · odom_from_body⁻¹, so that map -> odom -> body reproduces the
    fix at the image stamp (REP-105: the localizer never publishes the body itself). two_d_mode
    restricts map_from_odom to x, y, yaw (planar_pose) and reports the body through it."""
    map_from_camera = np.asarray(map_from_camera, dtype=np.float64)
    map_from_body = map_from_camera @ camera_from_body
    covariance = None
    if camera_covariance is not None:
        covariance = transfer_pose_covariance(camera_covariance, map_from_camera, camera_from_body)
    if odom_frame:
        if odom_from_body is None:
            raise ValueError(f"odom frame '{odom_frame}' given without odom_from_body")
        map_from_odom = map_from_body @ invert_pose(odom_from_body)
        if two_d_mode:
            map_from_odom = planar_pose(map_from_odom)
            map_from_body = map_from_odom @ odom_from_body
        return MapOutputs(map_frame, odom_frame, map_from_odom, map_from_body, map_from_odom,
                          covariance)
    return MapOutputs(map_frame, body_frame, map_from_body, map_from_body, None, covariance)


def map_to_odom_stamp(candidate_ns: int, last_published_ns: int | None) -> int:
    """Stamp for the next map->odom: the candidate (a fix's image stamp or the clock, plus
    transform_tolerance), but never at or before the last one published. tf2 ignores a transform
    whose stamp it already holds (TF_REPEATED_DATA) and a stamp behind the newest one makes
    consumers interpolate against a value from the future, so stamps strictly increase."""
    if last_published_ns is None:
        return int(candidate_ns)
    return max(int(candidate_ns), int(last_published_ns) + 1)


def planar_pose(pose: np.ndarray) -> np.ndarray:
    """The pose restricted to x, y and yaw (z, roll and pitch zero), for two_d_mode: a planar
    robot's map->odom must not tilt or lift its odometry frame with visual noise. Yaw is that of
    the rotated x axis projected on the ground plane."""
    pose = np.asarray(pose, dtype=np.float64)
    yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
    cos, sin = np.cos(yaw), np.sin(yaw)
    planar = np.eye(4)
    planar[:2, :2] = [[cos, -sin], [sin, cos]]
    planar[:2, 3] = pose[:2, 3]
    return planar


def smoothed_outputs(out, previous_map_from_odom: np.ndarray, keep: float):
    """The fix's outputs with map->odom moved only (1 - keep) of the way from the previous one,
    and the body reported through the smoothed map->odom (odometry at the image stamp)."""
    odom_from_body = invert_pose(out.map_from_odom) @ out.map_from_body
    map_from_odom = interpolate_pose(previous_map_from_odom, out.map_from_odom, 1.0 - keep)
    return replace(out, parent_from_child=map_from_odom, map_from_odom=map_from_odom,
                   map_from_body=map_from_odom @ odom_from_body)
