"""Oriented boxes and the room layout of the built-in scene (world frame "map", z up, metres)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import transforms3d.axangles as ta

from scr_localizer.demo.textures import TextureStyle

# For a face whose normal is along local axis a: the axes its texture's u and v run along, and
# whether v runs downwards (vertical faces, so text marks stand upright).
U_AXIS = np.array([1, 0, 0])
V_AXIS = np.array([2, 2, 1])
V_DOWN = np.array([True, True, False])


@dataclass
class Box:
    """A box rotated by `yaw` about the world z axis. Face k = 2 * axis + (1 if + side else 0)."""

    center: np.ndarray
    half_size: np.ndarray
    yaw: float = 0.0
    style: TextureStyle = field(default_factory=lambda: TextureStyle((128, 128, 128)))
    interior: bool = False  # the room: seen from inside
    face_styles: list[TextureStyle] | None = None  # per face, overriding `style`

    def __post_init__(self):
        self.center = np.asarray(self.center, dtype=np.float64)
        self.half_size = np.asarray(self.half_size, dtype=np.float64)

    def face_style(self, face: int) -> TextureStyle:
        return self.face_styles[face] if self.face_styles else self.style

    @property
    def world_from_box_rotation(self) -> np.ndarray:
        return ta.axangle2mat([0.0, 0.0, 1.0], self.yaw)

    def face_extent_m(self, face: int) -> tuple[float, float]:
        axis = face // 2
        return 2 * self.half_size[U_AXIS[axis]], 2 * self.half_size[V_AXIS[axis]]

    def face_normals_world(self) -> np.ndarray:
        """(6, 3) normals pointing to where the face is seen from (inwards for the room)."""
        normals = np.zeros((6, 3))
        for face in range(6):
            sign = 1.0 if face % 2 else -1.0
            normals[face, face // 2] = -sign if self.interior else sign
        return normals @ self.world_from_box_rotation.T

    def corners_world(self) -> np.ndarray:
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return (signs * self.half_size) @ self.world_from_box_rotation.T + self.center

    def contains(self, point: np.ndarray, margin: float = 0.0) -> bool:
        local = self.world_from_box_rotation.T @ (np.asarray(point) - self.center)
        return bool(np.all(np.abs(local) <= self.half_size + margin))


def _style(rng: np.random.Generator, **kwargs) -> TextureStyle:
    base = tuple(int(c) for c in rng.uniform(50, 210, size=3))
    return TextureStyle(base, **kwargs)


def build_room(rng: np.random.Generator, size_m=(7.0, 6.0, 2.7)) -> list[Box]:
    """The room (first box, seen from inside) and its furniture along the walls.

    The layout is fixed so the trajectories always have free space; the seed changes the
    small objects' sizes, every colour and every texture.
    """
    sx, sy, sz = size_m
    walls = [_style(rng, patches_per_m2=22.0, marks_per_m2=9.0, stripes=True) for _ in range(4)]
    floor = TextureStyle((150, 110, 70), patches_per_m2=18.0, marks_per_m2=6.0, planks=True)
    ceiling = TextureStyle((200, 200, 190), patches_per_m2=14.0, marks_per_m2=6.0)
    room = Box([sx / 2, sy / 2, sz / 2], [sx / 2, sy / 2, sz / 2], 0.0, walls[0], interior=True,
               face_styles=[*walls, floor, ceiling])
    boxes = [room]

    def add(center, half, yaw=0.0, **style):
        boxes.append(Box(center, half, yaw, _style(rng, **style)))

    # A table (oriented) with four legs and a few objects on it.
    table_center, table_yaw = np.array([sx - 1.6, 1.3]), 0.3
    rotation = ta.axangle2mat([0, 0, 1], table_yaw)[:2, :2]
    add([*table_center, 0.73], [0.7, 0.4, 0.02], table_yaw, planks=True)
    for lx, ly in ((-0.64, -0.34), (-0.64, 0.34), (0.64, -0.34), (0.64, 0.34)):
        leg = table_center + rotation @ np.array([lx, ly])
        add([*leg, 0.355], [0.025, 0.025, 0.355], table_yaw, patches_per_m2=5.0)
    for offset in ((-0.35, 0.05), (0.2, -0.1), (0.45, 0.2)):
        half = rng.uniform([0.05, 0.05, 0.04], [0.14, 0.12, 0.15])
        xy = table_center + rotation @ np.array(offset)
        add([*xy, 0.75 + half[2]], half, table_yaw + rng.uniform(-0.5, 0.5))
    # A shelf against the x = 0 wall, with items on its boards.
    y0, y1, depth, height = 2.0, 3.3, 0.35, 1.8
    yc, hy = (y0 + y1) / 2, (y1 - y0) / 2
    add([0.02, yc, height / 2], [0.015, hy, height / 2])  # back panel
    for y in (y0, y1):
        add([depth / 2, y, height / 2], [depth / 2, 0.015, height / 2], planks=True)
    boards = (0.02, 0.46, 0.9, 1.34, 1.78)
    for z in boards:
        add([depth / 2, yc, z], [depth / 2, hy - 0.015, 0.015], planks=True)
    for z in boards[:-1]:
        y = y0 + 0.05
        while y < y1 - 0.2:
            half = rng.uniform([0.06, 0.04, 0.06], [0.15, 0.12, 0.19])
            add([depth / 2 + rng.uniform(-0.03, 0.03), y + half[1], z + 0.015 + half[2]], half)
            y += 2 * half[1] + rng.uniform(0.02, 0.12)
    # A cabinet, a tall pillar-like box and boxes on the floor.
    add([2.0, sy - 0.3, 0.45], [0.6, 0.3, 0.45])
    add([0.35, sy - 0.35, 1.0], [0.3, 0.3, 1.0], 0.1)
    add([sx - 0.45, sy - 1.6, 0.3], [0.35, 0.45, 0.3], -0.2)
    add([sx - 0.5, sy - 1.55, 0.75], [0.22, 0.25, 0.15], 0.25)
    add([sx - 0.6, sy - 0.5, 0.5], [0.35, 0.35, 0.5])
    add([1.4, 0.45, 0.25], [0.4, 0.3, 0.25], 0.15)
    add([2.2, 0.35, 0.15], [0.3, 0.25, 0.15], -0.3)
    add([4.0, sy - 0.3, 0.2], [0.5, 0.25, 0.2], 0.05)
    # Flat things on the walls: pictures, boards and a door.
    add([sx - 0.01, sy / 2, 1.6], [0.01, 0.45, 0.3])
    add([sx - 0.01, 1.2, 1.7], [0.01, 0.3, 0.4])
    add([3.4, 0.01, 1.0], [0.45, 0.01, 1.0], patches_per_m2=12.0)
    add([5.0, 0.01, 1.6], [0.5, 0.01, 0.35])
    add([4.5, sy - 0.01, 1.55], [0.6, 0.01, 0.4])
    add([0.01, 4.5, 1.5], [0.01, 0.5, 0.35])
    add([0.01, 1.0, 1.3], [0.01, 0.35, 0.5])
    add([sx / 2, sy / 2, 0.002], [1.2, 0.9, 0.002], 0.2, patches_per_m2=40.0)  # rug
    return boxes
