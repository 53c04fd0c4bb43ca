"""Two submaps trained in parallel on Ray vs one after another in-process (issue 16).

    python -m benchmarks.bench_submaps [--iterations 300] [--frames 40]

Encodes two stretches of redkitchen (frames 0.. and 300.., every 4th) once, splits them into
two submaps and trains both heads with a fixed number of iterations (no time budget, no early
stop, so both engines do the same work): sequentially, then on a local Ray instance (the CPUs
shared out between the tasks; one GPU per task where there are GPUs). Reports wall times and
the median gap between the two engines' predictions. Results go to
benchmarks/results/submaps.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))


def main(argv=None) -> int:
    import torch

    from scr_localizer.io.atomic import atomic_write
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.mapping.parallel import ray_available, train_heads
    from scr_localizer.mapping.submaps import buffer_poses, split_frames, sub_buffer
    from scr_localizer.mapping.trainer import MapTrainer, preset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--frames", type=int, default=40, help="mapping frames in all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="20 frames, 100 iterations")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.iterations = 20, 100
    if not ray_available():
        print("ray is not installed (optional extra: pip install ray)")
        return 1
    half = args.frames // 2
    frames = list(range(0, 4 * half, 4)) + list(range(300, 300 + 4 * half, 4))
    config = preset("cpu", device=args.device, iterations=args.iterations, passes=0.0,
                    time_budget_s=0.0, map_time_budget_s=0.0, holdout_cells=0)
    trainer = MapTrainer(config)
    trainer.build_buffer(iter_frames(REDKITCHEN, frames))
    parts, _ = split_frames(buffer_poses(trainer.buffer), 2, config.submap_overlap, config.seed)
    buffers = [sub_buffer(trainer.buffer, part) for part in parts]
    timings = {}
    heads = {}
    for engine in ("sequential", "ray"):
        start = time.perf_counter()
        heads[engine] = train_heads(buffers, config, trainer.encoder.descriptor_dim,
                                    trainer.device, engine=engine)
        timings[engine] = round(time.perf_counter() - start, 1)
    with torch.no_grad():
        cells = buffers[0].descriptors[:4096].float()
        gap = (heads["ray"][0][0].forward_cells(cells)
               - heads["sequential"][0][0].forward_cells(cells)).norm(dim=1)
    result = {
        "frames": len(frames), "submap_frames": [len(p) for p in parts],
        "iterations_per_head": args.iterations, "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 1),
        "sequential_s": timings["sequential"], "ray_s": timings["ray"],
        "speedup": round(timings["sequential"] / timings["ray"], 2),
        "prediction_gap_median_m": round(float(gap.median()), 5),
    }
    print("| metric | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "submaps.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged[f"{args.device}-{len(frames)}-{args.iterations}"] = result
    with atomic_write(out) as stream:
        stream.write(json.dumps(merged, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
