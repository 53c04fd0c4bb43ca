"""Offline `evaluate` vs online `replay` (the ROS node over DDS) on the same redkitchen query bag.

    python -m benchmarks.bench_replay [--quick] [--map PATH] [--rate R] [--realtime-frames N]

Map: benchmarks/results/redkitchen_cpu.scrmap (even 50-frame blocks; trained by
bench_localization if missing). Queries: the odd blocks as a converter query bag (--quick: every
10th frame). Accuracy run: replay at --rate, slow enough that the node never has to drop a
frame, so offline and online must agree within noise. Real-time run: the first
--realtime-frames consecutive query frames replayed at rate 1.0 (30 Hz input): sustained rate,
dropped frames and latency of the live node on this machine. Writes
benchmarks/results/replay.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("frames", "pct_localized", "median_translation_cm", "median_rotation_deg",
        "pct_10cm_5deg", "pct_5cm_5deg", "pct_2cm_2deg", "pct_1cm_1deg", "latency_ms_p50",
        "latency_ms_p95", "frames_dropped", "sustained_rate_hz")


def _cli(*args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "scr_localizer.cli", *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scr-localizer {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    from benchmarks.bench_localization import DEFAULT_MAP, REDKITCHEN, get_map
    from scr_localizer.cli.compare import comparison_table
    from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
    from scr_localizer.io.seven_scenes import interleaved_split, iter_frames
    from scr_localizer.localization.localizer import LocalizerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--rate", type=float, default=None,
                        help="accuracy run playback rate (default 0.25, quick 0.5)")
    parser.add_argument("--realtime-frames", type=int, default=150)
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="also keep report folders (offline/, replay/) here")
    args = parser.parse_args(argv)
    if not args.map.exists():
        get_map(args.map, train=True)
    _, query = interleaved_split(1000)
    query = list(query)[::10] if args.quick else list(query)
    rate = args.rate or (0.5 if args.quick else 0.25)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_replay_") as work:
        work = Path(work)
        bag = write_rgbd_bag(work / "query", iter_frames(REDKITCHEN, query),
                             BagWriteConfig(query=True))
        reports = args.report_dir or work
        seconds = {}
        seconds["offline"] = _cli("evaluate", "--map", str(args.map), "--bag", str(bag),
                                  "--json", str(work / "offline.json"),
                                  "--report", str(reports / "offline"))
        # The node's own success gate (min_inliers) is stricter than the offline default; use
        # the offline one so both runs count the same fixes as localized.
        gate = f"min_inliers:={LocalizerConfig().min_inliers}"
        seconds[f"replay x{rate:g}"] = _cli(
            "replay", "--map", str(args.map), "--bag", str(bag), "--rate", str(rate),
            "--param", gate, "--json", str(work / "replay.json"),
            "--report", str(reports / "replay"))
        runs["offline"] = json.loads((work / "offline.json").read_text())
        runs[f"replay x{rate:g}"] = json.loads((work / "replay.json").read_text())
        if args.realtime_frames > 0:
            first_block = list(interleaved_split(1000)[1])[: args.realtime_frames]
            live = write_rgbd_bag(work / "live", iter_frames(REDKITCHEN, first_block),
                                  BagWriteConfig(query=True))
            seconds["replay x1 (30 Hz)"] = _cli(
                "replay", "--map", str(args.map), "--bag", str(live), "--rate", "1.0",
                "--param", gate, "--json", str(work / "live.json"))
            runs["replay x1 (30 Hz)"] = json.loads((work / "live.json").read_text())
    table = comparison_table({name: {k: run.get(k) for k in KEYS} for name, run in runs.items()})
    print(f"redkitchen odd blocks ({len(query)} query frames), map {args.map.name}")
    print(table)
    print("wall seconds per run: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replay.json").write_text(json.dumps(
        {"query_frames": len(query), "map": str(args.map), "runs": runs,
         "wall_seconds": seconds}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
