"""`scr-localizer replay`: the localization node on a query bag over DDS, scored like `evaluate`."""

from __future__ import annotations

from pathlib import Path

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import check_writable, check_writable_folder
from scr_localizer.validation import check_number

VERB = "replay"
HELP = ("play a query bag into the localization node over DDS (use_sim_time) and score its "
        "TF/~/pose against the bag's ground truth")


def add_arguments(parser) -> None:
    parser.add_argument("--map", required=True, type=Path,
                        help="map file written by the mapping step")
    parser.add_argument("--bag", required=True, type=Path,
                        help="query bag (colour/depth/CameraInfo, /tf odometry, /tf_static, "
                        "ground truth on /ground_truth/pose)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="playback speed factor (default 1.0 = real time)")
    parser.add_argument("--json", required=True, type=Path, help="write the summary here")
    parser.add_argument("--report", type=Path, default=None,
                        help="also write a report folder (Markdown, PNG plots, TUM trajectories)")
    parser.add_argument("--color-topic", default=None, help="colour topic in the bag")
    parser.add_argument("--ground-truth-topic", default=defaults.GROUND_TRUTH_TOPIC,
                        help="geometry_msgs/PoseStamped ground truth topic (never replayed)")
    parser.add_argument("--odom-frame", default="odom",
                        help="odometry frame in the bag's TF (absent: the node publishes "
                        "map -> camera directly)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra localization node parameter (repeatable), e.g. device:=cpu")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds to wait for the node to load the map")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="folder for the node's log (default: a temporary folder)")


def _parse_param(text: str):
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise ScrLocalizerError(f"--param '{text}' is not NAME:=VALUE")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return name, lowered == "true"
    for cast in (int, float):
        try:
            return name, cast(value)
        except ValueError:
            pass
    return name, value


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def run(args) -> int:
    from scr_localizer.evaluation.metrics import write_json
    from scr_localizer.ros.replay import ReplayConfig, replay

    check_number(args.rate, "--rate", 0, low_open=True, hint="playback speed factor")
    check_number(args.startup_timeout, "--startup-timeout", 0, low_open=True, hint="seconds")
    check_writable(args.json, "summary JSON")
    if args.report is not None:
        check_writable_folder(args.report, "report folder")
    config = ReplayConfig(
        rate=args.rate,
        color_topic=args.color_topic or defaults.COLOR_TOPIC,
        ground_truth_topic=args.ground_truth_topic,
        odom_frame=args.odom_frame,
        node_parameters=dict(_parse_param(p) for p in args.param),
        startup_timeout_s=args.startup_timeout,
        log_dir=str(args.log_dir) if args.log_dir else None,
    )
    if not args.json.parent.resolve().is_dir():
        raise ScrLocalizerError(f"output folder {args.json.parent} does not exist; create it first")
    result = replay(args.map, args.bag, config)
    write_json(args.json, result.summary)
    if args.report is not None:
        from scr_localizer.evaluation.report import write_report

        write_report(args.report, result.records, result.summary, title=f"Replay of {args.bag.name}")
    summary = result.summary
    if summary.get("accuracy_available"):
        print(f"{summary['pct_localized']:.1f} % localized, median error "
              f"{_number(summary['median_translation_cm'])} cm / "
              f"{_number(summary['median_rotation_deg'])} deg, {summary['pct_5cm_5deg']:.1f} % "
              "within 5 cm/5 deg", flush=True)
    else:
        print(f"{summary['pct_localized']:.1f} % localized; accuracy unavailable: the bag has no "
              "ground truth", flush=True)
    print(f"{summary['frames']} frames, {summary['frames_dropped']} dropped, latency p50 "
          f"{_number(summary['latency_ms_p50'])} ms, sustained "
          f"{_number(summary['sustained_rate_hz'])} Hz; summary in {args.json}", flush=True)
    return 0
