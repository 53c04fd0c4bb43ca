"""Coloured point clouds of mapped scene coordinates, as binary PLY (opens in MeshLab, CloudCompare,
Open3D) so a map can be inspected by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import atomic_write


def voxel_downsample(xyz: np.ndarray, rgb: np.ndarray, voxel_m: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One point (the first) per voxel of size voxel_m; voxel_m <= 0 keeps everything."""
    if voxel_m <= 0 or len(xyz) == 0:
        return xyz, rgb
    keys = np.floor(np.asarray(xyz) / voxel_m).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    first.sort()
    return xyz[first], rgb[first]


def write_ply(path: str | Path, xyz: np.ndarray, rgb: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY with float32 x, y, z and uint8 red, green, blue; atomic write."""
    path = Path(path)
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    if rgb is None:
        rgb = np.full((len(xyz), 3), 200, np.uint8)
    rgb = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if len(rgb) != len(xyz):
        raise ScrLocalizerError(f"{len(xyz)} points but {len(rgb)} colours; expected one per point")
    if not path.parent.exists():
        raise ScrLocalizerError(f"output folder '{path.parent}' does not exist")
    vertex = np.empty(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                       ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vertex["x"], vertex["y"], vertex["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment scr_localizer mapped scene coordinates\n"
        f"element vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    ).encode("ascii")
    with atomic_write(path, "wb") as handle:
        handle.write(header)
        handle.write(vertex.tobytes())
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back what write_ply writes (for tests and tools)."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ScrLocalizerError(f"'{path}' is not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    vertex = np.frombuffer(data[end + len(b"end_header\n"):], count=count, dtype=[
        ("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
    rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1)
    return xyz, rgb
