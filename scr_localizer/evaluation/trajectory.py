"""TUM trajectory files (`t tx ty tz qx qy qz qw`, seconds), the format evo and most SLAM
evaluation tools read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import (
    pose_from_translation_quaternion,
    translation_quaternion_from_pose,
)
from scr_localizer.io.atomic import atomic_write


def _format_stamp(stamp_ns: int) -> str:
    """Exact decimal seconds (no float rounding of 19-digit nanosecond stamps)."""
    stamp_ns = int(stamp_ns)
    sign = "-" if stamp_ns < 0 else ""
    seconds, nanoseconds = divmod(abs(stamp_ns), 1_000_000_000)
    return f"{sign}{seconds}.{nanoseconds:09d}"


def _parse_stamp(text: str) -> int:
    if "e" in text.lower():
        return int(round(float(text) * 1e9))
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    fraction = (fraction + "000000000")[:9]
    return sign * (int(whole or 0) * 1_000_000_000 + int(fraction))


def write_tum(path, stamps_ns: Sequence[int], world_from_camera_list: Sequence[np.ndarray],
              header: str | None = None) -> Path:
    """Atomic write of one pose per line."""
    path = Path(path)
    if len(stamps_ns) != len(world_from_camera_list):
        raise ScrLocalizerError(
            f"write_tum got {len(stamps_ns)} stamps but {len(world_from_camera_list)} poses; "
            "expected one pose per stamp"
        )
    lines = [f"# {header}"] if header else []
    for stamp_ns, pose in zip(stamps_ns, world_from_camera_list):
        translation, q = translation_quaternion_from_pose(np.asarray(pose, dtype=np.float64))
        values = " ".join(f"{v:.9f}" for v in (*translation, *q))
        lines.append(f"{_format_stamp(stamp_ns)} {values}")
    if not path.parent.is_dir():
        raise ScrLocalizerError(f"output folder {path.parent} does not exist; create it first")
    with atomic_write(path) as stream:
        stream.write("\n".join(lines) + ("\n" if lines else ""))
    return path


def read_tum(path) -> tuple[list[int], list[np.ndarray]]:
    """(stamps in ns, world_from_camera 4x4 list); '#' lines and blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ScrLocalizerError(f"trajectory file {path} not found; expected a TUM text file")
    stamps, poses = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        if len(fields) != 8:
            raise ScrLocalizerError(
                f"{path}:{number} has {len(fields)} values; expected 8 (t tx ty tz qx qy qz qw)"
            )
        try:
            stamp = _parse_stamp(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError as exc:
            raise ScrLocalizerError(f"{path}:{number} is not numeric: {line!r}") from exc
        q = np.asarray(values[3:])
        norm = np.linalg.norm(q)
        if not np.isfinite(norm) or norm < 1e-9:
            raise ScrLocalizerError(f"{path}:{number} has an invalid quaternion {values[3:]}")
        stamps.append(stamp)
        poses.append(pose_from_translation_quaternion(values[:3], q / norm))
    return stamps, poses
