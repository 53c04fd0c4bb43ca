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


# The mapped area: the half of the room in front of the x = 0 wall (shelf, pictures, pillar,
# cabinet and corners), seen from a loop 2-3 m away, like a person sweeping a camera along it.
# A compact area mapped densely is what a few minutes of CPU training can learn.
AREA_CENTER_XY = (2.55, 3.0)
LOOK_YAW = np.pi  # towards -x


def mapping_poses(count: int, center_xy=AREA_CENTER_XY) -> list[np.ndarray]:
    """Two laps of an elongated loop (0.7 m x 2.8 m) facing the x = 0 wall, the camera height
    changing between the long sides and the view sweeping left and right (out of phase between
    the laps, so every place is seen in both directions)."""
    poses = []
    for i in range(count):
        theta = 4.0 * np.pi * i / max(count, 1)
        position = [center_xy[0] + 0.35 * np.cos(theta), center_xy[1] + 1.4 * np.sin(theta),
                    1.4 + 0.15 * np.cos(theta) + 0.04 * np.sin(5 * theta)]
        yaw = LOOK_YAW + 0.5 * np.sin(2.5 * theta)
        pitch = np.radians(-10.0 + 6.0 * np.sin(3 * theta + 0.3))
        roll = np.radians(2.0 * np.sin(4 * theta))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses


def query_poses(count: int, center_xy=AREA_CENTER_XY) -> list[np.ndarray]:
    """One lap of a smaller loop inside the mapping loop, starting elsewhere and sweeping at
    another rhythm, so no query view repeats a mapping view."""
    poses = []
    for i in range(count):
        theta = 2.0 * np.pi * i / max(count, 1) + 0.8
        position = [center_xy[0] + 0.2 * np.cos(theta), center_xy[1] + 1.15 * np.sin(theta),
                    1.42 + 0.08 * np.sin(2 * theta + 1.0)]
        yaw = LOOK_YAW + 0.35 * np.sin(3 * theta + 1.0)
        pitch = np.radians(-8.0 + 4.0 * np.sin(2 * theta + 1.3))
        roll = np.radians(-1.5 * np.sin(3 * theta))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses


# The whole room seen all around (scene "room360"): two loops about the room centre looking
# outwards at every wall, more than one head learns in CPU minutes (issue 16: submaps).
ROOM_CENTER_XY = (3.5, 3.0)


def room360_mapping_poses(count: int, center_xy=ROOM_CENTER_XY) -> list[np.ndarray]:
    """Two loops around the room centre looking outwards at walls and furniture: the first far
    out and low, the second further in and higher, with yaw and pitch swaying."""
    poses = []
    for i in range(count):
        phi = 4.0 * np.pi * i / max(count, 1)
        radius = 1.05 + 0.25 * np.cos(phi / 2)
        position = [center_xy[0] + radius * np.cos(phi), center_xy[1] + radius * np.sin(phi),
                    1.4 - 0.2 * np.cos(phi / 2) + 0.06 * np.sin(3 * phi)]
        yaw = phi + 0.35 * np.sin(5 * phi)
        pitch = np.radians(-14.0 + 8.0 * np.sin(4 * phi + 0.3))
        roll = np.radians(3.0 * np.sin(7 * phi))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses


def room360_query_poses(count: int, center_xy=ROOM_CENTER_XY) -> list[np.ndarray]:
    """One loop between the mapping loops, starting elsewhere and with other sways, so no query
    view repeats a mapping view."""
    poses = []
    for i in range(count):
        phi = 2.0 * np.pi * i / max(count, 1) + 0.7
        radius = 1.05 + 0.12 * np.sin(3 * phi + 0.4)
        position = [center_xy[0] + radius * np.cos(phi), center_xy[1] + radius * np.sin(phi),
                    1.42 + 0.1 * np.sin(2 * phi + 1.0)]
        yaw = phi + 0.22 * np.sin(3 * phi + 2.0)
        pitch = np.radians(-11.0 + 6.0 * np.sin(5 * phi + 1.3))
        roll = np.radians(-2.0 * np.sin(4 * phi))
        poses.append(camera_pose(position, yaw, pitch, roll))
    return poses


# Named scenes: (mapping path, query path) of `make-scene --scene NAME`.
SCENES = {
    "area": (mapping_poses, query_poses),
    "room360": (room360_mapping_poses, room360_query_poses),
}
