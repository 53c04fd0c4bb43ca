"""Mapping on redkitchen with the CPU preset, then a plain RANSAC-PnP check of the map.

    python -m benchmarks.bench_mapping [--quick] [--no-prior] [--preset cpu|gpu] [--device cpu]

Maps the even 50-frame blocks (500 frames, streamed from disk), reports mapping wall time (frame
loading + encoding, training), peak RAM (and GPU memory on CUDA) and map size, then localizes the
odd blocks with poselib's LO-RANSAC PnP (10 px, no refinement beyond poselib's) and reports the
median error and the share of queries within 5 cm/5° and 10 cm/5°. `--no-prior` is the ablation
without the RGB-D Laplace prior. Results are merged into benchmarks/results/mapping.json under a
key naming the variant.
"""

from __future__ import annotations

import os

# Oversubscribed shared machines: spinning OpenMP threads slow torch down 10x or more.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))


def localize_pnp(regressor, frames, threshold_px=10.0):
    import poselib

    from scr_localizer.geometry.transforms import pose_error

    errors, times = [], []
    for frame in frames:
        start = time.perf_counter()
        # Submaps: every head, the pose with the most inliers (as the localizer's
        # most_confident does without its gates).
        pixels, per_head = regressor.regress_heads(frame.color, 0)
        undistorted = frame.camera.undistort_points(pixels)
        camera = {"model": "PINHOLE", "width": frame.camera.width, "height": frame.camera.height,
                  "params": [frame.camera.fx, frame.camera.fy, frame.camera.cx, frame.camera.cy]}
        candidates = [poselib.estimate_absolute_pose(
            undistorted.astype(np.float64), xyz.astype(np.float64), camera,
            {"max_reproj_error": threshold_px}, {}) for xyz in per_head]
        pose, info = max(candidates, key=lambda c: c[1]["num_inliers"])
        times.append(time.perf_counter() - start)
        camera_from_world = np.eye(4)
        camera_from_world[:3, :3] = pose.R
        camera_from_world[:3, 3] = pose.t
        errors.append(pose_error(np.linalg.inv(camera_from_world), frame.world_from_camera))
    errors = np.asarray(errors)
    t, r = errors[:, 0], errors[:, 1]
    return {
        "queries": len(errors),
        "median_translation_cm": round(float(np.median(t)) * 100, 2),
        "median_rotation_deg": round(float(np.median(r)), 2),
        "pct_5cm_5deg": round(100 * float(np.mean((t < 0.05) & (r < 5))), 1),
        "pct_10cm_5deg": round(100 * float(np.mean((t < 0.10) & (r < 5))), 1),
        "pct_2cm_2deg": round(100 * float(np.mean((t < 0.02) & (r < 2))), 1),
        "localize_ms_median": round(1000 * float(np.median(times)), 1),
    }


def parse_overrides(items: list[str]) -> dict:
    """FIELD=VALUE strings (--set) as MappingConfig overrides: numbers, booleans and JSON as
    such, anything else as a string."""
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return overrides


def main(argv=None) -> int:
    import torch

    from scr_localizer.io.atomic import atomic_write
    from scr_localizer.io.seven_scenes import interleaved_split, iter_frames
    from scr_localizer.mapping.trainer import MapTrainer, preset
    from scr_localizer.model.map_file import load_map, save_map
    from scr_localizer.model.regressor import SceneCoordinateRegressor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="every 4th mapping frame, 800 iterations, every 10th query")
    parser.add_argument("--no-prior", action="store_true", help="ablation: no depth prior")
    parser.add_argument("--prior", default=None, choices=("rgbd", "depth-distribution", "none"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--query-step", type=int, default=None, help="every Nth query (default 5)")
    parser.add_argument("--frames", type=int, default=0,
                        help="small area: map every 2nd frame of the first 2N (N frames), query "
                        "the odd frames between them (the frames -> time -> accuracy curve)")
    parser.add_argument("--split", default="interleaved", choices=("interleaved", "revisit"),
                        help="interleaved: even 50-frame blocks vs odd ones; revisit: map 0-599, "
                        "query 600-999")
    parser.add_argument("--submaps", default="1",
                        help="heads over parts of the scene: a number or auto (default 1)")
    parser.add_argument("--parallel", default="auto", choices=("auto", "ray", "sequential"),
                        help="how submaps train (default auto: Ray when installed)")
    parser.add_argument("--save-map", type=Path, default=None, help="keep the map here")
    parser.add_argument("--ply", type=Path, default=None, help="write the mapped point cloud")
    parser.add_argument("--name", default=None, help="result key (default from the options)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a MappingConfig field, e.g. --set head_width=256")
    args = parser.parse_args(argv)
    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        print(f"redkitchen not found at {REDKITCHEN}; set SCR_REDKITCHEN")
        return 1
    prior = args.prior or ("none" if args.no_prior else "rgbd")
    overrides = {"prior": prior, "device": args.device}
    if args.iterations:
        overrides["iterations"] = args.iterations
    elif args.quick:
        overrides["iterations"] = 800
    overrides.update(parse_overrides(args.set))
    config = preset(args.preset, **overrides)
    mapping, queries = interleaved_split(1000)
    if args.split == "revisit":
        mapping, queries = list(range(600)), list(range(600, 1000))
    if args.frames:
        mapping = list(range(0, 2 * args.frames, 2))
        queries = list(range(1, 2 * args.frames, 2))
    if args.quick:
        mapping = mapping[::4]
    query_step = args.query_step or (10 if args.quick else 5)
    queries = queries[::query_step]

    trainer = MapTrainer(config, progress=True)
    device = trainer.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    load_avg = os.getloadavg()[0]
    start = time.perf_counter()
    trainer.build_buffer(iter_frames(REDKITCHEN, mapping))
    buffer_s = time.perf_counter() - start
    from scr_localizer.mapping.config import submap_count

    count = submap_count(args.submaps, trainer.stats.frames_used, config.submap_frames)
    if count > 1:
        trainer.train_submaps(count, args.parallel)
    else:
        trainer.train()
    mapping_s = time.perf_counter() - start
    scene_map = trainer.scene_map(source=f"redkitchen {args.split} split")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_map(scene_map, args.save_map or Path(tmp) / "bench.scrmap")
        map_bytes = path.stat().st_size
        scene_map = load_map(path)
    if args.ply:
        from scr_localizer.model.point_cloud import write_ply

        write_ply(args.ply, *trainer.point_cloud())
    peak_ram_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    regressor = SceneCoordinateRegressor(scene_map, device)
    accuracy = localize_pnp(regressor, iter_frames(REDKITCHEN, queries))
    result = {
        "preset": config.preset, "prior": prior, "device": str(device),
        "torch_threads": torch.get_num_threads(), "load_avg_1min_at_start": round(load_avg, 1),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 1),
        "mapping_frames": trainer.stats.frames_used, "iterations": trainer.stats.iterations,
        "iterations_planned": trainer.stats.iterations_planned,
        "stopped_early": trainer.stats.stopped_early, "buffer_cells": trainer.stats.buffer_cells,
        "load_and_encode_s": round(buffer_s, 1), "train_s": round(trainer.stats.train_time_s, 1),
        "mapping_wall_s": round(mapping_s, 1), "peak_ram_mb": round(peak_ram_mb),
        "peak_gpu_mb": None if gpu_mb is None else round(gpu_mb),
        "map_mb": round(map_bytes / 1e6, 2),
        "train_reprojection_median_px": round(trainer.stats.reprojection_median_px, 2),
        "train_inlier_share": round(trainer.stats.inlier_share, 3),
        "holdout_history": [(it, round(share, 4)) for it, share in trainer.holdout_history],
        "submaps": len(scene_map.heads), "submap_parts": trainer.stats.submaps,
        "split": args.split,
        **accuracy,
    }
    name = args.name or f"{config.preset}{'-quick' if args.quick else ''}-{prior}-{device.type}"
    print(f"\n### mapping benchmark: {name}\n")
    print("| metric | value |\n|---|---|")
    for key, value in result.items():
        if key != "holdout_history":  # in the JSON only: one pair per early-stop check
            print(f"| {key} | {value} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "mapping.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged[name] = result
    with atomic_write(out) as stream:
        stream.write(json.dumps(merged, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
