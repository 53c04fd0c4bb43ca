"""`scr-localizer map BAG -o MAP`: train a scene map from a mapping bag (RGB-D or RGB with poses)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import check_writable
from scr_localizer.validation import check_number

VERB = "map"
HELP = "train a scene coordinate map from a mapping bag (colour + depth + poses on /tf)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="mapping bag (rosbag2 folder or .mcap/.db3 file)")
    parser.add_argument("-o", "--output", required=True, help="map file to write (e.g. room.scrmap)")
    parser.add_argument("--preset", default="cpu", choices=("cpu", "gpu", "small", "tiny"),
                        help="training scale: cpu (500 frames in <10 min on 2 cores), gpu "
                        "(ACE scale, ~25k iterations) (default %(default)s)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--prior", default="auto",
                        choices=("auto", "rgbd", "depth-distribution", "depth-distribution-wd",
                                 "none"),
                        help="depth prior: rgbd (Laplace around measured depth), depth-distribution "
                        "(RGB-only, Laplace NLL around 1.73 m), depth-distribution-wd (its Wasserstein "
                        "variant), none; auto picks rgbd when the bag has "
                        "depth (default %(default)s); rgbd stops before training when under "
                        "1 %% of the sampled pixels have a valid depth")
    parser.add_argument("--ply", default=None, help="also write the mapped points as a coloured PLY")
    parser.add_argument("--iterations", type=int, default=None,
                        help="override the preset's iterations (>= 1)")
    parser.add_argument("--seed", type=int, default=0)
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


def run(args) -> int:
    from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader

    output = Path(args.output)
    if output.is_file() and not args.overwrite:
        raise ScrLocalizerError(f"'{output}' exists; pass --overwrite to replace it")
    # Outputs first: a write that fails after the training run loses the work.
    check_writable(output, "map")
    if args.ply:
        check_writable(args.ply, "PLY output")
    if args.iterations is not None:
        check_number(args.iterations, "--iterations", 1, integer=True)
    if args.frame_step < 1:
        raise ScrLocalizerError(f"--frame-step must be >= 1, got {args.frame_step}")
    depth_topic = "" if args.rgb_only else args.depth_topic
    config = BagReadConfig(
        color_topic=args.color_topic, depth_topic=depth_topic,
        camera_info_topic=args.camera_info_topic, fixed_frame=args.fixed_frame,
        camera_frame=args.camera_frame, pose_topic=args.pose_topic, frame_step=args.frame_step,
        max_frames=args.max_frames or None,
    )
    reader = RGBDBagReader(args.bag, config)  # bad bags fail here, before torch is imported
    has_depth = bool(getattr(reader, "depth_topic", depth_topic))
    prior = args.prior if args.prior != "auto" else ("rgbd" if has_depth else "depth-distribution")
    if prior == "rgbd" and not has_depth:
        raise ScrLocalizerError(
            "--prior rgbd needs depth but the bag is read without depth; use "
            "--prior depth-distribution or none, or give --depth-topic")

    from scr_localizer.mapping.trainer import MapTrainer, preset
    from scr_localizer.model.map_file import estimated_map_bytes, save_map

    overrides = {"iterations": args.iterations} if args.iterations is not None else {}
    mapping_config = preset(args.preset, device=args.device, prior=prior, seed=args.seed,
                            **overrides)
    print(f"mapping '{args.bag}': {len(reader)} frames, {'RGB-D' if has_depth else 'RGB-only'}, "
          f"preset {args.preset}, prior {prior}", flush=True)
    start = time.perf_counter()
    trainer = MapTrainer(mapping_config, progress=True)
    check_writable(output, "map", min_free_bytes=estimated_map_bytes(
        mapping_config.head_config(trainer.encoder.descriptor_dim)))
    trainer.build_buffer(reader)
    report = getattr(reader, "report", None)
    if report is not None and hasattr(report, "summary"):
        print(f"bag reading: {report.summary()}", flush=True)
    trainer.train()
    scene_map = trainer.scene_map(fixed_frame=args.fixed_frame, source=Path(args.bag).name)
    path = save_map(scene_map, output)
    print(f"map written to '{path}' ({path.stat().st_size / 1e6:.2f} MB) after "
          f"{time.perf_counter() - start:.0f} s")
    if args.ply:
        from scr_localizer.model.point_cloud import write_ply

        xyz, rgb = trainer.point_cloud()
        write_ply(args.ply, xyz, rgb)
        print(f"point cloud of {len(xyz)} points written to '{args.ply}'")
    return 0
