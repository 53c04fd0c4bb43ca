"""Procedural, non-repeating surface textures packed into one mip-blurred atlas.

Feature encoders need distinct local patterns everywhere, so each surface gets its own
multi-octave value noise, coloured patches, stripes and text-like marks, all drawn from the
scene's random generator (deterministic by seed) and never tiled.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import cv2
import numpy as np

# Mip levels of the atlas (each half the size of the previous, Gaussian-filtered); level k is
# used where one pixel covers ~2**k texels, so distant surfaces do not alias.
MIP_LEVELS = 4
ATLAS_WIDTH = 8192
PADDING = 16  # texels around each tile, so filtering at every level stays inside the tile

_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
)
_CHARS = string.ascii_uppercase + string.digits + "#%&@+"


@dataclass(frozen=True)
class TextureStyle:
    """How busy a surface looks; the palette's hue keeps surfaces apart."""

    base_rgb: tuple[int, int, int]
    patches_per_m2: float = 30.0
    marks_per_m2: float = 12.0
    stripes: bool = False
    planks: bool = False


def value_noise(rng: np.random.Generator, height: int, width: int, cell_texels: float,
                channels: int = 3) -> np.ndarray:
    """One octave of value noise in [-1, 1]: a random lattice resized with bicubic filtering."""
    gh = max(2, int(np.ceil(height / cell_texels)) + 1)
    gw = max(2, int(np.ceil(width / cell_texels)) + 1)
    lattice = rng.uniform(-1.0, 1.0, size=(gh, gw, channels)).astype(np.float32)
    noise = cv2.resize(lattice, (width, height), interpolation=cv2.INTER_CUBIC)
    return noise.reshape(height, width, channels)


def _random_color(rng: np.random.Generator, base: np.ndarray) -> tuple[int, int, int]:
    if rng.random() < 0.3:
        color = rng.uniform(0, 255, size=3)
    else:
        color = base * rng.uniform(0.3, 1.6) + rng.normal(0, 35, size=3)
    return tuple(int(c) for c in np.clip(color, 0, 255))


def make_texture(rng: np.random.Generator, width_m: float, height_m: float, texel_m: float,
                 style: TextureStyle) -> np.ndarray:
    """An RGB uint8 texture covering width_m x height_m metres of one surface."""
    width = max(8, int(round(width_m / texel_m)))
    height = max(8, int(round(height_m / texel_m)))
    base = np.asarray(style.base_rgb, dtype=np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    image[:] = base
    # Multi-octave colour noise: large blotches down to fine grain.
    # Multi-octave value noise, mostly brightness with a little colour, like stains and grain.
    for cell_m, amplitude, chroma in ((0.6, 30.0, 14.0), (0.25, 22.0, 8.0), (0.09, 16.0, 5.0),
                                      (0.035, 11.0, 3.0), (0.012, 8.0, 2.0)):
        noise = value_noise(rng, height, width, max(cell_m / texel_m, 1.5), channels=4)
        image += amplitude * noise[..., :1] + chroma * noise[..., 1:]
    if style.planks:
        plank_m = rng.uniform(0.12, 0.2)
        rows = np.arange(height) * texel_m
        plank = np.floor(rows / plank_m).astype(int)
        shade = rng.normal(0, 18, size=plank.max() + 1)[plank]
        image += shade[:, None, None]
        image[(rows % plank_m) < 0.006] *= 0.55
    if style.stripes:
        period_m = rng.uniform(0.15, 0.4)
        cols = np.arange(width) * texel_m
        wave = np.sin(2 * np.pi * cols / period_m + rng.uniform(0, 6.28))
        image += (14.0 * wave)[None, :, None] * rng.uniform(-1, 1, size=3)[None, None, :]
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    area = width_m * height_m
    # Coloured patches: ellipses, rectangles and polygons, alpha-blended.
    for _ in range(int(rng.poisson(style.patches_per_m2 * area)) + 2):
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        size_t = max(2, int(rng.uniform(0.02, 0.22) / texel_m))
        # Draw into a small window around the patch only (copying the whole canvas is slow).
        x0, y0 = max(0, cx - 3 * size_t), max(0, cy - 3 * size_t)
        x1, y1 = min(width, cx + 3 * size_t + 1), min(height, cy + 3 * size_t + 1)
        window = canvas[y0:y1, x0:x1]
        overlay = window.copy()
        center = (cx - x0, cy - y0)
        color = _random_color(rng, base)
        kind = rng.integers(4)
        if kind == 0:
            axes = (size_t, max(1, int(size_t * rng.uniform(0.2, 1.0))))
            cv2.ellipse(overlay, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1,
                        cv2.LINE_AA)
        elif kind == 1:
            corner = (center[0] + size_t, center[1] + int(size_t * rng.uniform(0.3, 1.5)))
            cv2.rectangle(overlay, center, corner, color, -1)
        elif kind == 2:
            points = np.array(center) + rng.normal(0, size_t, size=(int(rng.integers(3, 7)), 2))
            points = np.clip(points, -3 * size_t, 6 * size_t)
            cv2.fillPoly(overlay, [points.astype(np.int32)], color, cv2.LINE_AA)
        else:
            cv2.circle(overlay, center, size_t, color, max(1, size_t // 5), cv2.LINE_AA)
        alpha = rng.uniform(0.35, 0.9)
        window[:] = cv2.addWeighted(overlay, alpha, window, 1 - alpha, 0)
    # Text-like marks and lines: sharp, high-contrast corners for keypoint detectors.
    for _ in range(int(rng.poisson(style.marks_per_m2 * area)) + 2):
        origin = (int(rng.uniform(-0.05, 1.0) * width), int(rng.uniform(0.05, 1.05) * height))
        color = _random_color(rng, 255 - base)
        if rng.random() < 0.7:
            text = "".join(rng.choice(list(_CHARS), size=int(rng.integers(2, 9))))
            scale = rng.uniform(0.03, 0.12) / texel_m / 22.0
            thickness = max(1, int(round(scale * rng.uniform(1.0, 2.5))))
            cv2.putText(canvas, text, origin, _FONTS[int(rng.integers(len(_FONTS)))], scale,
                        color, thickness, cv2.LINE_AA)
        else:
            end = (origin[0] + int(rng.normal(0, 0.3 / texel_m)),
                   origin[1] + int(rng.normal(0, 0.3 / texel_m)))
            cv2.line(canvas, origin, end, color, max(1, int(rng.uniform(0.003, 0.015) / texel_m)),
                     cv2.LINE_AA)
    return canvas


@dataclass
class TextureAtlas:
    """All surface textures in one image per blur level, plus where each surface's tile lies."""

    levels: list[np.ndarray]
    tile_origin: np.ndarray  # (num_surfaces, 2) texel x, y of each tile's (0, 0) corner
    tile_size: np.ndarray  # (num_surfaces, 2) width, height in texels
    texel_m: float

    @classmethod
    def pack(cls, textures: list[np.ndarray], texel_m: float) -> TextureAtlas:
        """Shelf-pack the tiles (tallest first); pad each by reflection so blur never bleeds."""
        order = sorted(range(len(textures)), key=lambda i: -textures[i].shape[0])
        origins = np.zeros((len(textures), 2), dtype=np.float32)
        sizes = np.array([[t.shape[1], t.shape[0]] for t in textures], dtype=np.float32)
        x = y = shelf_height = 0
        placements = []
        for index in order:
            h, w = textures[index].shape[:2]
            pw, ph = w + 2 * PADDING, h + 2 * PADDING
            if pw > ATLAS_WIDTH:
                raise ValueError(f"texture {w} texels wide exceeds the atlas width")
            if x + pw > ATLAS_WIDTH:
                x, y, shelf_height = 0, y + shelf_height, 0
            placements.append((index, x, y))
            origins[index] = (x + PADDING, y + PADDING)
            x += pw
            shelf_height = max(shelf_height, ph)
        atlas = np.zeros((y + shelf_height, ATLAS_WIDTH, 3), dtype=np.uint8)
        for index, px, py in placements:
            padded = cv2.copyMakeBorder(textures[index], PADDING, PADDING, PADDING, PADDING,
                                        cv2.BORDER_REFLECT_101)
            atlas[py:py + padded.shape[0], px:px + padded.shape[1]] = padded
        levels = [atlas]
        for _ in range(MIP_LEVELS - 1):
            levels.append(cv2.pyrDown(levels[-1]))
        return cls(levels=levels, tile_origin=origins, tile_size=sizes, texel_m=texel_m)

    def sample(self, surface: np.ndarray, u_m: np.ndarray, v_m: np.ndarray,
               footprint_texels: np.ndarray) -> np.ndarray:
        """Bilinear, footprint-blended (trilinear-like) lookup; returns float32 RGB (..., 3)."""
        inv = 1.0 / self.texel_m
        size = self.tile_size[surface]
        tx = np.clip(u_m * inv, 0.0, size[..., 0] - 1.0) + self.tile_origin[surface, 0]
        ty = np.clip(v_m * inv, 0.0, size[..., 1] - 1.0) + self.tile_origin[surface, 1]
        map_x = np.ascontiguousarray(tx, dtype=np.float32)
        map_y = np.ascontiguousarray(ty, dtype=np.float32)
        if map_x.ndim == 1:
            map_x, map_y = map_x[None, :], map_y[None, :]
        level = np.clip(np.log2(np.maximum(footprint_texels, 1e-6)), 0.0, len(self.levels) - 1.0)
        level = level.reshape(map_x.shape)
        result = np.zeros(map_x.shape + (3,), dtype=np.float32)
        for k, atlas in enumerate(self.levels):
            weight = np.clip(1.0 - np.abs(level - k), 0.0, 1.0)
            if not weight.any():
                continue
            # Texel centres of level k sit at (x + 0.5) / 2**k - 0.5 in its pixels.
            scale = np.float32(0.5**k)
            shift = np.float32(0.5 * scale - 0.5)
            sampled = cv2.remap(atlas, map_x * scale + shift, map_y * scale + shift,
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            result += weight[..., None] * sampled
        return result.reshape(tuple(np.shape(u_m)) + (3,))
