"""`scr-localizer evaluate --map MAP --bag BAG --json OUT`: accuracy and latency on a bag."""

from __future__ import annotations

from pathlib import Path

from scr_localizer.cli.localize import add_bag_and_localizer_arguments, job_from_args
from scr_localizer.io.atomic import check_writable, check_writable_folder
from scr_localizer.pipelines.localization import evaluate_bag

VERB = "evaluate"
HELP = "localize every synchronized frame of a bag and compare with its ground truth (JSON)"


def add_arguments(parser) -> None:
    parser.add_argument("--map", required=True, help="map file (.scrmap)")
    parser.add_argument("--bag", required=True, help="rosbag2 folder or .mcap/.db3 file")
    parser.add_argument("--json", required=True, help="summary JSON to write")
    parser.add_argument("--ground-truth", default="auto",
                        help="'auto' (the /ground_truth/pose topic, else TF from the map's fixed "
                        "frame), 'none', or a pose topic")
    parser.add_argument("--report", default=None,
                        help="also write a report folder (Markdown, plots, TUM gt/est)")
    add_bag_and_localizer_arguments(parser)


def run(args) -> int:
    from scr_localizer.evaluation.metrics import write_json

    json_path = Path(args.json)
    check_writable(json_path, "summary JSON")
    if args.report:
        check_writable_folder(args.report, "report folder")
    result, summary = evaluate_bag(job_from_args(args, ground_truth=args.ground_truth))
    records = result.records
    write_json(json_path, summary)
    if args.report:
        from scr_localizer.evaluation.report import write_report

        write_report(args.report, records, summary, title=f"Localization of {args.bag}")
    if summary["accuracy_available"]:
        median_t, median_r = summary["median_translation_cm"], summary["median_rotation_deg"]
        median = (f"median {median_t:.2f} cm / {median_r:.2f} deg" if median_t is not None
                  else "median n/a (most frames not localized)")
        print(f"{summary['frames']} frames: {median}, {summary['pct_5cm_5deg']:.1f} % within "
              f"5 cm/5 deg, {summary['pct_localized']:.1f} % localized, latency p50 "
              f"{summary['latency_ms_p50']:.1f} ms -> {json_path}")
    else:
        print(f"{summary['frames']} frames (no ground truth: accuracy unavailable): "
              f"{summary['pct_localized']:.1f} % localized, latency p50 "
              f"{summary['latency_ms_p50']:.1f} ms -> {json_path}")
    return 0
