"""`scr-localizer map BAG -o MAP`: train a scene map from a mapping bag (RGB-D or RGB with poses)."""

from __future__ import annotations

import argparse

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.bag_reader import BagReadConfig
from scr_localizer.mapping.config import PRIOR_CHOICES, preset_names
from scr_localizer.pipelines.mapping import MapJob, build_map
from scr_localizer.validation import check_number

VERB = "map"
HELP = "train a scene coordinate map from a mapping bag (colour + depth + poses on /tf)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="mapping bag (rosbag2 folder or .mcap/.db3 file)")
    parser.add_argument("-o", "--output", required=True, help="map file to write (e.g. room.scrmap)")
    parser.add_argument("--preset", default="cpu", choices=preset_names(),
                        help="training scale: cpu (500 frames in <10 min on 2 cores), gpu "
                        "(ACE scale, ~25k iterations) (default %(default)s)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--prior", default="auto",
                        choices=PRIOR_CHOICES,
                        help="depth prior: rgbd (Laplace around measured depth), depth-distribution "
                        "(RGB-only, Laplace NLL around 1.73 m), depth-distribution-wd (its Wasserstein "
                        "variant), none; auto picks rgbd when the bag has "
                        "depth (default %(default)s); rgbd stops before training when under "
                        "1 %% of the sampled pixels have a valid depth")
    parser.add_argument("--ply", default=None, help="also write the mapped points as a coloured PLY")
    parser.add_argument("--iterations", type=int, default=None,
                        help="override the preset's iterations (>= 1)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                        help="train for at most this long, all submaps together (default: the "
                        "preset's; cpu: 400 s, 660 s for all submaps together)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--submaps", default="1", metavar="N|auto",
                        help="heads over parts of the scene (camera positions and viewing "
                        "directions, with overlap): a number, or auto (one per 300 frames); "
                        "the localizer runs all and keeps the most confident pose "
                        "(default %(default)s)")
    parser.add_argument("--parallel", default="auto", choices=("auto", "ray", "sequential"),
                        help="train submaps in parallel on Ray (auto: when ray is installed) "
                        "or one after another (default %(default)s)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster to train on (default: a local Ray instance)")
    parser.add_argument("--overwrite", action="store_true", help="replace MAP if it exists")
    topics = parser.add_argument_group("bag topics and frames (default: RealSense names, auto)")
    topics.add_argument("--color-topic", default=None)
    topics.add_argument("--depth-topic", default=None,
                        help="depth image topic; '' (or --rgb-only) maps from colour only")
    topics.add_argument("--rgb-only", action="store_true", help="ignore depth (same as --depth-topic '')")
    topics.add_argument("--camera-info-topic", default=None)
    topics.add_argument("--fixed-frame", default="map", help="frame the map is expressed in (default map)")
    topics.add_argument("--camera-frame", default=None,
                        help="camera optical frame (default: the colour CameraInfo's frame_id)")
    topics.add_argument("--pose-topic", default=None,
                        help="read poses from this PoseStamped/Odometry topic instead of /tf")
    topics.add_argument("--frame-step", type=int, default=1, help="use every Nth frame")
    topics.add_argument("--max-frames", type=int, default=0, help="at most this many frames (0: all)")


def job_from_args(args) -> MapJob:
    if args.iterations is not None:
        check_number(args.iterations, "--iterations", 1, integer=True)
    if args.time_budget is not None:
        check_number(args.time_budget, "--time-budget", 0.0, low_open=True, hint="seconds")
    if args.frame_step < 1:
        raise ScrLocalizerError(f"--frame-step must be >= 1, got {args.frame_step}")
    return MapJob(
        bag=args.bag, output=args.output,
        read=BagReadConfig(
            color_topic=args.color_topic, depth_topic="" if args.rgb_only else args.depth_topic,
            camera_info_topic=args.camera_info_topic, fixed_frame=args.fixed_frame,
            camera_frame=args.camera_frame, pose_topic=args.pose_topic,
            frame_step=args.frame_step, max_frames=args.max_frames or None),
        preset=args.preset, prior=args.prior, device=args.device, seed=args.seed,
        iterations=args.iterations, time_budget_s=args.time_budget, overwrite=args.overwrite,
        ply=args.ply, progress=True, submaps=args.submaps, parallel=args.parallel,
        ray_address=args.ray_address,
    )


def run(args) -> int:
    build_map(job_from_args(args))
    return 0
