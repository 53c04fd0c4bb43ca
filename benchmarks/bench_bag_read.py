"""Reading throughput of RGBDBagReader on 640x480 RGB-D bags made from redkitchen frames.

    python -m benchmarks.bench_bag_read [--quick] [--frames N] [--repeats R]

Variants: mcap rgb8 + 16UC1 aligned depth (the headline number), the same in sqlite3, jpeg
CompressedImage colour, and unaligned 585-focal depth that the reader registers into colour.
"frames/s" counts the whole job: opening the bag, the checking pass (construction) and decoding
every frame; "iteration frames/s" leaves out construction. Bags are built once and cached in the
system temp folder. --quick uses 40 frames and one repeat. Writes benchmarks/results/bag_read.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))
CACHE = Path(tempfile.gettempdir()) / "scr_localizer_bench_bag_read"

VARIANTS = {
    "mcap rgb8 + 16UC1": {"storage": "mcap", "color_encoding": "rgb8"},
    "sqlite3 rgb8 + 16UC1": {"storage": "sqlite3", "color_encoding": "rgb8"},
    "mcap jpeg + 16UC1": {"storage": "mcap", "color_encoding": "jpeg"},
    "mcap rgb8 + unaligned 16UC1 (registered while reading)": {
        "storage": "mcap", "color_encoding": "rgb8", "raw_depth": True},
}


def build_bag(name: str, variant: dict, frames: int) -> Path:
    from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
    from scr_localizer.io.seven_scenes import SevenScenesConfig, iter_frames, seven_scenes_camera

    slug = "".join(c if c.isalnum() else "_" for c in name)
    path = CACHE / f"{slug}_{frames}"
    if (path / "metadata.yaml").exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    raw = variant.get("raw_depth", False)
    config = BagWriteConfig(
        storage=variant["storage"],
        color_encoding=variant["color_encoding"],
        depth_camera=seven_scenes_camera(585.0) if raw else None,
        overwrite=True,
    )
    source = iter_frames(REDKITCHEN, range(frames), SevenScenesConfig(depth_aligned=raw))
    return write_rgbd_bag(path, source, config)


def measure(path: Path, repeats: int) -> dict:
    from scr_localizer.io.bag_reader import RGBDBagReader

    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        reader = RGBDBagReader(path)
        constructed = time.perf_counter()
        count = 0
        for frame in reader:
            count += frame.depth is not None
        done = time.perf_counter()
        run = {
            "frames": count,
            "construct_s": constructed - start,
            "iterate_s": done - constructed,
            "total_s": done - start,
        }
        if best is None or run["total_s"] < best["total_s"]:
            best = run
    best["frames_per_s"] = best["frames"] / best["total_s"]
    best["iteration_frames_per_s"] = best["frames"] / best["iterate_s"]
    size = sum(p.stat().st_size for p in path.iterdir())
    best["bag_mb"] = size / 1e6
    return best


def table(results: dict) -> str:
    lines = [
        "| bag (640x480) | frames | construct s | iterate s | frames/s | iteration frames/s | MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['frames']} | {r['construct_s']:.2f} | {r['iterate_s']:.2f} | "
            f"{r['frames_per_s']:.0f} | {r['iteration_frames_per_s']:.0f} | {r['bag_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from scr_localizer.evaluation.metrics import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 frames, one repeat")
    parser.add_argument("--frames", type=int, default=None, help="frames per bag (default 200)")
    parser.add_argument("--repeats", type=int, default=None, help="best of R runs (default 3)")
    args = parser.parse_args(argv)
    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        print(f"redkitchen not found at {REDKITCHEN} (set SCR_REDKITCHEN); skipping")
        return 0
    frames = args.frames or (40 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    results = {}
    for name, variant in VARIANTS.items():
        path = build_bag(name, variant, frames)
        results[name] = measure(path, repeats)
        print(f"{name}: {results[name]['frames_per_s']:.0f} frames/s", flush=True)
    print()
    print(table(results))
    out = {
        "quick": args.quick,
        "frames": frames,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "variants": results,
        "note": "best of the repeats; a load average above the core count means shared cores "
                "and pessimistic throughput",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "bag_read.json", out)
    print(f"\nwrote {RESULTS / 'bag_read.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
