"""The built-in synthetic room: ray-cast colour and metric depth for any camera pose.

Pure numpy/OpenCV, deterministic by seed, fast enough to render a few hundred 640x480 frames in
well under a minute: one ray per pixel against oriented boxes (each box only tests the pixels
inside its projected bounding rectangle), textures looked up in a pre-blurred atlas chosen by
each pixel's footprint so distant surfaces do not alias, Lambertian shading from fixed lights
(so a surface looks the same from every view, as a real matte room would).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from scr_localizer.demo.geometry import U_AXIS, V_AXIS, V_DOWN, Box, build_room
from scr_localizer.demo.textures import TextureAtlas, make_texture
from scr_localizer.demo.trajectories import SCENES
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.io.frames import RGBDFrame

NEAR_M = 1e-3


@dataclass(frozen=True)
class DemoSceneConfig:
    """Camera like a RealSense D435 colour stream at 640x480 (scaled for other sizes)."""

    seed: int = 0
    width: int = 640
    height: int = 480
    room_size_m: tuple[float, float, float] = (7.0, 6.0, 2.7)
    texel_m: float = 0.004
    mapping_frames: int = 300
    query_frames: int = 100
    frame_rate_hz: float = 15.0
    start_stamp_ns: int = 1_700_000_000 * 10**9
    image_noise_std: float = 1.5
    optical_frame: str = "camera_color_optical_frame"
    scene: str = "area"  # camera paths (demo.trajectories.SCENES): area or room360

    def camera(self) -> PinholeCamera:
        scale_x, scale_y = self.width / 640.0, self.height / 480.0
        return PinholeCamera(self.width, self.height, 615.0 * scale_x, 615.0 * scale_y,
                             320.0 * scale_x, 240.0 * scale_y)


class DemoScene:
    """Geometry, textures and trajectories of one seeded room."""

    def __init__(self, config: DemoSceneConfig = DemoSceneConfig()):
        self.config = config
        self.camera = config.camera()
        rng = np.random.default_rng(config.seed)
        self.boxes: list[Box] = build_room(rng, config.room_size_m)
        textures = [
            make_texture(rng, *box.face_extent_m(face), config.texel_m, box.face_style(face))
            for box in self.boxes
            for face in range(6)
        ]
        self.atlas = TextureAtlas.pack(textures, config.texel_m)
        self.surface_normals = np.concatenate(
            [box.face_normals_world() for box in self.boxes]
        ).astype(np.float32)
        sx, sy, sz = config.room_size_m
        self.lights = np.array(
            [[sx * 0.3, sy * 0.35, sz - 0.2], [sx * 0.7, sy * 0.65, sz - 0.2]], dtype=np.float32
        )
        cam = self.camera
        u, v = np.meshgrid(np.arange(cam.width, dtype=np.float32),
                           np.arange(cam.height, dtype=np.float32))
        self._grid_x = (u - np.float32(cam.cx)) / np.float32(cam.fx)
        self._grid_y = (v - np.float32(cam.cy)) / np.float32(cam.fy)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, world_from_camera: np.ndarray, noise_seed: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(colour HxWx3 uint8 RGB, depth HxW float32 metres along the optical axis)."""
        pose = np.asarray(world_from_camera, dtype=np.float64)
        rotation, origin = pose[:3, :3].astype(np.float32), pose[:3, 3]
        # World ray directions as three planar arrays (z = 1 in the optical frame, so the ray
        # parameter t is the depth along the optical axis).
        grid_x, grid_y = self._grid_x, self._grid_y
        rays = [rotation[j, 0] * grid_x + rotation[j, 1] * grid_y + rotation[j, 2]
                for j in range(3)]
        height, width = grid_x.shape
        best_t = np.full((height, width), np.inf, dtype=np.float32)
        surface = np.zeros((height, width), dtype=np.int32)
        tex_u = np.zeros((height, width), dtype=np.float32)
        tex_v = np.zeros((height, width), dtype=np.float32)
        for index, box in enumerate(self.boxes):
            window = self._screen_window(box, pose)
            if window is None:
                continue
            y0, y1, x0, x1 = window
            self._intersect_box(box, index, origin, [r[y0:y1, x0:x1] for r in rays],
                                best_t[y0:y1, x0:x1], surface[y0:y1, x0:x1],
                                tex_u[y0:y1, x0:x1], tex_v[y0:y1, x0:x1])
        missed = ~np.isfinite(best_t)
        best_t[missed] = 0.0
        normals = [self.surface_normals[:, j][surface] for j in range(3)]
        points = [np.float32(origin[j]) + rays[j] * best_t for j in range(3)]
        ray_length = np.sqrt(rays[0] ** 2 + rays[1] ** 2 + rays[2] ** 2)
        cos_view = np.abs(normals[0] * rays[0] + normals[1] * rays[1] + normals[2] * rays[2])
        cos_view /= ray_length
        footprint = (best_t * ray_length) / (self.camera.fx * self.config.texel_m)
        footprint /= np.maximum(cos_view, 0.2)
        albedo = self.atlas.sample(surface, tex_u, tex_v, footprint)
        shade = np.full((height, width), 0.38, dtype=np.float32)
        for light in self.lights:
            to_light = [light[j] - points[j] for j in range(3)]
            distance2 = to_light[0] ** 2 + to_light[1] ** 2 + to_light[2] ** 2
            cos_light = (normals[0] * to_light[0] + normals[1] * to_light[1]
                         + normals[2] * to_light[2]) / np.sqrt(distance2 + 1e-9)
            shade += 0.55 * np.clip(cos_light, 0.0, None) / (1.0 + 0.06 * distance2)
        shade *= 1.25
        color = albedo * shade[..., None]
        if self.config.image_noise_std > 0:
            noise_rng = np.random.default_rng(
                [self.config.seed, 0 if noise_seed is None else noise_seed + 1]
            )
            color += noise_rng.standard_normal(color.shape, dtype=np.float32) * np.float32(
                self.config.image_noise_std)
        color[missed] = 0.0
        return np.clip(color, 0, 255).astype(np.uint8), best_t

    def _screen_window(self, box: Box, world_from_camera: np.ndarray):
        """Pixel rows/cols that can see the box: the bounding rectangle of its projection."""
        cam = self.camera
        if box.interior:
            return 0, cam.height, 0, cam.width
        rotation, origin = world_from_camera[:3, :3], world_from_camera[:3, 3]
        corners = (box.corners_world() - origin) @ rotation
        z = corners[:, 2]
        if np.all(z <= NEAR_M):
            return None
        if np.any(z <= 0.05):
            return 0, cam.height, 0, cam.width
        u = cam.fx * corners[:, 0] / z + cam.cx
        v = cam.fy * corners[:, 1] / z + cam.cy
        x0, x1 = int(max(np.floor(u.min()) - 1, 0)), int(min(np.ceil(u.max()) + 2, cam.width))
        y0, y1 = int(max(np.floor(v.min()) - 1, 0)), int(min(np.ceil(v.max()) + 2, cam.height))
        if x0 >= x1 or y0 >= y1:
            return None
        return y0, y1, x0, x1

    @staticmethod
    def _intersect_box(box: Box, index: int, origin, rays, best_t, surface, tex_u, tex_v):
        """Slab test of a window of rays against one box; updates the z-buffer views in place."""
        rotation = box.world_from_box_rotation.astype(np.float32)
        origin_local = (rotation.T @ (origin - box.center)).astype(np.float32)
        if box.yaw == 0.0:
            directions = rays
        else:
            directions = [rotation[0, k] * rays[0] + rotation[1, k] * rays[1]
                          + rotation[2, k] * rays[2] for k in range(3)]
        half = box.half_size.astype(np.float32)
        near, far = [], []
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for k in range(3):
                inverse = 1.0 / directions[k]
                t_low = (-half[k] - origin_local[k]) * inverse
                t_high = (half[k] - origin_local[k]) * inverse
                near.append(np.fmin(t_low, t_high))
                far.append(np.fmax(t_low, t_high))
        if box.interior:
            # Leaving the room: the nearest exit plane.
            t_hit = np.fmin(np.fmin(far[0], far[1]), far[2])
            axis = np.where(far[0] == t_hit, 0, np.where(far[1] == t_hit, 1, 2))
            hit = (t_hit > NEAR_M) & (t_hit < best_t)
        else:
            t_hit = np.fmax(np.fmax(near[0], near[1]), near[2])
            t_exit = np.fmin(np.fmin(far[0], far[1]), far[2])
            hit = (t_hit <= t_exit) & (t_hit > NEAR_M) & (t_hit < best_t)
            if not hit.any():
                return
            axis = np.where(near[0] == t_hit, 0, np.where(near[1] == t_hit, 1, 2))
        if not hit.any():
            return
        axis = axis[hit]
        t_hit = t_hit[hit]
        d = np.stack([directions[k][hit] for k in range(3)], axis=1)
        points = origin_local + d * t_hit[:, None]
        d_axis = np.take_along_axis(d, axis[:, None], -1)[:, 0]
        positive_side = (d_axis > 0) if box.interior else (d_axis < 0)
        face = 2 * axis + positive_side
        u_axis, v_axis = U_AXIS[axis], V_AXIS[axis]
        u = np.take_along_axis(points, u_axis[:, None], -1)[:, 0] + half[u_axis]
        # Run u to the viewer's right on vertical faces, so marks do not appear mirrored.
        normal_positive = positive_side != box.interior
        flip = ((axis == 0) & ~normal_positive) | ((axis == 1) & normal_positive)
        u = np.where(flip, 2 * half[u_axis] - u, u)
        v_coord = np.take_along_axis(points, v_axis[:, None], -1)[:, 0]
        v = np.where(V_DOWN[axis], half[v_axis] - v_coord, v_coord + half[v_axis])
        best_t[hit] = t_hit
        surface[hit] = 6 * index + face
        tex_u[hit] = u
        tex_v[hit] = v

    # -- trajectories and frames -------------------------------------------------------------

    def mapping_poses(self) -> list[np.ndarray]:
        return SCENES[self.config.scene][0](self.config.mapping_frames)

    def query_poses(self) -> list[np.ndarray]:
        return SCENES[self.config.scene][1](self.config.query_frames)

    def frames(self, poses: Sequence[np.ndarray], name: str = "frame",
               first_index: int = 0) -> Iterator[RGBDFrame]:
        """Render poses lazily as RGBDFrames (ground-truth pose attached), one per 1/rate s."""
        period_ns = int(round(1e9 / self.config.frame_rate_hz))
        for i, pose in enumerate(poses):
            index = first_index + i
            color, depth = self.render(pose, noise_seed=index)
            yield RGBDFrame(
                stamp_ns=self.config.start_stamp_ns + index * period_ns,
                color=color,
                camera=self.camera,
                depth=depth,
                world_from_camera=np.array(pose, dtype=np.float64),
                frame_id=self.config.optical_frame,
                name=f"{name}-{i:05d}",
            )

    def mapping_frames(self) -> Iterator[RGBDFrame]:
        return self.frames(self.mapping_poses(), "mapping")

    def query_frames_first_index(self, mapping_frames: int | None = None) -> int:
        """Query frames are numbered (stamps, image noise) from here: 10 s after mapping ends,
        like a later recording."""
        count = self.config.mapping_frames if mapping_frames is None else mapping_frames
        return count + int(self.config.frame_rate_hz * 10)

    def query_frames(self) -> Iterator[RGBDFrame]:
        return self.frames(self.query_poses(), "query", self.query_frames_first_index())
