"""`scr-localizer record-poses`: score a running localization node while a query bag plays."""

from __future__ import annotations

from pathlib import Path

from scr_localizer import defaults
from scr_localizer.io.atomic import check_writable, check_writable_folder
from scr_localizer.validation import check_number

VERB = "record-poses"
HELP = ("record the localization node's ~/pose and TF while `ros2 bag play --clock QUERY_BAG` "
        "runs, then score them against the bag's ground truth")


def add_arguments(parser) -> None:
    parser.add_argument("--bag", required=True, type=Path,
                        help="the query bag being played (read for ground truth and frame stamps)")
    parser.add_argument("--json", required=True, type=Path, help="write the summary here")
    parser.add_argument("--report", type=Path, default=None, help="also write a report folder")
    parser.add_argument("--pose-topic", default="/localize_node/pose")
    parser.add_argument("--map-frame", default="map")
    parser.add_argument("--color-topic", default=defaults.COLOR_TOPIC)
    parser.add_argument("--ground-truth-topic", default=defaults.GROUND_TRUTH_TOPIC)
    parser.add_argument("--estimate-from", choices=("tf", "pose"), default="tf",
                        help="tf: map->odom composed with the bag's odometry (any base_frame); "
                        "pose: ~/pose as the camera pose (node run with base_frame:='')")
    parser.add_argument("--idle-timeout", type=float, default=5.0,
                        help="stop this many seconds after the bag's end / the last message")
    parser.add_argument("--max-duration", type=float, default=None)


def run(args) -> int:
    from scr_localizer.evaluation.metrics import write_json
    from scr_localizer.ros.recorder import RecordConfig, record_poses

    check_number(args.idle_timeout, "--idle-timeout", 0, low_open=True, hint="seconds")
    if args.max_duration is not None:
        check_number(args.max_duration, "--max-duration", 0, low_open=True, hint="seconds")
    check_writable(args.json, "summary JSON")
    if args.report is not None:
        check_writable_folder(args.report, "report folder")
    config = RecordConfig(
        pose_topic=args.pose_topic, map_frame=args.map_frame, color_topic=args.color_topic,
        ground_truth_topic=args.ground_truth_topic, estimate_from=args.estimate_from,
        idle_timeout_s=args.idle_timeout, max_duration_s=args.max_duration,
    )
    records, summary = record_poses(
        args.bag, config)
    write_json(args.json, summary)
    if args.report is not None:
        from scr_localizer.evaluation.report import write_report

        write_report(args.report, records, summary, title=f"Recorded run on {args.bag.name}")
    print(f"{sum(r.success for r in records)}/{len(records)} frames localized; summary in "
          f"{args.json}", flush=True)
    return 0
