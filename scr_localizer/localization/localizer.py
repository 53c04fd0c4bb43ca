"""Relocalization: one colour image (plus optional depth) and a map to a camera pose.

Scene coordinates come from `model.regressor` (the one inference path, GPU when there is one);
the selected correspondences (a few thousand 3-vectors) go to the pose solver, then the success
gates decide whether the pose is trustworthy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.localization.confidence import FixEvidence, confidence
from scr_localizer.localization.depth_refinement import (
    DepthRefinementConfig,
    refine_with_keyframes,
)
from scr_localizer.localization.pose_solvers import (
    PnPConfig,
    PoseEstimate,
    RGBDConfig,
    estimate_pose_rgb,
    estimate_pose_rgbd,
    pose_offset,
    position_std_m,
    rotation_std_deg,
)
from scr_localizer.model.precision import check_precision
from scr_localizer.model.regressor import SceneCoordinateRegressor, StageTimer

DEPTH_SOLVERS = ("joint", "kabsch", "pnp+depth", "pnp")
GATES = ("confidence", "inliers")


@dataclass
class LocalizerConfig:
    """What the relocalizer does per frame and when it calls a pose trustworthy."""

    max_correspondences: int = 2400  # cells sent through the head and the solver (0 = all)
    depth_solver: str = "pnp+depth"  # with depth: one of DEPTH_SOLVERS ("pnp" ignores depth)
    pnp: PnPConfig = field(default_factory=PnPConfig)
    rgbd: RGBDConfig = field(default_factory=RGBDConfig)
    depth_refinement: DepthRefinementConfig = field(default_factory=DepthRefinementConfig)
    # "confidence": success = confidence >= min_confidence (and min_inliers as a floor);
    # "inliers": the fixed thresholds below, every one must hold (the gate before confidence).
    gate: str = "confidence"
    min_confidence: float | None = None  # None: the fitted threshold for the target precision
    competitor_iterations: int = 200  # RANSAC iterations for the best competing hypothesis
    # ... on a random subset of this many of the cells the fix leaves (all of them are scored).
    # 500 cut the evidence from 4.8 to 2.3 ms per frame, but revisit/rgbd then accepted one
    # more wrong fix at a consistent reference (benchmarks/results/localization.md,
    # 2026-12-05): kept at 1000, precision first.
    competitor_points: int = 1000
    # Images of other scenes (shuffled pixels, noise) get <= ~40 of 2400 by chance; with the
    # confidence gate min_inliers is only a floor under it.
    min_inliers: int = 80
    min_inlier_ratio: float = 0.03
    max_position_std_m: float = 0.15
    max_rotation_std_deg: float = 5.0
    # Residual-based covariances assume independent cells, but a map's errors are shared by
    # neighbouring cells, so the raw covariance is far too small. It is multiplied by these
    # factors (per solver: RGB-only and with depth), fitted on redkitchen so that ~95 % of
    # per-axis position errors fall inside 2 sigma (benchmarks/bench_localization.py).
    covariance_scale_rgb: float = 50.0
    covariance_scale_rgbd: float = 40.0
    # Optionally also x inliers / effective_independent_cells (when > 1; 0 disables).
    effective_independent_cells: int = 0
    # With depth, the colour-only pose lies at most this many standard deviations from the
    # published one (the covariance gains the outer product of their offset / this; 0: not
    # widened). Colour and depth are separate evidence: where they disagree (depth not
    # registered or not synchronised to colour, depth distortion at range), one of them is off
    # by about that much, and a filter downstream must not take the fix as tighter. RGB-D
    # per-axis position errors inside 2 sigma (median per-axis sigma), without -> with:
    # redkitchen revisit 76.7 -> 97.1 % (1.75 -> 2.73 cm), interleaved 94.7 -> 98.0 % (0.80 ->
    # 1.08 cm), sparse20 98.7 -> 98.7 %, tuning 81.2 -> 89.0 %; poses and confidence unchanged
    # (benchmarks/results/localization.md, 2026-12-06).
    colour_depth_sigmas: float = 2.0
    seed: int = 0
    # Encoder backend: torch, onnxruntime (CPU) or auto (model.backends.resolve_backend):
    # PyTorch on CUDA and on CPUs with native bfloat16 (channels-last, coarse blocks in
    # bfloat16), elsewhere ONNX Runtime when it is installed and the device is the CPU.
    backend: str = "auto"
    # Head hidden layers (model.precision): auto = fp16 on CUDA, bf16 on CPUs with AMX or
    # AVX512-BF16 (head 4.6 -> 1.1 ms per frame there), fp32 elsewhere; float32 = always fp32.
    precision: str = "auto"
    # Maps with submaps: only this many heads, the most plausible on a sample of cells, get
    # the full pose solve (0 = every head). See _plausible_heads for what it costs.
    max_solved_heads: int = 2
    head_selection_cells: int = 600

    def __post_init__(self):
        if self.depth_solver not in DEPTH_SOLVERS:
            raise ScrLocalizerError(
                f"unknown depth_solver '{self.depth_solver}'; expected one of "
                f"{', '.join(DEPTH_SOLVERS)}"
            )
        check_precision(self.precision)
        if self.gate not in GATES:
            raise ScrLocalizerError(
                f"unknown gate '{self.gate}'; expected one of {', '.join(GATES)}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ScrLocalizerError(
                f"min_confidence {self.min_confidence} is outside [0, 1]; expected a "
                "probability (or None for the fitted threshold)")


@dataclass
class Regression:
    """A frame's correspondences before the pose: one scene_xyz array per head of the map."""

    pixels: np.ndarray  # Mx2 float32, input pixel coordinates
    scene_xyz: list[np.ndarray]  # per head, Mx3 float32 in the map frame
    camera: PinholeCamera
    depth: np.ndarray | None
    timings_ms: dict[str, float]
    start_s: float  # perf_counter when the frame entered regress_frame
    heads: list[int] = field(default_factory=lambda: [0])  # the map head of each scene_xyz


@dataclass
class LocalizationResult:
    success: bool
    world_from_camera: np.ndarray  # 4x4, colour optical frame in the map frame
    covariance: np.ndarray  # 6x6 (x, y, z, roll, pitch, yaw), metres / radians, map frame
    inlier_count: int
    inlier_ratio: float
    timings_ms: dict[str, float]
    solver: str = ""
    failure_reason: str = ""  # empty on success
    submap: int = 0  # which head of a map with submaps gave the pose
    confidence: float = 0.0  # probability that the fix is within 10 cm / 5 deg
    confidence_threshold: float = 1.0  # what success required of it
    evidence: FixEvidence = field(default_factory=FixEvidence)
    depth_refined: bool = False  # the pose was aligned to the map's measured surface

    @property
    def position_std_m(self) -> float:
        return position_std_m(self.covariance)

    @property
    def rotation_std_deg(self) -> float:
        return rotation_std_deg(self.covariance)

    @property
    def colour_depth_shift_m(self) -> float | None:
        """How far depth moved the fix from the colour-only pose; None without depth."""
        shift = self.evidence.colour_depth_shift_m
        return float(shift) if np.isfinite(shift) else None


class Localizer:
    """The map's regressor (the one inference path) plus the pose solvers and success gates."""

    def __init__(self, scene_map, config: LocalizerConfig | None = None, device="auto"):
        self.config = config or LocalizerConfig()
        self.scene_map = scene_map
        self.regressor = SceneCoordinateRegressor(scene_map, device=device, seed=self.config.seed,
                                                  backend=self.config.backend,
                                                  precision=self.config.precision)
        self.device = self.regressor.device
        self.encoder = self.regressor.encoder
        self.head = self.regressor.head
        self.use_fp16 = self.regressor.use_fp16

    def regress(self, color: np.ndarray, timer: StageTimer | None = None):
        """(pixels Mx2 float32 in input pixel coordinates, scene_xyz Mx3 float32) for the
        configured number of cells."""
        return self.regressor.regress(color, self.config.max_correspondences, timer)

    # -- pose ---------------------------------------------------------------------------------
    def _check_inputs(self, color, camera, depth):
        color = np.asarray(color)
        if color.ndim != 3 or color.shape[2] < 3 or color.shape[0] < 8 or color.shape[1] < 8:
            raise ScrLocalizerError(
                f"colour image of shape {color.shape} cannot be localized; expected HxWx3 RGB"
            )
        if (camera.width, camera.height) != (color.shape[1], color.shape[0]):
            raise ScrLocalizerError(
                f"image is {color.shape[1]}x{color.shape[0]} but its camera says "
                f"{camera.width}x{camera.height}; expected matching sizes"
            )
        if depth is not None and np.asarray(depth).shape[:2] != color.shape[:2]:
            raise ScrLocalizerError(
                f"depth image is {np.asarray(depth).shape[1]}x{np.asarray(depth).shape[0]} but "
                f"the colour image is {color.shape[1]}x{color.shape[0]}; expected depth "
                "registered to colour"
            )
        return color

    def localize(
        self, color: np.ndarray, camera: PinholeCamera, depth: np.ndarray | None = None
    ) -> LocalizationResult:
        """Pose of the colour camera in the map. `depth` (float32 metres registered to the
        colour image, 0 = invalid) switches to the configured RGB-D solver."""
        return self.solve_regression(self.regress_frame(color, camera, depth))

    def regress_frame(self, color: np.ndarray, camera: PinholeCamera,
                      depth: np.ndarray | None = None) -> Regression:
        """The network half of `localize` (checks, encoder, every head). The node runs it on
        one thread while the previous frame's `solve_regression` runs on another."""
        start = time.perf_counter()
        color = self._check_inputs(color, camera, depth)
        timer = StageTimer(self.device)
        regressor = self.regressor
        pixels, cells = regressor.encode_cells(color, self.config.max_correspondences, timer)
        heads = list(range(len(regressor.heads)))
        if 0 < self.config.max_solved_heads < len(heads):
            heads = self._plausible_heads(pixels, cells, camera, depth)
            timer.lap("head_selection")
        per_head = regressor.forward_heads(cells, heads)
        timer.lap("head")
        return Regression(pixels, per_head, camera, depth, timer.times, start, heads)

    def _plausible_heads(self, pixels, cells, camera, depth) -> list[int]:
        """The max_solved_heads heads (best first) whose predictions on a sample of cells fit
        the view best, for a fraction of a full solve per head.

        With depth: first pose-free, every head: a rigid motion keeps distances, so for pairs
        of cells the distance between a right head's scene coordinates matches that between
        the measured points (a head that never saw the view predicts other surfaces); then,
        for the best few, the inliers of a 64-hypothesis 3D-3D RANSAC on 300 cells. On
        room360 (14 heads, 57 of 60 queries with a head that localizes them): distances alone
        put such a head first for 49, second for 53; with the RANSAC on the best 4, first for
        55 (10 ms per frame; RANSAC on every head: 56, 23 ms; solving every head: 256 ms
        instead of 85 ms per frame). Colour only: the inliers of a short PnP RANSAC."""
        config = self.config
        rng = np.random.default_rng(config.seed)
        rows = np.sort(rng.choice(len(pixels), min(len(pixels), config.head_selection_cells),
                                  replace=False))
        candidates = list(range(len(self.regressor.heads)))
        per_head = self.regressor.forward_heads(cells, candidates, rows)
        sample = pixels[rows]
        measured = None if depth is None else _sample_depth(np.asarray(depth, np.float32),
                                                            sample)
        if measured is not None and np.count_nonzero(measured > 0) >= 20:
            has = np.flatnonzero(measured > 0)
            points = camera.backproject(sample[has].astype(np.float64), measured[has])
            first, second = rng.integers(0, len(has), size=(2, 2048))
            apart = np.linalg.norm(points[first] - points[second], axis=1)
            keep = apart > 0.1
            first, second, apart = first[keep], second[keep], apart[keep]
            rigid = []
            for xyz in per_head:
                xyz = xyz[has].astype(np.float64)
                predicted = np.linalg.norm(xyz[first] - xyz[second], axis=1)
                rigid.append(np.mean(np.abs(predicted - apart) < 0.03 + 0.05 * apart))
            shortlist = np.argsort(-np.asarray(rigid), kind="stable")[
                :max(4, config.max_solved_heads)]
            camera_xyz = np.zeros((len(rows), 3))
            camera_xyz[has] = points
            subset = slice(0, None, max(1, len(rows) // 300))  # ~300 cells all over the image
            ransac = RGBDConfig(hypotheses=64, local_optimization_rounds=1,
                                refinement="kabsch", seed=config.seed)
            scores = np.full(len(candidates), -1.0)
            for head in shortlist:
                scores[head] = estimate_pose_rgbd(
                    sample[subset], per_head[head][subset], camera_xyz[subset], camera,
                    ransac).inlier_count
        else:
            short = self._short_pnp(100)
            scores = [estimate_pose_rgb(sample, xyz, camera, short).inlier_count
                      for xyz in per_head]
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        return [int(i) for i in order[:config.max_solved_heads]]

    def solve_regression(self, regression: Regression) -> LocalizationResult:
        """The geometry half of `localize`: a pose per head, the most confident one wins."""
        start = time.perf_counter()
        results = []
        for index, scene_xyz in zip(regression.heads, regression.scene_xyz):
            result = self.solve(regression.pixels, scene_xyz, regression.camera, regression.depth)
            result.submap = index
            results.append(result)
        best = most_confident(results)
        if len(results) > 1:
            best.timings_ms["solve_all_submaps"] = (time.perf_counter() - start) * 1e3
        best.timings_ms = {**regression.timings_ms, **best.timings_ms}
        best.timings_ms["total"] = (time.perf_counter() - regression.start_s) * 1e3
        return best

    def solve(
        self, pixels: np.ndarray, scene_xyz: np.ndarray, camera: PinholeCamera,
        depth: np.ndarray | None = None,
    ) -> LocalizationResult:
        """The pose part of `localize` for given correspondences (e.g. to compare solvers on
        one regression)."""
        finite = np.isfinite(scene_xyz).all(axis=1)
        if not finite.all():
            pixels, scene_xyz = pixels[finite], scene_xyz[finite]
        timings = {}
        estimate = self._solve(pixels, scene_xyz, camera, depth)
        evidence = self._evidence(estimate, pixels, scene_xyz, camera, depth, timings)
        pose = estimate.world_from_camera
        covariance = estimate.covariance * self._covariance_factor(estimate)
        refined = False
        keyframes = getattr(self.scene_map, "keyframes", None)
        refinement = self.config.depth_refinement
        if (depth is not None and keyframes is not None and refinement.enabled
                and estimate.solver != "pnp" and estimate.inlier_count >= 6):
            start = time.perf_counter()
            aligned = refine_with_keyframes(pose, np.asarray(depth, dtype=np.float32), camera,
                                            keyframes, covariance, refinement)
            timings["depth_refinement"] = (time.perf_counter() - start) * 1e3
            if aligned is not None:
                evidence.surface_agreement = aligned.agreement
                evidence.surface_residual_m = aligned.residual_m
                evidence.refinement_shift_m = aligned.shift_m
                if aligned.pairs >= refinement.min_pairs:
                    pose, covariance, refined = aligned.world_from_camera, aligned.covariance, True
        if estimate.colour_only_pose is not None:
            covariance = self._cover_colour_only_pose(pose, covariance, estimate, evidence)
        score, threshold = confidence(evidence)
        if self.config.min_confidence is not None:
            threshold = self.config.min_confidence
        result = LocalizationResult(
            success=False,
            world_from_camera=pose,
            covariance=covariance,
            inlier_count=estimate.inlier_count,
            inlier_ratio=estimate.inlier_ratio,
            timings_ms={**estimate.timings_ms, **timings},
            solver=estimate.solver + ("+surface" if refined else ""),
            confidence=score,
            confidence_threshold=threshold,
            evidence=evidence,
            depth_refined=refined,
        )
        result.failure_reason = self._failure_reason(result)
        result.success = not result.failure_reason
        return result

    def _cover_colour_only_pose(self, pose, covariance, estimate, evidence) -> np.ndarray:
        """The covariance widened so that the colour-only pose lies within colour_depth_sigmas
        of `pose` (records how far depth moved the fix in the evidence)."""
        offset = pose_offset(pose, estimate.colour_only_pose)
        evidence.colour_depth_shift_m = float(np.linalg.norm(offset[:3]))
        evidence.colour_depth_shift_deg = float(np.degrees(np.linalg.norm(offset[3:])))
        sigmas = self.config.colour_depth_sigmas
        if sigmas <= 0 or not np.all(np.isfinite(covariance)):
            return covariance
        return covariance + np.outer(offset, offset) / sigmas**2

    def _evidence(self, estimate: PoseEstimate, pixels, scene_xyz, camera, depth,
                  timings) -> FixEvidence:
        """What the solver knows about the fix, for the confidence (geometry only, no labels)."""
        start = time.perf_counter()
        inliers = estimate.inliers
        count = estimate.inlier_count
        raw = estimate.covariance
        evidence = FixEvidence(
            inliers=count, inlier_ratio=estimate.inlier_ratio,
            position_std_m=position_std_m(raw) if np.all(np.isfinite(raw)) else float("nan"),
            rotation_std_deg=rotation_std_deg(raw) if np.all(np.isfinite(raw)) else float("nan"))
        if count == 0:
            return evidence
        # Spread: share of an 8x6 grid over the image with at least 2 inliers.
        cols = np.clip((pixels[inliers, 0] / camera.width * 8).astype(int), 0, 7)
        rows = np.clip((pixels[inliers, 1] / camera.height * 6).astype(int), 0, 5)
        occupied = np.bincount(rows * 8 + cols, minlength=48)
        evidence.coverage = float(np.count_nonzero(occupied >= 2) / 48)
        # The best competing hypothesis among the cells the fix does not explain.
        rest = ~inliers
        if np.count_nonzero(rest) >= 12 and self.config.competitor_iterations > 0:
            competitor = estimate_pose_rgb(
                pixels[rest], scene_xyz[rest], camera,
                self._short_pnp(self.config.competitor_iterations,
                                self.config.competitor_points))
            evidence.second_ratio = competitor.inlier_count / max(count, 1)
        if depth is not None:
            measured = _sample_depth(np.asarray(depth, dtype=np.float32), pixels)
            has = measured > 0
            if np.count_nonzero(has) >= 10:
                pose = estimate.world_from_camera
                predicted = (scene_xyz[has] - pose[:3, 3]) @ pose[:3, :3]
                tolerance = np.maximum(0.05, 0.03 * measured[has])
                evidence.depth_agreement = float(np.mean(
                    np.abs(predicted[:, 2] - measured[has]) < tolerance))
        timings["evidence"] = (time.perf_counter() - start) * 1e3
        return evidence

    def _short_pnp(self, iterations: int, points: int | None = None) -> PnPConfig:
        """The PnP RANSAC with at most `iterations` (on at most `points` random cells) and no
        refinement: for rankings and evidence, which need the inliers only."""
        pnp = self.config.pnp
        return PnPConfig(**{**pnp.__dict__, "max_iterations": iterations,
                            "min_iterations": min(pnp.min_iterations, iterations),
                            "refine_iterations": 0,
                            "max_ransac_points": points or pnp.max_ransac_points})

    def _solve(self, pixels, scene_xyz, camera, depth) -> PoseEstimate:
        config = self.config
        if depth is None or config.depth_solver == "pnp":
            return estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp)
        measured = _sample_depth(np.asarray(depth, dtype=np.float32), pixels)
        if np.count_nonzero(measured > 0) < config.rgbd.min_valid_depth_points:
            return estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp)
        if config.depth_solver == "pnp+depth":
            estimate = estimate_pose_rgb(pixels, scene_xyz, camera, config.pnp, measured)
            estimate.solver = "pnp+depth"
            return estimate
        camera_xyz = camera.backproject(pixels.astype(np.float64), measured.astype(np.float64))
        camera_xyz[measured <= 0] = 0.0
        rgbd = config.rgbd
        if config.depth_solver != rgbd.refinement:
            rgbd = RGBDConfig(**{**rgbd.__dict__, "refinement": config.depth_solver})
        return estimate_pose_rgbd(pixels, scene_xyz, camera_xyz, camera, rgbd)

    def _covariance_factor(self, estimate: PoseEstimate) -> float:
        config = self.config
        factor = config.covariance_scale_rgb if estimate.solver == "pnp" else (
            config.covariance_scale_rgbd)
        if config.effective_independent_cells > 0:
            factor *= max(1.0, estimate.inlier_count / config.effective_independent_cells)
        return factor

    def _failure_reason(self, result: LocalizationResult) -> str:
        config = self.config
        if config.gate == "confidence":
            if result.inlier_count < config.min_inliers:
                return f"{result.inlier_count} inliers < {config.min_inliers}"
            if not np.all(np.isfinite(result.covariance)):
                return "covariance not finite"
            agreement = result.evidence.surface_agreement
            if np.isfinite(agreement) and agreement < config.depth_refinement.min_agreement:
                return (f"depth disagrees with the map: {agreement:.0%} of the surface within "
                        f"{100 * config.depth_refinement.agreement_m:.0f} cm < "
                        f"{config.depth_refinement.min_agreement:.0%}")
            if result.confidence < result.confidence_threshold:
                return (f"confidence {result.confidence:.2f} < {result.confidence_threshold:.2f}"
                        f" ({result.inlier_count} inliers)")
            return ""
        if result.inlier_count < config.min_inliers:
            return f"{result.inlier_count} inliers < {config.min_inliers}"
        if result.inlier_ratio < config.min_inlier_ratio:
            return f"inlier ratio {result.inlier_ratio:.2f} < {config.min_inlier_ratio}"
        if not np.all(np.isfinite(result.covariance)):
            return "covariance not finite"
        if result.position_std_m > config.max_position_std_m:
            return f"position std {result.position_std_m:.3f} m > {config.max_position_std_m}"
        if result.rotation_std_deg > config.max_rotation_std_deg:
            return f"rotation std {result.rotation_std_deg:.2f} deg > {config.max_rotation_std_deg}"
        return ""


def pose_confidence(result: LocalizationResult) -> tuple:
    """How much a pose is to be trusted, for choosing among the heads of a map with submaps:
    passing the gates first, then the calibrated confidence (localization.confidence), then
    inliers."""
    return (bool(result.success), float(result.confidence), int(result.inlier_count))


def most_confident(results: list[LocalizationResult]) -> LocalizationResult:
    """The result with the highest pose_confidence (the first on ties)."""
    return max(results, key=pose_confidence)


def _sample_depth(depth: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Depth at each cell centre (nearest pixel); 0 where invalid."""
    height, width = depth.shape[:2]
    cols = np.clip(np.rint(pixels[:, 0]).astype(np.int64), 0, width - 1)
    rows = np.clip(np.rint(pixels[:, 1]).astype(np.int64), 0, height - 1)
    values = depth[rows, cols].astype(np.float64)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    return values
