"""Scene coordinate regression vs the classical keypoint peer, side by side on redkitchen.

    python -m benchmarks.bench_classical [--quick] [--splits interleaved revisit]
                                         [--feature sift|orb] [--query-step N] [--retrain]

Splits: interleaved (map the even 50-frame blocks, query the odd ones) and revisit (map frames
0-599, query every 5th frame of 600-999). Both methods map the same frames and localize the same
query frames from colour only (RANSAC-PnP), one after the other on each frame so machine load
hits both alike; SCR is also run with depth (its default for RGB-D input, pnp+depth) as a third
row. SCR maps use the mapping CPU preset and are cached in benchmarks/results/
(the interleaved one is the same file bench_localization uses). --quick subsamples mapping and
query frames and trains a 300-iteration map: a smoke run, not numbers to quote.
Writes benchmarks/results/classical.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))


def split_indices(name: str, query_step: int, quick: bool) -> tuple[list[int], list[int]]:
    from scr_localizer.io.seven_scenes import interleaved_split

    if name == "interleaved":
        mapping, query = interleaved_split(1000)
        query = query[::query_step]
    elif name == "revisit":
        mapping, query = list(range(600)), list(range(600, 1000, 5))
    else:
        raise ValueError(f"unknown split {name}")
    if quick:
        mapping, query = mapping[::5], query[::max(1, 20 // query_step)]
    return mapping, query


def scr_map(split: str, mapping: list[int], quick: bool, retrain: bool):
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.mapping.trainer import preset, train_map
    from scr_localizer.model.map_file import load_map, save_map

    if quick:
        path = RESULTS / f"redkitchen_{split}_quick.scrmap"
    elif split == "interleaved":
        path = RESULTS / "redkitchen_cpu.scrmap"  # shared with bench_localization
    else:
        path = RESULTS / f"redkitchen_{split}_cpu.scrmap"
    if path.exists() and not retrain:
        return load_map(path), {"cached": True, "path": str(path),
                                "size_mb": path.stat().st_size / 1e6}
    config = preset("cpu", iterations=300) if quick else preset("cpu")
    start = time.perf_counter()
    scene_map = train_map(iter_frames(REDKITCHEN, mapping), config,
                          source=f"redkitchen {split} split, {len(mapping)} frames")
    elapsed = time.perf_counter() - start
    save_map(scene_map, path)
    return scene_map, {"cached": False, "path": str(path), "build_s": elapsed,
                       "size_mb": path.stat().st_size / 1e6}


def keypoint_map(mapping: list[int], feature: str):
    from scr_localizer.baselines.keypoint_localizer import KeypointConfig, KeypointMap
    from scr_localizer.io.seven_scenes import iter_frames

    start = time.perf_counter()
    built = KeypointMap.build(iter_frames(REDKITCHEN, mapping), KeypointConfig(feature=feature))
    return built, {"build_s": time.perf_counter() - start, "size_mb": built.nbytes / 1e6,
                   "points": len(built)}


def run_split(split: str, args) -> dict:
    from scr_localizer.baselines.keypoint_localizer import KeypointLocalizer
    from scr_localizer.evaluation.metrics import FrameRecord, summarize
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.localization.localizer import Localizer, LocalizerConfig

    mapping, query = split_indices(split, args.query_step, args.quick)
    print(f"[{split}] mapping {len(mapping)} frames, querying {len(query)}", flush=True)
    scene_map, scr_mapping = scr_map(split, mapping, args.quick, args.retrain)
    keypoints, keypoint_mapping = keypoint_map(mapping, args.feature)
    print(f"[{split}] maps ready: SCR {scr_mapping}, keypoints {keypoint_mapping}", flush=True)
    scr = Localizer(scene_map, LocalizerConfig(), device="cpu")
    classical = KeypointLocalizer(keypoints)
    records = {"scr": [], "scr_rgbd": [], "keypoint": []}
    load_before = os.getloadavg()[0]
    for position, frame in enumerate(iter_frames(REDKITCHEN, query)):
        if position == 0:  # warm-up (lazy initialisation, caches), not measured
            scr.localize(frame.color, frame.camera)
            classical.localize(frame.color, frame.camera)
        for key, depth in (("scr", None), ("scr_rgbd", frame.depth)):
            start = time.perf_counter()
            result = scr.localize(frame.color, frame.camera, depth)
            latency = (time.perf_counter() - start) * 1e3
            records[key].append(FrameRecord(
                frame.stamp_ns, result.success,
                result.world_from_camera if result.success else None, frame.world_from_camera,
                result.inlier_count, result.inlier_ratio, latency, dict(result.timings_ms)))
        start = time.perf_counter()
        success, world_from_camera, inliers, _ = classical.localize(frame.color, frame.camera)
        latency = (time.perf_counter() - start) * 1e3
        records["keypoint"].append(FrameRecord(
            frame.stamp_ns, success, world_from_camera if success else None,
            frame.world_from_camera, inliers, 0.0, latency, dict(classical.last_timings_ms)))
    summaries = {
        "scr": summarize(records["scr"], {"mapping": scr_mapping}),
        "scr_rgbd": summarize(records["scr_rgbd"], {"mapping": scr_mapping,
                                                    "depth_solver": scr.config.depth_solver}),
        "keypoint": summarize(records["keypoint"], {"mapping": keypoint_mapping,
                                                    "feature": args.feature}),
    }
    scr_rate, keypoint_rate = summaries["scr"]["rate_hz"], summaries["keypoint"]["rate_hz"]
    return {
        "mapping_frames": len(mapping), "query_frames": len(query), **summaries,
        "rate_ratio_scr_over_keypoint": scr_rate / keypoint_rate
        if scr_rate and keypoint_rate else None,
        "load_average_1m": [load_before, os.getloadavg()[0]],
    }


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict, feature: str) -> str:
    lines = [
        "| split | method | median t (cm) | median R (°) | 5 cm/5° | 10 cm/5° | localized "
        "| p50 latency (ms) | rate (Hz) | map (MB) | mapping (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for split, item in results.items():
        for method, label in (("scr", "SCR (XFeat + head, PnP)"),
                              ("scr_rgbd", "SCR with depth (pnp+depth, keyframe refinement)"),
                              ("keypoint", f"keypoints ({feature.upper()}, PnP)")):
            if method not in item:  # merged from an older run without this row
                continue
            s = item[method]
            mapping = s.get("mapping", {})
            lines.append(
                f"| {split} | {label} | {_fmt(s['median_translation_cm'])} "
                f"| {_fmt(s['median_rotation_deg'], 2)} | {_fmt(s['pct_5cm_5deg'])} % "
                f"| {_fmt(s['pct_10cm_5deg'])} % | {_fmt(s['pct_localized'])} % "
                f"| {_fmt(s['latency_ms_p50'], 0)} | {_fmt(s['rate_hz'], 2)} "
                f"| {_fmt(mapping.get('size_mb'))} "
                f"| {'cached' if mapping.get('cached') else _fmt(mapping.get('build_s'), 0)} |"
            )
        lines.append(f"| {split} | rate ratio SCR / keypoints | | | | | | | "
                     f"{_fmt(item['rate_ratio_scr_over_keypoint'], 2)}x | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from scr_localizer.evaluation.metrics import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subsampled smoke run")
    parser.add_argument("--splits", nargs="+", default=["interleaved", "revisit"],
                        choices=["interleaved", "revisit"])
    parser.add_argument("--feature", choices=["sift", "orb"], default="sift")
    parser.add_argument("--query-step", type=int, default=5,
                        help="interleaved split: every Nth odd-block frame (default 5: 100 "
                             "queries; 1 = all 500)")
    parser.add_argument("--retrain", action="store_true", help="ignore cached SCR maps")
    args = parser.parse_args(argv)
    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        print(f"redkitchen not found at {REDKITCHEN} (set SCR_REDKITCHEN); skipping")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {split: run_split(split, args) for split in args.splits}
    previous = RESULTS / "classical.json"
    if previous.exists():  # keep the other split's numbers from an earlier run of the same kind
        earlier = json.loads(previous.read_text())
        if earlier.get("quick") == args.quick and earlier.get("feature") == args.feature:
            results = {**{k: v for k, v in earlier.get("splits", {}).items()
                          if k not in results}, **results}
    print()
    print(table(results, args.feature))
    out = {"quick": args.quick, "feature": args.feature, "cpu_count": os.cpu_count(),
           "splits": results,
           "load_average_1m": os.getloadavg()[0],
           "note": "rate ratio: colour-only SCR over keypoints; both PnP from colour"}
    write_json(RESULTS / "classical.json", out)
    print(f"\nwrote {RESULTS / 'classical.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
