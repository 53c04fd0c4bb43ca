"""Dataset folders -> RealSense-like ROS 2 bags (7-Scenes layout, TUM RGB-D layout).

Both converters stream frames into `write_rgbd_bag`, so a converted bag is read back exactly like
a recording and mapping/evaluation only ever consume bags.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.stamps import nearest_stamp_index
from scr_localizer.geometry.transforms import interpolate_pose, pose_from_translation_quaternion
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.frames import RGBDFrame, sanitize_depth
from scr_localizer.io.seven_scenes import SevenScenesConfig, iter_frames, list_frames

# --- intrinsics given on the command line ---------------------------------------------------------


def camera_from_spec(spec: str, width: int, height: int, name: str = "intrinsics"
                     ) -> PinholeCamera:
    """'F' (fx = fy = F, centred), 'FX,FY,CX,CY', or a path to a 3x3 intrinsics text file.

    Numbers are tried first: '535.4,539.2,320.1,247.6' has a path suffix ('.6') but is no file.
    `name` (e.g. '--color-intrinsics') is the source named in errors."""
    spec = str(spec).strip()
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    try:
        if len(values) == 1:
            return PinholeCamera(width, height, values[0], values[0], width / 2, height / 2)
        if len(values) == 4:
            return PinholeCamera(width, height, *values)
        path = Path(spec)
        if not (path.suffix or path.exists() or "/" in spec):
            raise ScrLocalizerError(
                "expected a focal length F, FX,FY,CX,CY, or a 3x3 matrix file")
        if not path.is_file():
            raise ScrLocalizerError(
                "no such file; expected a 3x3 matrix text file, a focal length, or FX,FY,CX,CY")
        try:
            k = np.loadtxt(path, dtype=np.float64).reshape(3, 3)
        except ValueError:
            raise ScrLocalizerError(
                "the file does not hold a 3x3 matrix (camera-intrinsics.txt)") from None
        return PinholeCamera(width, height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    except ScrLocalizerError as exc:
        raise ScrLocalizerError(f"bad {name} '{spec}': {exc}") from None


# --- 7-Scenes layout ----------------------------------------------------------------------------


@dataclass
class SevenScenesConvertOptions:
    """Cameras: None keeps the 7-Scenes conventions (colour 525, depth 585, centre 320/240) for
    640x480 images. `raw_depth` writes the depth stream unregistered with its own CameraInfo
    (the reader registers it) instead of registering it during conversion."""

    indices: Sequence[int] | None = None
    color_intrinsics: str | None = None
    depth_intrinsics: str | None = None
    depth_aligned: bool = False
    raw_depth: bool = False
    frame_rate_hz: float = 30.0


def _image_size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ScrLocalizerError(f"cannot read image '{path}'")
    return image.shape[1], image.shape[0]


def seven_scenes_config(folder: str | Path, options: SevenScenesConvertOptions) -> SevenScenesConfig:
    """SevenScenesConfig with cameras sized from the folder's first images and the options."""
    available = list_frames(folder)
    first_index, first_color = next(iter(available.items()))
    width, height = _image_size(first_color)
    depth_path = Path(folder) / f"frame-{first_index:06d}.depth.png"
    depth_size = _image_size(depth_path) if depth_path.exists() else (width, height)
    defaults = SevenScenesConfig()
    color = (
        camera_from_spec(options.color_intrinsics, width, height, "--color-intrinsics")
        if options.color_intrinsics
        else _resized(defaults.color_camera, width, height)
    )
    if options.depth_intrinsics:
        depth = camera_from_spec(options.depth_intrinsics, *depth_size, "--depth-intrinsics")
    elif options.depth_aligned:
        depth = color
    else:
        depth = _resized(defaults.depth_camera, *depth_size)
    if options.depth_aligned and depth_size != (width, height):
        raise ScrLocalizerError(
            f"depth images are {depth_size[0]}x{depth_size[1]} but colour is {width}x{height}; "
            "depth cannot be 'already aligned' with colour (drop --depth-aligned)"
        )
    return SevenScenesConfig(
        color_camera=color,
        depth_camera=depth,
        depth_aligned=options.depth_aligned or options.raw_depth,
        frame_rate_hz=options.frame_rate_hz,
    )


def _resized(camera: PinholeCamera, width: int, height: int) -> PinholeCamera:
    if (camera.width, camera.height) == (width, height):
        return camera
    return camera.scaled(width / camera.width) if width * camera.height == height * camera.width else replace(
        camera, width=width, height=height, cx=width / 2, cy=height / 2
    )


def convert_seven_scenes(
    folder: str | Path,
    out: str | Path,
    options: SevenScenesConvertOptions | None = None,
    write_config: BagWriteConfig | None = None,
    progress: bool = False,
) -> Path:
    options = options or SevenScenesConvertOptions()
    write_config = write_config or BagWriteConfig()
    config = seven_scenes_config(folder, options)
    if options.raw_depth and not options.depth_aligned:
        write_config = replace(write_config, depth_camera=config.depth_camera)
    frames = _require_poses(iter_frames(folder, options.indices, config), folder)
    if progress:
        total = len(options.indices) if options.indices is not None else len(list_frames(folder))
        frames = _progress(frames, total)
    return write_rgbd_bag(out, frames, write_config)


def _progress(frames: Iterator[RGBDFrame], total: int | None) -> Iterator[RGBDFrame]:
    from tqdm import tqdm

    yield from tqdm(frames, total=total, unit="frame", desc="converting", disable=None)


def _require_poses(frames: Iterator[RGBDFrame], folder) -> Iterator[RGBDFrame]:
    for frame in frames:
        if frame.world_from_camera is None:
            raise ScrLocalizerError(
                f"{frame.name}.pose.txt is missing in '{folder}'; expected a pose for every frame"
            )
        yield frame


# --- TUM RGB-D layout -----------------------------------------------------------------------------

# Published calibrations of the TUM RGB-D sequences (https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats).
TUM_CAMERAS = {
    "fr1": (517.3, 516.5, 318.6, 255.3, (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "fr2": (520.9, 521.0, 325.1, 249.7, (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "fr3": (535.4, 539.2, 320.1, 247.6, ()),
    "ros": (525.0, 525.0, 319.5, 239.5, ()),
}
TUM_DEPTH_SCALE = 5000.0  # depth PNG units per metre


@dataclass
class TumConvertOptions:
    camera: str = "auto"  # auto (from the folder name), fr1, fr2, fr3, ros, or an intrinsics spec
    max_difference_s: float = 0.02  # rgb <-> depth association, as TUM's associate.py
    max_pose_gap_s: float = 0.1  # ground truth must bracket the image within this gap


def _read_list(path: Path, columns: int) -> list[list[str]]:
    if not path.is_file():
        raise ScrLocalizerError(
            f"'{path}' does not exist; expected a TUM RGB-D folder with rgb.txt, depth.txt and "
            "groundtruth.txt"
        )
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        if len(fields) < columns:
            raise ScrLocalizerError(
                f"{path.name} line {number} has {len(fields)} fields; expected {columns}"
            )
        rows.append(fields)
    return rows


def tum_camera(folder: Path, spec: str, width: int, height: int) -> PinholeCamera:
    key = spec
    if spec == "auto":
        name = folder.resolve().name.lower()
        key = next((k for k, tag in (("fr1", "freiburg1"), ("fr2", "freiburg2"), ("fr3", "freiburg3")) if tag in name), "ros")
    if key in TUM_CAMERAS:
        fx, fy, cx, cy, d = TUM_CAMERAS[key]
        return PinholeCamera(width, height, fx, fy, cx, cy, "plumb_bob" if d else "", d)
    return camera_from_spec(spec, width, height, "--camera")


def iter_tum_frames(folder: str | Path, options: TumConvertOptions | None = None) -> Iterator[RGBDFrame]:
    """Colour frames with the nearest depth (within max_difference_s) and the ground-truth pose
    interpolated at the colour stamp; frames lacking either are skipped."""
    options = options or TumConvertOptions()
    folder = Path(folder)
    if not folder.is_dir():
        raise ScrLocalizerError(f"dataset folder '{folder}' does not exist")
    try:
        rgb = [(float(r[0]), r[1]) for r in _read_list(folder / "rgb.txt", 2)]
        depth = sorted((float(r[0]), r[1]) for r in _read_list(folder / "depth.txt", 2))
        truth = sorted(
            (float(r[0]), pose_from_translation_quaternion([float(v) for v in r[1:4]],
                                                           [float(v) for v in r[4:8]]))
            for r in _read_list(folder / "groundtruth.txt", 8)
        )
    except ValueError as exc:
        raise ScrLocalizerError(
            f"'{folder}' has a field that is not a number in rgb.txt, depth.txt or "
            f"groundtruth.txt ({exc})") from None
    stamps = [r[0] for r in rgb] + [d[0] for d in depth] + [t[0] for t in truth]
    if not np.all(np.isfinite(stamps)) or not all(np.all(np.isfinite(t[1])) for t in truth):
        raise ScrLocalizerError(
            f"'{folder}' has non-finite stamps or poses in rgb.txt, depth.txt or groundtruth.txt; "
            "expected finite numbers")
    if not rgb or not depth or not truth:
        raise ScrLocalizerError(f"'{folder}' has an empty rgb.txt, depth.txt or groundtruth.txt")
    depth_stamps = [d[0] for d in depth]
    truth_stamps = [t[0] for t in truth]
    width, height = _image_size(folder / rgb[0][1])
    camera = tum_camera(folder, options.camera, width, height)
    produced = 0
    for stamp, name in rgb:
        c = nearest_stamp_index(depth_stamps, stamp, options.max_difference_s)
        if c is None:
            continue
        g = bisect.bisect_left(truth_stamps, stamp)
        if g < len(truth) and truth_stamps[g] == stamp:
            pose = truth[g][1]
        elif 0 < g < len(truth) and truth_stamps[g] - truth_stamps[g - 1] <= options.max_pose_gap_s:
            t0, t1 = truth_stamps[g - 1], truth_stamps[g]
            pose = interpolate_pose(truth[g - 1][1], truth[g][1], (stamp - t0) / (t1 - t0))
        else:
            continue
        bgr = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        raw = cv2.imread(str(folder / depth[c][1]), cv2.IMREAD_UNCHANGED)
        if bgr is None or raw is None or raw.dtype != np.uint16:
            raise ScrLocalizerError(
                f"cannot read '{name}' / '{depth[c][1]}' in '{folder}'; expected a colour image "
                "and a 16-bit depth PNG"
            )
        produced += 1
        yield RGBDFrame(
            stamp_ns=int(round(stamp * 1e9)),
            color=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
            camera=camera,
            depth=sanitize_depth(raw.astype(np.float32) / TUM_DEPTH_SCALE),
            world_from_camera=pose,
            name=Path(name).stem,
        )
    if produced == 0:
        raise ScrLocalizerError(
            f"no rgb image in '{folder}' has a depth image within {options.max_difference_s} s "
            "and ground truth around its stamp"
        )


def convert_tum(
    folder: str | Path,
    out: str | Path,
    options: TumConvertOptions | None = None,
    write_config: BagWriteConfig | None = None,
    progress: bool = False,
) -> Path:
    frames = iter_tum_frames(folder, options)
    if progress:
        frames = _progress(frames, None)
    return write_rgbd_bag(out, frames, write_config or BagWriteConfig())
