"""`scr-localizer localize MAP BAG -o poses.txt`: relocalize every frame of a bag offline."""

from __future__ import annotations

from pathlib import Path

from scr_localizer.io.atomic import atomic_write, check_writable
from scr_localizer.model.backends import BACKENDS
from scr_localizer.model.precision import PRECISIONS
from scr_localizer.pipelines.localization import LocalizeJob, localize_bag
from scr_localizer.validation import check_number

VERB = "localize"
HELP = "localize every frame of a bag against a map; write poses (TUM) and inlier counts"


def add_bag_and_localizer_arguments(parser) -> None:
    """Options shared with `evaluate`."""
    parser.add_argument("--color-topic", default=None, help="colour image topic (default: auto)")
    parser.add_argument("--depth-topic", default=None,
                        help="depth topic registered to colour (default: auto; '' = RGB only)")
    parser.add_argument("--camera-info-topic", default=None,
                        help="colour CameraInfo topic (default: beside the colour topic)")
    parser.add_argument("--no-depth", action="store_true",
                        help="ignore depth and solve from colour only (PnP)")
    parser.add_argument("--depth-solver", default=None,
                        help="pose solver when depth is present: pnp+depth (default), joint, "
                        "kabsch or pnp")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="where the encoder runs: auto (default: onnxruntime on the CPU when "
                        "installed, else torch), torch, or onnxruntime (CPU, needs pip install "
                        "onnxruntime onnx; graph exported once and cached)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="the head's hidden layers: auto (default: fp16 on CUDA, bf16 on "
                        "CPUs with AMX or AVX512-BF16, else fp32) or float32")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for the network (default: torch's; 1 is much faster "
                        "when other processes keep every core busy)")
    parser.add_argument("--frame-step", type=int, default=1, help="use every Nth frame")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def add_arguments(parser) -> None:
    parser.add_argument("map", help="map file (.scrmap) from `scr-localizer map`")
    parser.add_argument("bag", help="rosbag2 folder or .mcap/.db3 file")
    parser.add_argument("-o", "--output", required=True,
                        help="TUM trajectory of localized frames (t tx ty tz qx qy qz qw); "
                        "per-frame inlier counts go to <output stem>.inliers.txt beside it")
    add_bag_and_localizer_arguments(parser)


def job_from_args(args, ground_truth: str = "none") -> LocalizeJob:
    """The LocalizeJob for the options shared by `localize` and `evaluate`."""
    if args.threads is not None:
        check_number(args.threads, "--threads", 1, integer=True)
    return LocalizeJob(
        map=args.map, bag=args.bag, color_topic=args.color_topic, depth_topic=args.depth_topic,
        camera_info_topic=args.camera_info_topic, use_depth=not args.no_depth,
        depth_solver=args.depth_solver, device=args.device, backend=args.backend,
        precision=args.precision,
        threads=args.threads,
        frame_step=args.frame_step, ground_truth=ground_truth, progress=args.progress,
    )


def _check_output(path: Path) -> None:
    check_writable(path, "trajectory output")
    check_writable(inliers_path(path), "inlier table")


def inliers_path(output: Path) -> Path:
    return output.with_name(output.stem + ".inliers.txt")


def write_inliers(path: Path, records) -> None:
    lines = ["# stamp_s success inlier_count inlier_ratio latency_ms confidence"]
    for r in records:
        seconds, nanoseconds = divmod(int(r.stamp_ns), 1_000_000_000)
        lines.append(f"{seconds}.{nanoseconds:09d} {int(r.success)} {r.inlier_count} "
                     f"{r.inlier_ratio:.4f} {r.latency_ms:.2f} "
                     f"{(r.confidence if r.confidence is not None else float('nan')):.4f}")
    with atomic_write(path) as stream:
        stream.write("\n".join(lines) + "\n")


def run(args) -> int:
    from scr_localizer.evaluation.trajectory import write_tum

    output = Path(args.output)
    _check_output(output)
    result = localize_bag(job_from_args(args))
    records = result.records
    localized = [r for r in records if r.success]
    write_tum(output, [r.stamp_ns for r in localized],
              [r.estimate_world_from_camera for r in localized],
              header=f"world_from_camera of {result.reader.camera_frame} in "
                     f"{result.scene_map.fixed_frame}")
    write_inliers(inliers_path(output), records)
    print(f"localized {len(localized)} of {len(records)} frames -> {output} "
          f"(inliers: {inliers_path(output)})")
    return 0
