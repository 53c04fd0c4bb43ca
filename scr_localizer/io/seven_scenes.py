"""7-Scenes-layout folders (frame-NNNNNN.color.{png,jpg}, .depth.png, .pose.txt).

12-Scenes and 3DMatch/SUN3D fragments share the layout with other cameras, so both cameras are
configurable. Depth PNGs are uint16 millimetres with 0 (and 65535) invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.registration import register_depth
from scr_localizer.geometry.transforms import nearest_rotation, rigid_problem
from scr_localizer.io.frames import RGBDFrame, sanitize_depth
from scr_localizer.validation import check_number

_FRAME_RE = re.compile(r"^frame-(\d+)\.color\.(png|jpg|jpeg)$")


def seven_scenes_camera(focal: float, width: int = 640, height: int = 480) -> PinholeCamera:
    return PinholeCamera(width, height, focal, focal, 320.0, 240.0)


@dataclass(frozen=True)
class SevenScenesConfig:
    """Colour focal 525 and depth focal 585 are the 7-Scenes conventions (see the data README)."""

    color_camera: PinholeCamera = field(default_factory=lambda: seven_scenes_camera(525.0))
    depth_camera: PinholeCamera = field(default_factory=lambda: seven_scenes_camera(585.0))
    depth_aligned: bool = False
    frame_rate_hz: float = 30.0
    start_stamp_ns: int = 1_700_000_000 * 10**9

    def __post_init__(self):
        check_number(self.frame_rate_hz, "frame_rate_hz (--fps)", 0, low_open=True,
                     hint="frames per second, for the stamps")


# Without a folder to check against, a range may select at most this many frames (a typo such
# as 0:99999999999 would otherwise be expanded into memory).
MAX_SELECTED_FRAMES = 1_000_000


def parse_frame_ranges(spec: str, last_index: int | None = None) -> list[int]:
    """'A:B[:STEP][,A:B[:STEP]...]' (B exclusive) or single indices 'N' → sorted unique indices.

    Indices must be >= 0 and, when `last_index` is given (the folder's last frame), at most that;
    both are checked before a range is expanded."""
    indices: set[int] = set()
    limit = MAX_SELECTED_FRAMES - 1 if last_index is None else last_index
    where = "" if last_index is None else f" (the folder's last frame is {last_index})"
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        fields = part.split(":")
        try:
            numbers = [int(f) for f in fields]
        except ValueError:
            raise ScrLocalizerError(
                f"bad frame range '{part}'; expected A:B[:STEP] with integers, e.g. 0:500:2"
            ) from None
        if len(numbers) > 3:
            raise ScrLocalizerError(f"bad frame range '{part}'; expected A:B[:STEP]")
        if numbers[0] < 0:
            raise ScrLocalizerError(f"bad frame range '{part}'; expected indices >= 0")
        if len(numbers) == 1:
            first, end, step = numbers[0], numbers[0] + 1, 1
        else:
            first, end = numbers[:2]
            step = numbers[2] if len(numbers) == 3 else 1
            if step <= 0 or end < first:
                raise ScrLocalizerError(
                    f"bad frame range '{part}'; expected A <= B and a positive STEP"
                )
        if end - 1 > limit:
            raise ScrLocalizerError(
                f"frame range '{part}' goes past frame {limit}{where}; expected indices "
                f"0..{limit}")
        indices.update(range(first, end, step))
    return sorted(indices)


def list_frames(folder: str | Path) -> dict[int, Path]:
    """Frame index → colour image path for every frame in the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScrLocalizerError(f"dataset folder '{folder}' does not exist")
    frames = {}
    for path in folder.iterdir():
        match = _FRAME_RE.match(path.name)
        if match:
            frames[int(match.group(1))] = path
    if not frames:
        raise ScrLocalizerError(
            f"no frame-NNNNNN.color.png|jpg files in '{folder}'; expected a 7-Scenes layout folder"
        )
    return dict(sorted(frames.items()))


def read_pose(path: Path) -> np.ndarray:
    try:
        pose = np.loadtxt(path, dtype=np.float64).reshape(4, 4)
    except (OSError, ValueError) as exc:
        raise ScrLocalizerError(f"cannot read pose '{path}': expected a 4x4 matrix ({exc})") from None
    problem = rigid_problem(pose)
    if problem:
        raise ScrLocalizerError(f"pose '{path}' is not a rigid camera pose: {problem}")
    # The files' rotations are orthonormal only to ~2e-4, which reads as ~1 degree of rotation
    # error when compared through arccos of a trace.
    pose[:3, :3] = nearest_rotation(pose[:3, :3])
    return pose


def read_frame(
    color_path: Path, index: int, config: SevenScenesConfig = SevenScenesConfig()
) -> RGBDFrame:
    folder = color_path.parent
    stem = f"frame-{index:06d}"
    bgr = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ScrLocalizerError(f"cannot decode colour image '{color_path}'")
    color = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    depth_path = folder / f"{stem}.depth.png"
    depth = None
    if depth_path.exists():
        raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint16:
            raise ScrLocalizerError(f"depth image '{depth_path}' is not a 16-bit PNG")
        raw = raw.astype(np.float32)
        raw[raw >= 65535] = 0
        depth = sanitize_depth(raw / 1000.0)
        if not config.depth_aligned:
            depth = register_depth(depth, config.depth_camera, config.color_camera)
    pose_path = folder / f"{stem}.pose.txt"
    world_from_camera = read_pose(pose_path) if pose_path.exists() else None
    stamp_ns = config.start_stamp_ns + int(round(index * 1e9 / config.frame_rate_hz))
    return RGBDFrame(
        stamp_ns=stamp_ns,
        color=color,
        camera=config.color_camera,
        depth=depth,
        world_from_camera=world_from_camera,
        name=stem,
    )


def iter_frames(
    folder: str | Path,
    indices: Sequence[int] | None = None,
    config: SevenScenesConfig = SevenScenesConfig(),
) -> Iterator[RGBDFrame]:
    available = list_frames(folder)
    wanted = list(available) if indices is None else list(indices)
    missing = [i for i in wanted if i not in available]
    if missing:
        raise ScrLocalizerError(
            f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} are not in '{folder}' "
            f"(it holds {min(available)}..{max(available)})"
        )
    with_depth = [i for i in wanted if _depth_path(available[i], i).exists()]
    if with_depth and len(with_depth) != len(wanted):
        lacking = next(i for i in wanted if not _depth_path(available[i], i).exists())
        raise ScrLocalizerError(
            f"{_depth_path(available[lacking], lacking)} is missing while other frames have "
            "depth; expected a depth image for every frame (or none, for RGB-only data)"
        )
    for index in wanted:
        yield read_frame(available[index], index, config)


def _depth_path(color_path: Path, index: int) -> Path:
    return color_path.parent / f"frame-{index:06d}.depth.png"


def interleaved_split(
    num_frames: int, block: int = 50
) -> tuple[list[int], list[int]]:
    """The split used throughout the project: map even `block`-frame blocks, query odd ones."""
    mapping = [i for i in range(num_frames) if (i // block) % 2 == 0]
    query = [i for i in range(num_frames) if (i // block) % 2 == 1]
    return mapping, query
