"""Hard localization cases on redkitchen: maps and query frames that make a fix gate earn its keep.

Each case is a mapping frame list and a query frame list of the same recording. Queries with
no mapped view nearby (revisit, tuning) are true negatives from the same scene: any fix called
successful there must be right or it counts against precision.

    python -m benchmarks.cases [--cases NAME ...]   # train and cache the maps (CPU preset)

`TUNING_CASES` is all that benchmarks/fit_confidence.py may fit the confidence models on;
`EVALUATION_CASES` are only ever scored (benchmarks/bench_localization.py --cases). The tuning
map is built from the second half of the recording and queried on both halves, the evaluation
maps from other frame sets, so no evaluation query or map enters the fit.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REDKITCHEN = Path(os.environ.get(
    "SCR_REDKITCHEN", Path(__file__).resolve().parents[2] / "shared" / "data" / "redkitchen"))


@dataclass(frozen=True)
class Case:
    name: str
    mapping: tuple[int, ...]
    queries: tuple[int, ...]
    description: str
    time_budget_s: float = 0.0  # 0: the CPU preset's own budget

    @property
    def map_path(self) -> Path:
        if self.name == "interleaved":
            return RESULTS / "redkitchen_cpu.scrmap"  # shared with bench_localization/classical
        return RESULTS / f"redkitchen_case_{self.name}.scrmap"


def _interleaved() -> tuple[tuple[int, ...], tuple[int, ...]]:
    mapping = tuple(i for i in range(1000) if (i // 50) % 2 == 0)
    queries = tuple(i for i in range(1000) if (i // 50) % 2 == 1)
    return mapping, queries


CASES = {
    "interleaved": Case(
        "interleaved", *(lambda m, q: (m, q[::5]))(*_interleaved()),
        "map the even 50-frame blocks, query every 5th frame of the odd blocks (bench_classical)"),
    "sparse20": Case(
        "sparse20", tuple(range(0, 1000, 20)), tuple(range(10, 1000, 20)),
        "map every 20th frame (50 frames), query the frames half-way between", 240.0),
    "revisit": Case(
        "revisit", tuple(range(600)), tuple(range(600, 1000, 5)),
        "map frames 0-599, query every 5th of 600-999 (two thirds have no mapped view nearby)"),
    "tuning": Case(
        "tuning", tuple(range(500, 1000, 8)),
        tuple(range(504, 1000, 16)) + tuple(range(2, 500, 8)),
        "TUNING ONLY: map every 8th of 500-999, query between and all over 0-499", 240.0),
}
TUNING_CASES = ("tuning",)
EVALUATION_CASES = ("interleaved", "sparse20", "revisit")


def case_map(case: Case, retrain: bool = False, refresh_keyframes: bool = False):
    """The case's SCR map (CPU preset; trained once and cached under benchmarks/results/), with
    the surface model of its mapping frames."""
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.mapping.trainer import preset, train_map
    from scr_localizer.model.map_file import load_map, save_map

    path = case.map_path
    if path.exists() and not retrain:
        scene_map = load_map(path)
        if scene_map.keyframes is None or refresh_keyframes:  # cached before maps had them
            from scr_localizer.geometry.surface import KeyframeAccumulator

            keyframes = KeyframeAccumulator()
            for frame in iter_frames(REDKITCHEN, case.mapping):
                keyframes.add(frame.depth, frame.camera, frame.world_from_camera)
            scene_map.keyframes = keyframes.keyframes()
            save_map(scene_map, path)
            print(f"added {len(scene_map.keyframes)} depth keyframes to {path.name}", flush=True)
    else:
        overrides = {"time_budget_s": case.time_budget_s} if case.time_budget_s else {}
        start = time.perf_counter()
        scene_map = train_map(iter_frames(REDKITCHEN, case.mapping), preset("cpu", **overrides),
                              source=f"redkitchen case {case.name}: {case.description}")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_map(scene_map, path)
        print(f"trained {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return scene_map


RECORDS = RESULTS / "case_records.json"


def _pose_error(estimate, truth) -> tuple[float, float]:
    from scr_localizer.geometry.transforms import pose_error

    return pose_error(estimate, truth)


def _synthetic_negatives(frame, rng):
    """Images of no scene (shuffled pixels of a real frame, uniform noise) with the frame's
    depth: the negatives the old gate was calibrated on; added to the tuning set."""
    flat = frame.color.reshape(-1, 3).copy()
    rng.shuffle(flat)
    yield "shuffled", flat.reshape(frame.color.shape)
    yield "noise", rng.integers(0, 256, frame.color.shape, dtype=np.uint8)


def collect_case(case: Case, device: str = "cpu", peer: bool = True) -> list[dict]:
    """One record per query and mode (rgb, rgbd): the new result's evidence and confidence, the
    old gate's verdict on the same regression (no surface refinement then), pose errors, and
    the SIFT peer's verdict and error on the same frame (colour only)."""
    from dataclasses import replace

    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.localization.depth_refinement import DepthRefinementConfig
    from scr_localizer.localization.localizer import Localizer, LocalizerConfig

    scene_map = case_map(case)
    new = Localizer(scene_map, LocalizerConfig(), device=device)
    old_config = LocalizerConfig(gate="inliers", competitor_iterations=0, colour_depth_sigmas=0.0,
                                 depth_refinement=DepthRefinementConfig(enabled=False))
    classical = None
    if peer:
        from scr_localizer.baselines.keypoint_localizer import KeypointLocalizer, KeypointMap

        classical = KeypointLocalizer(KeypointMap.build(iter_frames(REDKITCHEN, case.mapping)))
    rng = np.random.default_rng(0)
    records = []
    start = time.perf_counter()
    for position, frame in enumerate(iter_frames(REDKITCHEN, case.queries)):
        inputs = [("real", frame.color)]
        if case.name in TUNING_CASES and position % 8 == 0:
            inputs += list(_synthetic_negatives(frame, rng))
        for kind, color in inputs:
            pixels, scene_xyz = new.regress(color)
            peer_record = {}
            if classical is not None and kind == "real":
                fix = classical.localize(color, frame.camera)
                t, r = _pose_error(fix.world_from_camera, frame.world_from_camera)
                peer_record = {"peer_success": bool(fix.success), "peer_t_m": t, "peer_r_deg": r,
                               "peer_inliers": int(fix.inliers),
                               "peer_pose": np.asarray(fix.world_from_camera).tolist()}
            for mode, depth in (("rgb", None), ("rgbd", frame.depth)):
                new.config = LocalizerConfig()
                result = new.solve(pixels, scene_xyz, frame.camera, depth)
                new.config = replace(old_config)
                old = new.solve(pixels, scene_xyz, frame.camera, depth)
                t, r = _pose_error(result.world_from_camera, frame.world_from_camera)
                t_old, r_old = _pose_error(old.world_from_camera, frame.world_from_camera)
                correct = kind == "real" and t < 0.10 and r < 5.0
                records.append({
                    "case": case.name, "frame": frame.name, "input": kind, "mode": mode,
                    "evidence": result.evidence.to_dict(), "confidence": result.confidence,
                    "success": bool(result.success), "solver": result.solver,
                    "t_m": t, "r_deg": r, "correct": bool(correct),
                    "pose": np.asarray(result.world_from_camera).tolist(),
                    "covariance": np.asarray(result.covariance).tolist(),
                    "recorded_pose": np.asarray(frame.world_from_camera).tolist(),
                    "old_success": bool(old.success), "old_t_m": t_old, "old_r_deg": r_old,
                    "old_correct": bool(kind == "real" and t_old < 0.10 and r_old < 5.0),
                    "timings_ms": result.timings_ms, **peer_record,
                })
        if position % 20 == 0:
            print(f"[{case.name}] {position + 1}/{len(case.queries)} queries, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    return records


# The depth-only alignment that re-references a query: from its ground-truth pose, the query's
# own depth aligned to the case map's depth keyframes (the mapping frames' depth at their
# ground-truth poses), with a wider association gate and more iterations than the localizer's
# refinement; no network and no fix enter it.
DEPTH_REFERENCE_ALIGNMENT = dict(iterations=30, gate_start_m=0.25, gate_end_m=0.02)


def depth_references(case: Case) -> dict[str, dict]:
    """Per query frame: how well its depth at the *ground-truth* pose agrees with the case map's
    depth keyframes (the localizer's depth check, no refinement), and the pose its depth alone
    aligns to from there (the "depth reference"). Low agreement marks queries whose recorded
    pose is inconsistent with the mapped depth, where a fix that agrees with the map is scored
    as wrong; the depth reference is where the mapped surface puts that camera. On redkitchen's
    revisit stretch colour-only solutions side with the recorded poses and depth alignment with
    the depth reference, 3-28 cm apart (benchmarks/results/localization.md)."""
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.localization.depth_refinement import (
        DepthRefinementConfig,
        refine_with_keyframes,
    )

    keyframes = case_map(case).keyframes
    out = {}
    for frame in iter_frames(REDKITCHEN, case.queries):
        check = refine_with_keyframes(frame.world_from_camera, frame.depth, frame.camera,
                                      keyframes, None, DepthRefinementConfig(iterations=0))
        aligned = refine_with_keyframes(frame.world_from_camera, frame.depth, frame.camera,
                                        keyframes, None,
                                        DepthRefinementConfig(**DEPTH_REFERENCE_ALIGNMENT))
        out[frame.name] = {
            "reference_agreement": None if check is None else check.agreement,
            "depth_reference": None if aligned is None else aligned.world_from_camera.tolist(),
            "depth_reference_agreement": None if aligned is None else aligned.agreement,
        }
    return out


def add_reference_agreement(records: list[dict]) -> list[dict]:
    for name in dict.fromkeys(r["case"] for r in records if "depth_reference" not in r):
        values = depth_references(CASES[name])
        for r in records:
            if r["case"] == name:
                r.update(values.get(r["frame"], {}))
    return records


def load_records() -> list[dict]:
    return json.loads(RECORDS.read_text()) if RECORDS.exists() else []


def save_records(records: list[dict]) -> None:
    from scr_localizer.evaluation.metrics import write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RECORDS, records)


def collect(names, device="cpu", peer=True, recollect=False) -> list[dict]:
    """Records of the named cases, collected once and cached in RECORDS."""
    records = load_records()
    have = {r["case"] for r in records}
    for name in names:
        if name in have and not recollect:
            continue
        records = [r for r in records if r["case"] != name] + collect_case(CASES[name], device,
                                                                          peer)
        save_records(records)
    if any("depth_reference" not in r for r in records if r["case"] in names):
        records = add_reference_agreement(records)
        save_records(records)
    return [r for r in records if r["case"] in names]


def rescore(record: dict, min_inliers: int | None = None) -> tuple[float, bool]:
    """(confidence, success) of a record under the current fitted models (so a refit needs no
    new localization): the localizer's confidence gate on the stored evidence."""
    from scr_localizer.localization.confidence import FixEvidence, confidence
    from scr_localizer.localization.localizer import LocalizerConfig

    floor = LocalizerConfig().min_inliers if min_inliers is None else min_inliers
    evidence = FixEvidence(**{k: (float("nan") if v is None else v)
                              for k, v in record["evidence"].items()})
    score, threshold = confidence(evidence)
    agreement = evidence.surface_agreement
    min_agreement = LocalizerConfig().depth_refinement.min_agreement
    consistent = not (np.isfinite(agreement) and agreement < min_agreement)
    return score, bool(score >= threshold and evidence.inliers >= floor and consistent)


# Below this agreement of its depth at the ground-truth pose with the map's keyframes, a query's
# reference is inconsistent with the mapped depth (at consistent queries it is 0.9-0.98).
REFERENCE_AGREEMENT_MIN = 0.6


def _gate_stats(accepted, correct, errors_cm=None, reference=None) -> dict:
    accepted, correct = np.asarray(accepted, bool), np.asarray(correct, bool)
    n = len(accepted)
    reference = None if reference is None else np.asarray(
        [np.nan if v is None else v for v in reference], float)
    out = {
        "queries": n,
        "precision_pct": 100.0 * float(correct[accepted].mean()) if accepted.any() else None,
        "accepted_pct": 100.0 * float(accepted.mean()) if n else None,
        "recall_pct": 100.0 * float((accepted & correct).mean()) if n else None,
        "wrong_accepted": int((accepted & ~correct).sum()),
    }
    if reference is not None:
        doubtful = ~(reference >= REFERENCE_AGREEMENT_MIN)  # NaN (no keyframe near) counts too
        out["wrong_accepted_doubtful_reference"] = int((accepted & ~correct & doubtful).sum())
    if errors_cm is not None:
        errors = np.asarray(errors_cm)[accepted]
        out["median_cm_accepted"] = float(np.median(errors)) if len(errors) else None
    return out


def precision_recall(records: list[dict]) -> dict:
    """Per case and mode: the old inlier gate, the confidence gate and the SIFT peer (colour
    only: the same numbers on both modes' rows), over the real queries."""
    table = {}
    for case in dict.fromkeys(r["case"] for r in records):
        for mode in ("rgb", "rgbd"):
            rows = [r for r in records if r["case"] == case and r["mode"] == mode
                    and r["input"] == "real"]
            if not rows:
                continue
            new = [rescore(r)[1] for r in rows]
            reference = [r.get("reference_agreement") for r in rows]
            item = {
                "old_gate": _gate_stats([r["old_success"] for r in rows],
                                        [r["old_correct"] for r in rows],
                                        [100 * r["old_t_m"] for r in rows], reference),
                "confidence_gate": _gate_stats(new, [r["correct"] for r in rows],
                                               [100 * r["t_m"] for r in rows], reference),
                "median_cm_all": float(np.median([100 * r["t_m"] for r in rows])),
                "old_median_cm_all": float(np.median([100 * r["old_t_m"] for r in rows])),
            }
            if "peer_success" in rows[0]:
                item["sift_peer"] = _gate_stats(
                    [r["peer_success"] for r in rows],
                    [r["peer_t_m"] < 0.10 and r["peer_r_deg"] < 5.0 for r in rows],
                    [100 * r["peer_t_m"] for r in rows], reference)
            item["right_pct"] = 100.0 * float(np.mean([r["correct"] for r in rows]))
            if all(r.get("covariance") and r.get("recorded_pose") for r in rows):
                item["covariance_2sigma_pct"] = _covariance_coverage(rows)
                # What a node publishes: the accepted fixes only.
                published = [r for r, ok in zip(rows, new) if ok]
                item["covariance_2sigma_accepted_pct"] = (
                    _covariance_coverage(published) if published else None)
            if all(r.get("depth_reference") and r.get("pose") for r in rows):
                item["depth_reference"] = _against_depth_reference(rows, new)
            table[f"{case}/{mode}"] = item
    return table


def _covariance_coverage(rows: list[dict]) -> float:
    """Share (%) of the per-axis position errors (fix minus recorded pose) inside two standard
    deviations of the published covariance, over every query: ~95 % when it is honest."""
    inside = []
    for r in rows:
        error = np.asarray(r["pose"])[:3, 3] - np.asarray(r["recorded_pose"])[:3, 3]
        sigma = np.sqrt(np.maximum(np.diag(np.asarray(r["covariance"]))[:3], 0.0))
        inside.extend(np.abs(error) <= 2 * sigma)
    return 100.0 * float(np.mean(inside))


def _against_depth_reference(rows: list[dict], accepted: list[bool]) -> dict:
    """The same fixes scored against the depth reference (depth_references) instead of the
    recording's poses: how many are within 10 cm / 5 deg ungated, and the gates' precision."""
    def within(pose_key: str) -> list[bool]:
        out = []
        for r in rows:
            t, deg = _pose_error(np.asarray(r[pose_key]), np.asarray(r["depth_reference"]))
            out.append(t < 0.10 and deg < 5.0)
        return out

    ours = within("pose")
    item = {"right_pct": 100.0 * float(np.mean(ours)),
            "confidence_gate": _gate_stats(accepted, ours)}
    if all(r.get("recorded_pose") for r in rows):
        # Where the recorded pose itself is more than 10 cm / 5 deg from where the query's depth
        # puts the camera, a fix that follows the depth is scored wrong against it: this share
        # bounds what such fixes can score against the recorded poses.
        item["recorded_within_pct"] = 100.0 * float(np.mean(within("recorded_pose")))
    if all(r.get("peer_pose") for r in rows):
        item["sift_peer"] = _gate_stats([r["peer_success"] for r in rows], within("peer_pose"))
    return item


def precision_recall_markdown(table: dict) -> str:
    def cell(stats):
        if not stats:
            return "–"
        p = stats["precision_pct"]
        doubtful = stats.get("wrong_accepted_doubtful_reference")
        return (f"{'–' if p is None else f'{p:.1f}'} / {stats['accepted_pct']:.0f} / "
                f"{stats['recall_pct']:.0f} ({stats['wrong_accepted']} wrong"
                + ("" if doubtful is None else f", {doubtful} at doubtful truth") + ")")

    lines = ["| case / mode | queries | old gate (80 inliers) | confidence gate "
             "| SIFT peer (colour) | median cm, accepted: confidence / SIFT |",
             "|---|---|---|---|---|---|"]
    for key, item in table.items():
        tuning = " (tuning)" if key.split("/")[0] in TUNING_CASES else ""
        new, peer = item["confidence_gate"], item.get("sift_peer") or {}
        lines.append(
            f"| {key}{tuning} | {new['queries']} | {cell(item['old_gate'])} | {cell(new)} "
            f"| {cell(peer)} | {_fmt(new.get('median_cm_accepted'), 2)} / "
            f"{_fmt(peer.get('median_cm_accepted'), 2)} |")
    lines.append("")
    depth_rows = [(key, item) for key, item in table.items() if "depth_reference" in item]
    if depth_rows:
        lines += ["Against the depth reference (each query's depth aligned to the map's depth "
                  "keyframes from its recorded pose; no network involved):", "",
                  "| case / mode | within 10 cm / 5°, ungated: recorded poses / depth reference "
                  "| recorded pose within 10 cm / 5° of the depth reference "
                  "| confidence gate | SIFT peer (colour) |", "|---|---|---|---|---|"]
        for key, item in depth_rows:
            ref = item["depth_reference"]
            lines.append(f"| {key} | {item['right_pct']:.1f} / {ref['right_pct']:.1f} "
                         f"| {_fmt(ref.get('recorded_within_pct'))} "
                         f"| {cell(ref['confidence_gate'])} | {cell(ref.get('sift_peer'))} |")
        lines.append("")
    coverage_rows = [(key, item) for key, item in table.items() if "covariance_2sigma_pct" in item]
    if coverage_rows:
        lines += ["Published covariance: per-axis position errors (against the recorded poses) "
                  "inside 2 sigma, accepted fixes (what a node publishes) / all queries: "
                  + ", ".join(f"{key} {_fmt(item.get('covariance_2sigma_accepted_pct'))} / "
                              f"{item['covariance_2sigma_pct']:.1f} %"
                              for key, item in coverage_rows) + ".", ""]
    lines.append("Cells: precision % (accepted fixes within 10 cm / 5°) / accepted % of all "
                 "queries / recall % (accepted and right, of all queries). 'at doubtful truth': "
                 "wrong fixes on queries whose ground-truth pose's depth agrees with less than "
                 f"{REFERENCE_AGREEMENT_MIN:.0%} of the map's keyframe surface.")
    return "\n".join(lines)


def score_variant(case: Case, overrides: dict) -> dict:
    """Train the case's map with the CPU preset and `overrides` (not cached) and localize its
    queries with the default localizer: per mode the share within 10 cm / 5 deg without a
    gate, the median error, what the gate accepts, and the map's held-out and training cells within 10 px. How
    the mapping preset is chosen, on the tuning case only."""
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.localization.localizer import LocalizerConfig
    from scr_localizer.mapping.trainer import preset, train_map

    if case.time_budget_s and "time_budget_s" not in overrides:
        overrides = {**overrides, "time_budget_s": case.time_budget_s}
    start = time.perf_counter()
    scene_map = train_map(iter_frames(REDKITCHEN, case.mapping), preset("cpu", **overrides),
                          source=f"redkitchen case {case.name} (variant)")
    out = {"case": case.name, "overrides": overrides,
           "mapping_s": round(time.perf_counter() - start, 1),
           "iterations": scene_map.stats.get("iterations"),
           "holdout_inlier_share": scene_map.stats.get("holdout_inlier_share"),
           "training_inlier_share": scene_map.stats.get("inlier_share")}
    scores = _score_queries(case, scene_map, {"default": LocalizerConfig()})
    return {**out, "rgb": scores["rgb/default"], "rgbd": scores["rgbd/default"]}


def _score_queries(case: Case, scene_map, configs: dict, device: str = "cpu") -> dict:
    """The case's queries regressed once (per max_correspondences) and solved by each named
    LocalizerConfig, colour only and with depth: per 'mode/name' the share within 10 cm /
    5 deg without a gate, the median error and the gate's stats."""
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.localization.localizer import Localizer

    cells = {config.max_correspondences for config in configs.values()}
    localizer = Localizer(scene_map, next(iter(configs.values())), device=device)
    rows: dict[str, list[tuple[bool, bool, float]]] = {}
    for frame in iter_frames(REDKITCHEN, case.queries):
        regressions = {n: localizer.regressor.regress(frame.color, n) for n in cells}
        for mode, depth in (("rgb", None), ("rgbd", frame.depth)):
            for name, config in configs.items():
                localizer.config = config
                pixels, scene_xyz = regressions[config.max_correspondences]
                result = localizer.solve(pixels, scene_xyz, frame.camera, depth)
                t, r = _pose_error(result.world_from_camera, frame.world_from_camera)
                rows.setdefault(f"{mode}/{name}", []).append(
                    (t < 0.10 and r < 5.0, bool(result.success), 100.0 * t))
    scores = {}
    for key, items in rows.items():
        right = np.array([x[0] for x in items])
        errors = [x[2] for x in items]
        scores[key] = {"right_pct": 100.0 * float(right.mean()),
                       "median_cm": float(np.median(errors)),
                       **_gate_stats([x[1] for x in items], right, errors)}
    return scores


def score_localizer_variant(case: Case, variant, label: dict, device: str = "cpu") -> dict:
    """The cached case map's queries solved by the default localizer and by `variant` (a
    LocalizerConfig; `label`: its overrides) on the same regressions. How localizer defaults
    are chosen, on the tuning case only."""
    from scr_localizer.localization.localizer import LocalizerConfig

    configs = {"default": LocalizerConfig(), "variant": variant}
    return {"case": case.name, "variant": label,
            **_score_queries(case, case_map(case), configs, device)}


def _fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="train and cache the hard cases' maps")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--refresh-keyframes", action="store_true",
                        help="recompute the cached maps' depth keyframes")
    parser.add_argument("--collect", action="store_true",
                        help="also localize the cases' queries and cache the records")
    parser.add_argument("--no-peer", action="store_true", help="skip the SIFT peer")
    parser.add_argument("--variant", action="store_true",
                        help="instead: train each named case's map with --set overrides (not "
                        "cached) and print its queries' share within 10 cm / 5 deg; for "
                        "choosing the mapping preset, on the tuning case only")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="with --variant: a MappingConfig override, e.g. --set seed=1")
    parser.add_argument("--localizer", default=None, metavar="JSON",
                        help="instead: solve each named case's cached map with the default "
                        "localizer and with these LocalizerConfig overrides (e.g. "
                        "'{\"depth_refinement\": {\"prior_inflation\": 5}}') on the same "
                        "regressions; for choosing localizer defaults, on the tuning case only")
    args = parser.parse_args(argv)
    if args.localizer:
        from benchmarks.bench_localization import compared_config
        from scr_localizer.localization.localizer import LocalizerConfig

        try:
            variant = compared_config(LocalizerConfig(), args.localizer)
        except (ValueError, TypeError) as exc:
            parser.error(f"--localizer '{args.localizer}': {exc}; expected a JSON object of "
                         "LocalizerConfig fields")
        for name in args.cases:
            if name not in TUNING_CASES:
                print(f"note: {name} is an evaluation case; choosing a default on it makes its "
                      "numbers mean less", flush=True)
            print(json.dumps(score_localizer_variant(CASES[name], variant,
                                                     json.loads(args.localizer))), flush=True)
        return 0
    if args.set and not args.variant:
        parser.error("--set needs --variant")
    if args.variant:
        from benchmarks.bench_mapping import parse_overrides

        for name in args.cases:
            if name not in TUNING_CASES:
                print(f"note: {name} is an evaluation case; choosing a preset on it makes its "
                      "numbers mean less", flush=True)
            print(json.dumps(score_variant(CASES[name], parse_overrides(args.set))), flush=True)
        return 0
    for name in args.cases:
        case_map(CASES[name], args.retrain, args.refresh_keyframes)
    if args.collect:
        collect(args.cases, peer=not args.no_peer, recollect=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
