"""`scr-localizer convert 7scenes|tum DIR OUT`: dataset folders to RealSense-like bags."""

from __future__ import annotations

import argparse

import numpy as np

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import pose_matrix
from scr_localizer.validation import check_number

VERB = "convert"
HELP = "convert a 7-Scenes or TUM RGB-D folder into a ROS 2 bag (mapping or query)"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks instead of one-line errors")
    parser.add_argument("folder", help="dataset folder")
    parser.add_argument("out", help="output bag folder (rosbag2)")
    parser.add_argument(
        "--query", action="store_true",
        help="write a query bag: odom -> camera_link on /tf and the ground truth on "
        "/ground_truth/pose (PoseStamped) instead of map -> camera_link",
    )
    parser.add_argument(
        "--map-from-odom", default="1.0,-0.5,0.1,30",
        help="query bags: known offset of odom in map as X,Y,Z,YAW_DEG (default %(default)s)",
    )
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument(
        "--color-encoding", choices=("rgb8", "bgr8", "jpeg", "png"), default="rgb8",
        help="Image rgb8/bgr8, or CompressedImage jpeg/png on .../compressed (default rgb8)",
    )
    parser.add_argument("--jpeg-quality", type=int, default=95)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    layouts = parser.add_subparsers(dest="layout", metavar="LAYOUT", required=True)
    seven = layouts.add_parser(
        "7scenes", help="frame-NNNNNN.color.png|jpg/.depth.png/.pose.txt (7-Scenes, 12-Scenes, "
        "3DMatch/SUN3D)",
    )
    _add_common(seven)
    seven.add_argument(
        "--frames", default=None,
        help="frame indices A:B[:STEP][,A:B[:STEP]...] (B exclusive); default all",
    )
    seven.add_argument(
        "--color-intrinsics", default=None,
        help="colour camera: F, FX,FY,CX,CY or a 3x3 camera-intrinsics.txt (default 525, centred)",
    )
    seven.add_argument(
        "--depth-intrinsics", default=None,
        help="depth camera: F, FX,FY,CX,CY or a 3x3 file (default 585, centred)",
    )
    seven.add_argument(
        "--depth-aligned", action="store_true",
        help="depth images are already registered to colour (same camera)",
    )
    seven.add_argument(
        "--raw-depth", action="store_true",
        help="write depth unregistered with its own CameraInfo and TF frame (the reader "
        "registers it) instead of registering it during conversion",
    )
    seven.add_argument("--fps", type=float, default=30.0, help="frame rate for stamps (default 30)")
    tum = layouts.add_parser("tum", help="TUM RGB-D: rgb.txt, depth.txt, groundtruth.txt")
    _add_common(tum)
    tum.add_argument(
        "--camera", default="auto",
        help="auto (from the folder name), fr1, fr2, fr3, ros, F, FX,FY,CX,CY or a 3x3 file",
    )
    tum.add_argument(
        "--max-difference", type=float, default=0.02,
        help="max rgb/depth stamp difference in seconds (default 0.02)",
    )


def _map_from_odom(spec: str) -> np.ndarray:
    try:
        x, y, z, yaw = (float(v) for v in spec.split(","))
    except ValueError:
        raise ScrLocalizerError(
            f"bad --map-from-odom '{spec}'; expected X,Y,Z,YAW_DEG, e.g. 1.0,-0.5,0.1,30"
        ) from None
    if not all(np.isfinite([x, y, z, yaw])):
        raise ScrLocalizerError(
            f"bad --map-from-odom '{spec}'; expected finite numbers X,Y,Z,YAW_DEG")
    c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    return pose_matrix(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), [x, y, z])


def run(args: argparse.Namespace) -> int:
    from scr_localizer.io.bag_reader import RGBDBagReader
    from scr_localizer.io.bag_writer import BagWriteConfig
    from scr_localizer.io.converters import (
        SevenScenesConvertOptions,
        TumConvertOptions,
        convert_seven_scenes,
        convert_tum,
    )
    from scr_localizer.io.seven_scenes import list_frames, parse_frame_ranges

    check_number(args.jpeg_quality, "--jpeg-quality", 0, 100, integer=True)
    if args.layout == "tum":
        check_number(args.max_difference, "--max-difference", 0, hint="seconds")
    write_config = BagWriteConfig(
        storage=args.storage,
        color_encoding=args.color_encoding,
        jpeg_quality=args.jpeg_quality,
        query=args.query,
        map_from_odom=_map_from_odom(args.map_from_odom),
        overwrite=args.overwrite,
    )
    if args.layout == "7scenes":
        indices = None
        if args.frames:
            indices = parse_frame_ranges(args.frames, last_index=max(list_frames(args.folder)))
        if indices is not None and not indices:
            raise ScrLocalizerError(f"--frames '{args.frames}' selects no frames")
        options = SevenScenesConvertOptions(
            indices=indices,
            color_intrinsics=args.color_intrinsics,
            depth_intrinsics=args.depth_intrinsics,
            depth_aligned=args.depth_aligned,
            raw_depth=args.raw_depth,
            frame_rate_hz=args.fps,
        )
        out = convert_seven_scenes(args.folder, args.out, options, write_config, progress=True)
    else:
        options = TumConvertOptions(camera=args.camera, max_difference_s=args.max_difference)
        out = convert_tum(args.folder, args.out, options, write_config, progress=True)
    # Read the headers back: proves the bag is complete and tells the user what is in it.
    reader = RGBDBagReader(out, _read_config(args.query))
    kind = "query" if args.query else "mapping"
    print(f"wrote {kind} bag {out}: {len(reader)} frames, colour {reader.color_topic}, "
          f"depth {reader.depth_topic}, poses {'on /ground_truth/pose' if args.query else 'on /tf'}")
    return 0


def _read_config(query: bool):
    from scr_localizer.io.bag_reader import BagReadConfig

    return BagReadConfig(ground_truth_topic=defaults.GROUND_TRUTH_TOPIC) if query else BagReadConfig()
