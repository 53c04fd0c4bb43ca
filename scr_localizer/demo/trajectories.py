"""Camera paths through the built-in room: a mapping sweep and a different query path."""

from __future__ import annotations

import numpy as np
import transforms3d.euler as te

# camera_link (x forward, y left, z up) from the optical frame (x right, y down, z forward).
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_pose(position, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """world_from_camera (optical frame) of a camera at `position` looking along yaw/pitch
    (radians, pitch > 0 looks up) in a z-up world."""
    world_from_body = te.euler2mat(yaw, -pitch, roll, axes="rzyx")
    pose = np.eye(4)
    pose[:3, :3] = world_from_body @ BODY_FROM_OPTICAL
    pose[:3, 3] = position
    return pose


def mapping_poses(count: int, center_xy=(3.5, 3.0)) -> list[np.ndarray]:
    """Two loops around the room centre looking outwards at walls and furniture: the first far
    out and low, the second further in and higher, with yaw and pitch swaying."""
    poses = []
    for i in range(count):
        s = i / max(count, 1)
        phi = 4.0 * np.pi * s
        radius = 1.05 + 0.25 * np.cos(phi / 2)
        position = [center_xy[0] + radius * np.cos(phi), center_xy[1] + radius * np.sin(phi),
                    1.4 - 0.2 * np.cos(phi / 2) + 0.06 * np.sin(3 * phi)]
        yaw = phi + 0.35 * np.sin(5 * phi)
        pitch = np.radians(-14.0 + 8.0 * np.sin(4 * phi + 0.3))
        roll = np.radians(3.0 * np.sin(7 * phi))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses


def query_poses(count: int, center_xy=(3.5, 3.0)) -> list[np.ndarray]:
    """One loop between the mapping loops, starting elsewhere and with other sways, so no query
    view repeats a mapping view."""
    poses = []
    for i in range(count):
        s = i / max(count, 1)
        phi = 2.0 * np.pi * s + 0.7
        radius = 1.05 + 0.12 * np.sin(3 * phi + 0.4)
        position = [center_xy[0] + radius * np.cos(phi), center_xy[1] + radius * np.sin(phi),
                    1.42 + 0.1 * np.sin(2 * phi + 1.0)]
        yaw = phi + 0.22 * np.sin(3 * phi + 2.0)
        pitch = np.radians(-11.0 + 6.0 * np.sin(5 * phi + 1.3))
        roll = np.radians(-2.0 * np.sin(4 * phi))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses
