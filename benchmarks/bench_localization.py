"""Relocalization on redkitchen: accuracy (RGB vs RGB-D solvers), timings, covariance
calibration and failure detection.

    python -m benchmarks.bench_localization [--quick] [--map PATH] [--device cpu]
    python -m benchmarks.bench_localization --cases [NAME ...] [--recollect]

Map: even 50-frame blocks of redkitchen (trained once with the mapping CPU preset and cached as
benchmarks/results/redkitchen_cpu.scrmap); queries: the odd blocks (all 500, --quick: every 10th).
Solvers are compared on the same regression output of each frame; timings come from a separate
end-to-end pass of the default configuration. Writes benchmarks/results/localization.json.

--cases: the precision/recall table on the hard cases of benchmarks/cases.py (old inlier gate,
confidence gate, SIFT peer; records cached by benchmarks.cases), written to
benchmarks/results/precision_recall.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MAP = RESULTS / "redkitchen_cpu.scrmap"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))
SOLVERS = ("pnp", "pnp+depth", "joint", "kabsch")


def get_map(path: Path, train: bool, iterations: int | None = None):
    from scr_localizer.io.seven_scenes import interleaved_split, iter_frames
    from scr_localizer.mapping.trainer import preset, train_map
    from scr_localizer.model.map_file import load_map, save_map

    if path.exists() and not train:
        return load_map(path)
    mapping, _ = interleaved_split(1000)
    start = time.perf_counter()
    frames = list(iter_frames(REDKITCHEN, mapping))
    overrides = {"iterations": iterations} if iterations else {}
    scene_map = train_map(frames, preset("cpu", **overrides),
                          source="redkitchen even 50-frame blocks")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_map(scene_map, path)
    print(f"trained {path} in {time.perf_counter() - start:.0f} s")
    return scene_map


def _record(frame, result, timings=None):
    from scr_localizer.evaluation.metrics import FrameRecord

    return FrameRecord(
        stamp_ns=frame.stamp_ns, success=result.success,
        estimate_world_from_camera=result.world_from_camera if result.success else None,
        truth_world_from_camera=frame.world_from_camera, inlier_count=result.inlier_count,
        inlier_ratio=result.inlier_ratio,
        latency_ms=(timings or result.timings_ms).get("total", 0.0),
        timings_ms=timings or result.timings_ms,
        covariance=result.covariance if result.success else None,
    )


def fmt(value, digits=1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def replace_result(result, covariance_scale):
    from dataclasses import replace as dc_replace

    return dc_replace(result, covariance=result.covariance * covariance_scale)


def _ratios(records, per_inlier: bool):
    """Per-axis |position error| / (2 sigma) of the raw covariance (optionally x inliers)."""
    ratios, errors, sigmas = [], [], []
    for r in records:
        if r.covariance is None or r.translation_error_m is None:
            continue
        covariance = np.diag(r.covariance)[:3] * (r.inlier_count if per_inlier else 1.0)
        sigma = np.sqrt(covariance)
        delta = r.estimate_world_from_camera[:3, 3] - r.truth_world_from_camera[:3, 3]
        ratios.extend(np.abs(delta) / (2 * sigma))
        errors.append(np.linalg.norm(delta))
        sigmas.append(np.linalg.norm(sigma))
    return np.asarray(ratios), np.asarray(errors), np.asarray(sigmas)


def calibrate(records, target=95.0):
    """Fit the two covariance models to `target` % of per-axis errors inside 2 sigma:
    a constant scale (covariance_scale) and a scale per inlier (effective_independent_cells).
    Reports the fitted value and the rank correlation of error with predicted sigma."""
    out = {}
    for model, per_inlier in (("covariance_scale", False), ("per_inlier_scale", True)):
        ratios, errors, sigmas = _ratios(records, per_inlier)
        if len(ratios) == 0:
            out[model] = None
            continue
        scale = float(np.percentile(ratios, target) ** 2)
        rank = None
        if len(errors) > 2:
            rank = float(np.corrcoef(np.argsort(np.argsort(errors)),
                                     np.argsort(np.argsort(sigmas)))[0, 1])
        out[model] = {"scale": scale, "rank_correlation": rank}
    if out.get("per_inlier_scale"):
        out["effective_independent_cells"] = 1.0 / out["per_inlier_scale"]["scale"]
    return out


def calibrate_scale(records, target=95.0):
    item = calibrate(records, target).get("covariance_scale")
    return item["scale"] if item else None


def shuffled(color, rng):
    flat = color.reshape(-1, 3).copy()
    rng.shuffle(flat)
    return flat.reshape(color.shape)


def synthetic_images(shape, rng):
    h, w = shape[:2]
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    checker = (((yy // 40) + (xx // 40)) % 2 * 255).astype(np.uint8)
    gradient = (xx * 255 // w).astype(np.uint8)
    return {
        "uniform noise": noise,
        "checkerboard": np.repeat(checker[..., None], 3, axis=2),
        "gradient": np.repeat(gradient[..., None], 3, axis=2),
        "grey": np.full((h, w, 3), 128, np.uint8),
    }


def table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def compared_config(default, text: str):
    """`default` with the LocalizerConfig fields of a JSON object (nested objects for pnp,
    rgbd and depth_refinement); ValueError / TypeError name what is wrong."""
    from scr_localizer.localization.depth_refinement import DepthRefinementConfig
    from scr_localizer.localization.pose_solvers import PnPConfig, RGBDConfig

    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise ValueError("not a JSON object")
    nested = {"pnp": PnPConfig, "rgbd": RGBDConfig, "depth_refinement": DepthRefinementConfig}
    return replace(default, **{key: nested[key](**value) if key in nested else value
                               for key, value in overrides.items()})


def compare(scene_map, frames, default, other, label: str, device, passes: int = 2) -> int:
    """Print stage means, the p50 total and pose differences of the default configuration and
    `other`, run frame by frame in turn (the first pass warms up and is not counted)."""
    from scr_localizer.localization.localizer import Localizer

    localizers = {"default": Localizer(scene_map, default, device=device),
                  "compared": Localizer(scene_map, other, device=device)}
    for mode in ("RGB-D", "RGB"):
        stages = {name: {} for name in localizers}
        poses = {name: [] for name in localizers}
        for rep in range(passes):
            for frame in frames:
                for name, localizer in localizers.items():
                    result = localizer.localize(frame.color, frame.camera,
                                                frame.depth if mode == "RGB-D" else None)
                    if rep == 0:
                        continue
                    for stage, ms in result.timings_ms.items():
                        stages[name].setdefault(stage, []).append(ms)
                    poses[name].append((result.world_from_camera, frame.world_from_camera,
                                        result.success))
        shift = [np.linalg.norm(a[0][:3, 3] - b[0][:3, 3]) * 1000
                 for a, b in zip(poses["default"], poses["compared"])]
        print(f"\n## {mode}: default vs {label} (load average "
              f"{os.getloadavg()[0]:.1f})\n")
        rows = []
        for name in localizers:
            errors = [np.linalg.norm(p[:3, 3] - t[:3, 3]) * 100 for p, t, _ in poses[name]]
            total = float(np.median(stages[name]["total"]))
            rows.append([name, " ".join(f"{k} {np.mean(v):.1f}" for k, v in stages[name].items()
                                        if k != "total"),
                         f"{np.mean(stages[name]['total']):.1f}", f"{total:.1f}",
                         f"{1000 / total:.1f}", f"{np.median(errors):.3f}",
                         sum(ok for _, _, ok in poses[name])])
        print(table(rows, ["config", "stage means ms", "total ms", "p50 ms", "Hz at p50",
                           "median cm", "localized"]))
        print(f"\nposes, compared vs default: median {np.median(shift):.2f} mm, "
              f"max {np.max(shift):.1f} mm")
    return 0


def end_to_end(scene_map, frames, default, device):
    """Timings of the default configuration (RGB and RGB-D), as a user runs it: measured first,
    in a process that has run nothing else (after the solver comparisons, with their extra
    localizers and full-image regressions, the same frames' encoder took 17-22 ms instead of
    12-15 ms)."""
    from scr_localizer.evaluation.metrics import summarize
    from scr_localizer.localization.localizer import Localizer

    timing_rows, timing_results = [], {}
    for label, use_depth in (("RGB", False), ("RGB-D", True)):
        localizer = Localizer(scene_map, default, device=device)
        localizer.localize(frames[0].color, frames[0].camera)  # warm-up
        recs = []
        start, cpu_start = time.perf_counter(), time.process_time()
        for frame in frames:
            result = localizer.localize(frame.color, frame.camera,
                                        frame.depth if use_depth else None)
            recs.append(_record(frame, result))
        elapsed = time.perf_counter() - start
        # Process CPU time: with --threads 1 this is what one free core would take.
        cpu_ms = (time.process_time() - cpu_start) * 1e3 / len(frames)
        summary = summarize(recs)
        stages = summary["timings_ms_mean"]
        timing_results[label] = {"summary": summary, "frames_per_s": len(frames) / elapsed,
                                 "cpu_ms_per_frame": cpu_ms}
        timing_rows.append([
            f"{label} ({result.solver})",
            *(f"{stages.get(s, 0):.1f}" for s in
              ("preprocess", "encoder", "head", "ransac", "refinement", "total")),
            fmt(summary['latency_ms_p95'], 1), f"{len(frames) / elapsed:.1f}", f"{cpu_ms:.1f}",
            fmt(summary['pct_5cm_5deg'], 1),
        ])
    return timing_rows, timing_results


def main(argv=None) -> int:
    from scr_localizer.evaluation.metrics import summarize, write_json
    from scr_localizer.io.seven_scenes import interleaved_split, iter_frames
    from scr_localizer.localization.localizer import Localizer, LocalizerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 10th query frame only")
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--train", action="store_true", help="retrain the cached map")
    parser.add_argument("--iterations", type=int, default=None,
                        help="training iterations when training (default: the cpu preset's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto", help="encoder backend: torch, onnxruntime "
                        "or auto (scr_localizer.model.backends)")
    parser.add_argument("--step", type=int, default=None, help="use every Nth query frame")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compare", default=None, metavar="JSON",
                        help="A/B: the default configuration against these LocalizerConfig "
                        "overrides (e.g. '{\"backend\": \"onnxruntime\", \"pnp\": "
                        "{\"trials_multiplier\": 3}}'), alternating frame by frame in one "
                        "process, so neighbours' noise hits both alike")
    parser.add_argument("--cases", nargs="*", default=None,
                        help="precision/recall table on these hard cases (none named: all)")
    parser.add_argument("--recollect", action="store_true",
                        help="with --cases: localize again instead of using cached records")
    args = parser.parse_args(argv)
    if args.cases is not None:
        return cases_table(args.cases, args.recollect, args.device)
    default = LocalizerConfig(backend=args.backend)
    other = None
    if args.compare:
        try:
            other = compared_config(default, args.compare)
        except (ValueError, TypeError) as exc:
            print(f"--compare '{args.compare}': {exc}; expected a JSON object of "
                  "LocalizerConfig fields, e.g. '{\"pnp\": {\"trials_multiplier\": 3}}'")
            return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        print(f"redkitchen not found at {REDKITCHEN}; set SCR_REDKITCHEN")
        return 1
    scene_map = get_map(args.map, args.train, args.iterations)
    _, queries = interleaved_split(1000)
    step = args.step or (10 if args.quick else 1)
    queries = queries[::step]
    frames = list(iter_frames(REDKITCHEN, queries))
    print(f"{len(frames)} query frames, torch threads {torch.get_num_threads()}, "
          f"map {args.map.name}")

    if args.compare:
        return compare(scene_map, frames, default, other, args.compare, args.device)
    timed = end_to_end(scene_map, frames, default, args.device)
    # One regression of all cells; each variant takes the default subset of it.
    full = Localizer(scene_map, replace(default, max_correspondences=0), device=args.device)
    sub = Localizer(scene_map, default, device=args.device)
    rows_selected = None
    records: dict[str, list] = {}
    raw: dict[str, list] = {}
    unscaled = replace(default, covariance_scale_rgb=1.0, covariance_scale_rgbd=1.0,
                       effective_independent_cells=0, min_inliers=0, min_inlier_ratio=0.0,
                       max_position_std_m=1e9, max_rotation_std_deg=1e9)
    variants = {f"{s} ({n})": (s, n) for s in SOLVERS for n in ("all cells", "subset")}
    for frame in frames:
        pixels_all, scene_all = full.regressor.regress(frame.color, max_cells=0)
        if rows_selected is None:
            layout = sub.regressor._layout(frame.camera.width, frame.camera.height,
                                           sub.config.max_correspondences)
            rows_selected = layout["selected"].cpu().numpy()
        for name, (solver, cells) in variants.items():
            if cells == "all cells" and solver not in ("pnp", "pnp+depth"):
                continue
            pixels, scene = (pixels_all, scene_all) if cells == "all cells" else (
                pixels_all[rows_selected], scene_all[rows_selected])
            localizer = full if cells == "all cells" else sub
            depth = None if solver == "pnp" else frame.depth
            # Solve once without gate or covariance scale (calibration input), then apply the
            # default gate and scale to the same pose.
            localizer.config = replace(unscaled, depth_solver=solver)
            result = localizer.solve(pixels, scene, frame.camera, depth)
            raw.setdefault(name, []).append(_record(frame, result))
            localizer.config = replace(default, depth_solver=solver)
            gated = replace_result(result, localizer._covariance_factor(result))
            gated.failure_reason = localizer._failure_reason(gated)
            gated.success = not gated.failure_reason
            records.setdefault(name, []).append(_record(frame, gated))
    accuracy_rows, results = [], {}
    for name, recs in records.items():
        summary = summarize(recs)
        ungated = summarize(raw[name])
        scale = calibrate_scale(raw[name])
        solve_ms = np.mean([r.timings_ms.get("ransac", 0) + r.timings_ms.get("refinement", 0)
                            for r in recs])
        results[name] = {"gated": summary, "ungated": ungated,
                         "covariance_fit_95": calibrate(raw[name])}
        accuracy_rows.append([
            name, fmt(summary['median_translation_cm'], 2), fmt(summary['median_rotation_deg'], 2),
            fmt(summary['pct_10cm_5deg'], 1), fmt(summary['pct_5cm_5deg'], 1),
            fmt(summary['pct_2cm_2deg'], 1), fmt(summary['pct_1cm_1deg'], 1),
            fmt(summary['pct_localized'], 1), fmt(ungated['pct_5cm_5deg'], 1),
            f"{solve_ms:.1f}",
            fmt((summary.get("covariance_calibration") or {}).get("pct_position_within_2sigma"), 0),
            f"{scale:.1f}" if scale else "n/a",
            fmt(results[name]["covariance_fit_95"].get("effective_independent_cells"), 1),
        ])
    print("\n## Accuracy (same regression per frame; subset = default "
          f"{default.max_correspondences} cells)\n")
    print(table(accuracy_rows, [
        "solver", "median cm", "median deg", "10cm/5°", "5cm/5°", "2cm/2°", "1cm/1°",
        "localized %", "5cm/5° ungated", "solver ms", "pos in 2σ %", "cov scale for 95%",
        "or n_eff for 95%"]))

    timing_rows, timing_results = timed
    print(f"\n## Default pipeline, end to end ({sub.device}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)\n")
    print(table(timing_rows, ["mode", "preprocess ms", "encoder ms", "head ms", "ransac ms",
                              "refinement ms", "total ms", "p95 ms", "frames/s", "CPU ms/frame", "5cm/5°"]))

    calibration_rows = []
    for label, item in timing_results.items():
        cal = item["summary"]["covariance_calibration"]
        calibration_rows.append([
            label, cal["frames"], fmt(cal['pct_position_within_2sigma'], 1),
            fmt(cal['pct_rotation_within_2sigma'], 1),
            fmt(cal["error_std_rank_correlation"], 2),
            fmt(cal.get("median_position_std_cm"), 2),
        ])
    print("\n## Covariance calibration (default config, localized frames)\n")
    print(table(calibration_rows, ["mode", "frames", "position errors in 2σ %",
                                   "rotation errors in 2σ %", "rank corr(error, σ)",
                                   "median σ_pos cm"]))

    # Failure detection: images from no scene in the map.
    rng = np.random.default_rng(0)
    localizer = Localizer(scene_map, default, device=args.device)
    failures = {}
    tests = [(f"shuffled pixels #{i}", shuffled(f.color, rng), f) for i, f in
             enumerate(frames[:: max(1, len(frames) // 10)][:10])]
    tests += [(name, image, frames[0]) for name, image in
              synthetic_images(frames[0].color.shape, rng).items()]
    failure_rows = []
    for label, use_depth in (("RGB", False), ("RGB-D", True)):
        flagged = 0
        inliers = []
        for _name, image, frame in tests:
            result = localizer.localize(image, frame.camera, frame.depth if use_depth else None)
            flagged += not result.success
            inliers.append(result.inlier_count)
        failures[label] = {"images": len(tests), "flagged_unsuccessful": flagged,
                           "max_inliers": int(max(inliers))}
        failure_rows.append([label, len(tests), flagged, max(inliers)])
    print("\n## Failure detection (10 shuffled-pixel queries + 4 synthetic images)\n")
    print(table(failure_rows, ["mode", "images", "flagged unsuccessful", "max inliers"]))

    out = {
        "map": str(args.map), "queries": len(frames), "query_step": step,
        "device": str(localizer.device), "threads": torch.get_num_threads(),
        "backend": localizer.regressor.backend,
        "default_config": {k: v for k, v in default.__dict__.items()
                           if not hasattr(v, "__dict__")},
        "solvers": results, "end_to_end": timing_results, "failure_detection": failures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "localization.json", json.loads(json.dumps(out, default=_jsonable)))
    print(f"\nwrote {RESULTS / 'localization.json'}")
    return 0


def cases_table(names, recollect: bool, device: str) -> int:
    from benchmarks import cases
    from scr_localizer.evaluation.metrics import write_json

    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        print(f"redkitchen not found at {REDKITCHEN}; set SCR_REDKITCHEN")
        return 1
    names = names or [*cases.TUNING_CASES, *cases.EVALUATION_CASES]
    records = cases.collect(names, device="cpu" if device == "auto" else device,
                            recollect=recollect)
    table = cases.precision_recall(records)
    print("\n## Precision / recall on the hard cases (target: >= 99 % precision, recall >= the "
          "SIFT peer's)\n")
    print(cases.precision_recall_markdown(table))
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "precision_recall.json", {"cases": {n: cases.CASES[n].description
                                                             for n in names}, "table": table})
    print(f"\nwrote {RESULTS / 'precision_recall.json'}")
    return 0


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
