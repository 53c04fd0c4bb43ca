"""How far to trust a fix: one calibrated score from everything the solver knows.

A fixed inlier count is calibrated only against images of other scenes; inside the mapped scene
a wrong fix can have more inliers than a right one (redkitchen sparse maps: wrong fixes with
85-130 inliers above the old 80-inlier gate). The evidence below (inlier count and ratio, their
spread over the image, the gap to the best competing hypothesis, the pose covariance and, with
depth, the agreement of the fix with the measured depth and with the map's surface) goes into a
small logistic model per input kind whose output is the probability that the fix is within
10 cm / 5 deg. The success flag is a threshold on it chosen for a target precision.

The coefficients are constants, fitted by benchmarks/fit_confidence.py on the tuning case only
(benchmarks/cases.py) and checked on the evaluation cases, which never enter the fit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class FixEvidence:
    """What the solver knows about one fix; NaN where a kind of evidence does not exist."""

    inliers: int = 0
    inlier_ratio: float = 0.0
    coverage: float = 0.0  # share of a 8x6 grid over the image holding >= 2 inliers
    second_ratio: float = 0.0  # inliers of the best competing hypothesis / the fix's inliers
    position_std_m: float = float("nan")  # from the solver's raw (unscaled) covariance
    rotation_std_deg: float = float("nan")
    depth_agreement: float = float("nan")  # cells with depth whose regressed depth agrees
    surface_agreement: float = float("nan")  # depth pixels within 2 cm of the map's surface
    surface_residual_m: float = float("nan")  # robust point-to-plane residual scale
    refinement_shift_m: float = float("nan")  # how far the depth refinement moved the fix
    # How far the depth (solver and refinement) moved the fix from the colour-only pose; not a
    # model input (the published covariance covers it: LocalizerConfig.colour_depth_sigmas).
    colour_depth_shift_m: float = float("nan")
    colour_depth_shift_deg: float = float("nan")

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def _log(value: float, floor: float) -> float:
    return math.log(max(value, floor)) if math.isfinite(value) else math.log(floor)


def features(evidence: FixEvidence, kind: str) -> np.ndarray:
    """The model inputs for a kind: 'rgb', 'rgbd' (depth, no map surface) or 'rgbd_surface'."""
    e = evidence
    values = [
        math.log(e.inliers + 1.0), e.inlier_ratio, e.coverage, e.second_ratio,
        _log(e.position_std_m, 1e-5), _log(e.rotation_std_deg, 1e-4),
    ]
    if kind in ("rgbd", "rgbd_surface"):
        values.append(e.depth_agreement if math.isfinite(e.depth_agreement) else 0.0)
    if kind == "rgbd_surface":
        values += [
            e.surface_agreement if math.isfinite(e.surface_agreement) else 0.0,
            _log(e.surface_residual_m, 1e-3),
            _log(e.refinement_shift_m, 1e-3),
        ]
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic regression on standardised features, and the threshold chosen for the target
    precision on the tuning case."""

    kind: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def score(self, evidence: FixEvidence) -> float:
        x = (features(evidence, self.kind) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(np.dot(np.asarray(self.weights), x) + self.bias)
        return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))


def kind_of(evidence: FixEvidence) -> str:
    if math.isfinite(evidence.surface_agreement):
        return "rgbd_surface"
    if math.isfinite(evidence.depth_agreement):
        return "rgbd"
    return "rgb"


def _fitted_models() -> dict[str, ConfidenceModel]:
    """The constants benchmarks/fit_confidence.py wrote (tuning case only)."""
    from scr_localizer.localization.confidence_models import FITTED

    return {kind: ConfidenceModel(kind=kind, **values) for kind, values in FITTED.items()}


MODELS: dict[str, ConfidenceModel] = _fitted_models()


def confidence(evidence: FixEvidence, models: dict[str, ConfidenceModel] | None = None
               ) -> tuple[float, float]:
    """(probability that the fix is within 10 cm / 5 deg, the threshold for its kind)."""
    model = (models or MODELS).get(kind_of(evidence))
    if model is None:
        return 0.0, 1.0
    return model.score(evidence), model.threshold


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of an L2-regularised logistic regression (Newton steps)."""
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / scale
    design = np.concatenate([z, np.ones((len(z), 1))], axis=1)
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50, 50)))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(
            design.shape[1])
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return mean, scale, theta[:-1], float(theta[-1])


def threshold_for_precision(scores: np.ndarray, correct: np.ndarray, target: float,
                            margin: float = 0.0) -> float:
    """The lowest threshold whose accepted fixes (score >= threshold) still reach `target`
    precision (the largest such set), plus `margin` (clipped to 1)."""
    order = np.argsort(-scores)
    sorted_scores, sorted_correct = scores[order], correct[order].astype(float)
    precision = np.cumsum(sorted_correct) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precision >= target)
    if len(ok) == 0:
        return 1.0
    return float(min(sorted_scores[ok[-1]] + margin, 1.0))
