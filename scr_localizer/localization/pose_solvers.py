"""Camera pose from scene coordinates: 2D–3D (PnP) and 3D–3D (with depth) robust solvers.

Both solvers return the pose of the camera in the map (`world_from_camera`), the inlier mask over
the given correspondences and a 6x6 covariance of that pose. The covariance uses the ROS
PoseWithCovariance order (x, y, z, roll, pitch, yaw): a translation offset in the map frame and a
small rotation about the map's fixed axes, i.e. the perturbed pose is
`[Exp(d_rot) R, t + d_t]` for `world_from_camera = [R, t]`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import poselib

from scr_localizer.geometry.camera import PinholeCamera

REFERENCE_WIDTH = 640.0


def position_std_m(covariance: np.ndarray) -> float:
    """Largest standard deviation of the camera position along any map axis (6x6 covariance)."""
    return float(np.sqrt(max(np.max(np.diag(covariance)[:3]), 0.0)))


def rotation_std_deg(covariance: np.ndarray) -> float:
    """Largest rotation standard deviation about any axis, in degrees."""
    return float(np.degrees(np.sqrt(max(np.max(np.diag(covariance)[3:]), 0.0))))


@dataclass
class PnPConfig:
    """RGB-only: LO-RANSAC PnP (PoseLib) then Gauss-Newton on the inliers."""

    threshold_px: float = 10.0  # at 640 px image width; scaled with the width
    # The RANSAC search and PoseLib's local optimisation accept reprojection errors up to this
    # (0: threshold_px); the inliers for the refinement, the covariance and the confidence stay
    # at threshold_px. On views unlike the mapped ones the regressed coordinates scatter more,
    # so at 10 px a wrong hypothesis can outvote the right one. Tuning case (benchmarks.cases
    # --localizer, 94 queries, three RANSAC seeds), within 10 cm / 5 deg ungated: RGB-D 84.0 /
    # 83.0 / 86.2 -> 87.2 / 86.2 / 89.4 %, colour only 73.4 / 72.3 / 73.4 -> 75.5 / 74.5 / 73.4 %;
    # 15, 25 and 30 px gave 86.2, 84.0 and 84.0 % RGB-D (seed 0). Searching and scoring at 20 px
    # both (threshold_px 20) reached 89.4 % but shifted the confidence's inputs: precision 97.7 %.
    ransac_threshold_px: float = 20.0
    # Random subset given to RANSAC; all points are re-scored. Kept at 1000: on redkitchen
    # interleaved (bench_localization --quick) 600 points cut RANSAC from 15.4 to 9.0 ms with
    # the same median error (0.908 / 0.914 cm), but one more RGB-D fix was accepted and it
    # was 17.6 cm off (precision 100 -> 98 %).
    max_ransac_points: int = 1000
    min_iterations: int = 64
    max_iterations: int = 1000
    success_prob: float = 0.9999
    # PoseLib's dyn_num_trials_mult: RANSAC stops after this times the iterations that
    # success_prob needs at the best inlier ratio so far (PoseLib's default is 3). With 1:
    # redkitchen interleaved, 100 queries, 34 % inliers: 645 -> ~230 iterations, RANSAC 7.2 ->
    # 5.5 ms, poses within 2.7 mm of those with 3; the hard cases' precision unchanged
    # (benchmarks/results/localization.md, 2026-12-05). Hard frames hit max_iterations anyway.
    trials_multiplier: float = 1.0
    refine_iterations: int = 8  # 0: the RANSAC pose as it is, no covariance (rankings only)
    seed: int = 0


@dataclass
class RGBDConfig:
    """RGB-D: 3D–3D RANSAC (Kabsch on triplets) then a joint reprojection + depth refinement."""

    hypotheses: int = 256
    threshold_m: float = 0.08  # at 1 m depth; grows linearly with depth (depth noise grows)
    max_scoring_points: int = 800  # hypotheses are scored on this random subset
    local_optimization_rounds: int = 3
    refinement: str = "joint"  # "joint" (reprojection + depth) or "kabsch" (3D only)
    reprojection_threshold_px: float = 10.0  # at 640 px width, for the joint refinement inliers
    refine_iterations: int = 8
    min_valid_depth_points: int = 30  # fewer cells with depth: caller falls back to PnP
    seed: int = 0


@dataclass
class PoseEstimate:
    world_from_camera: np.ndarray
    inliers: np.ndarray  # bool mask over the input correspondences
    covariance: np.ndarray  # 6x6, (x, y, z, roll, pitch, yaw), metres / radians, map frame
    timings_ms: dict[str, float] = field(default_factory=dict)
    solver: str = ""
    # With depth in the refinement: the colour-only pose it started from (2D-3D RANSAC,
    # PoseLib-refined), to see how far the depth moved the fix (the localizer's covariance
    # covers that move).
    colour_only_pose: np.ndarray | None = None

    @property
    def inlier_count(self) -> int:
        return int(np.count_nonzero(self.inliers))

    @property
    def inlier_ratio(self) -> float:
        return float(self.inlier_count / max(len(self.inliers), 1))

    @property
    def position_std_m(self) -> float:
        return position_std_m(self.covariance)

    @property
    def rotation_std_deg(self) -> float:
        return rotation_std_deg(self.covariance)


def failed_estimate(count: int, solver: str, timings_ms=None) -> PoseEstimate:
    return PoseEstimate(
        world_from_camera=np.eye(4),
        inliers=np.zeros(count, dtype=bool),
        covariance=np.diag([1e6] * 6),
        timings_ms=dict(timings_ms or {}),
        solver=solver,
    )


def _skew(v: np.ndarray) -> np.ndarray:
    """Nx3 vectors to Nx3x3 cross-product matrices."""
    s = np.zeros(v.shape[:-1] + (3, 3))
    s[..., 0, 1], s[..., 0, 2] = -v[..., 2], v[..., 1]
    s[..., 1, 0], s[..., 1, 2] = v[..., 2], -v[..., 0]
    s[..., 2, 0], s[..., 2, 1] = -v[..., 1], v[..., 0]
    return s


def exp_so3(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    k = _skew(w)
    if theta < 1e-12:
        return np.eye(3) + k
    return np.eye(3) + np.sin(theta) / theta * k + (1 - np.cos(theta)) / theta**2 * (k @ k)


def log_so3(rotation: np.ndarray) -> np.ndarray:
    """The rotation vector of a rotation matrix (inverse of exp_so3)."""
    cos = np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0)
    theta = np.arccos(cos)
    w = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                  rotation[1, 0] - rotation[0, 1]])
    if theta < 1e-9:
        return 0.5 * w
    return theta / (2 * np.sin(theta)) * w


def pose_offset(world_from_camera: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The 6-vector (translation, rotation vector) that apply_pose_update adds to `reference`
    to reach `world_from_camera`: their difference in the covariances' coordinates."""
    return np.concatenate([world_from_camera[:3, 3] - reference[:3, 3],
                           log_so3(world_from_camera[:3, :3] @ reference[:3, :3].T)])


def apply_pose_update(world_from_camera: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """[Exp(delta[3:]) R, t + delta[:3]] (the left perturbation of the module docstring)."""
    updated = world_from_camera.copy()
    updated[:3, :3] = exp_so3(delta[3:]) @ world_from_camera[:3, :3]
    updated[:3, 3] = world_from_camera[:3, 3] + delta[:3]
    # Re-orthonormalise so many small updates never drift off SO(3).
    u, _, vt = np.linalg.svd(updated[:3, :3])
    updated[:3, :3] = u @ vt
    return updated


def cross_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise a x b for ...x3 arrays (broadcasting; np.cross is several times slower)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def _projection(world_from_camera, pixels, scene_xyz, camera: PinholeCamera):
    """(residuals Nx2 in pixels of the undistorted image, camera-frame points, map-frame
    offsets X - t); points behind the camera get a residual that is never an inlier."""
    rotation, translation = world_from_camera[:3, :3], world_from_camera[:3, 3]
    relative = scene_xyz - translation
    points = relative @ rotation  # R^T (X - t)
    z = np.maximum(points[:, 2], 1e-6)
    residuals = np.empty((len(points), 2))
    residuals[:, 0] = camera.fx * points[:, 0] / z + camera.cx - pixels[:, 0]
    residuals[:, 1] = camera.fy * points[:, 1] / z + camera.cy - pixels[:, 1]
    residuals[points[:, 2] <= 1e-6] = 1e6
    return residuals, points, relative


def _reprojection_terms(world_from_camera, pixels, scene_xyz, camera: PinholeCamera):
    """Residuals (Nx2, pixels, undistorted image), their Jacobian (Nx2x6) for the left
    perturbation of apply_pose_update, the camera-frame points and the offsets X - t.

    With A = d(pixel)/d(camera point) R^T (per row a), d/d(delta t) = -A and d/d(delta rot) =
    a x (X - t), since a^T [v]x = (a x v)^T: no Nx3x6 point Jacobian is formed."""
    residuals, points, relative = _projection(world_from_camera, pixels, scene_xyz, camera)
    rotation = world_from_camera[:3, :3]
    inverse_z = 1.0 / np.maximum(points[:, 2], 1e-6)
    x_over_z, y_over_z = points[:, 0] * inverse_z, points[:, 1] * inverse_z
    a = np.empty((len(points), 2, 3))
    a[:, 0] = (camera.fx * inverse_z)[:, None] * (rotation[:, 0] - x_over_z[:, None]
                                                  * rotation[:, 2])
    a[:, 1] = (camera.fy * inverse_z)[:, None] * (rotation[:, 1] - y_over_z[:, None]
                                                  * rotation[:, 2])
    jacobian = np.empty((len(points), 2, 6))
    jacobian[:, :, :3] = -a
    jacobian[:, :, 3:] = cross_rows(a, relative[:, None, :])
    return residuals, jacobian, points, relative


def _depth_terms(world_from_camera, points, relative, measured_depth):
    """Residuals (N, metres: predicted point's depth minus measured depth) and Jacobian (Nx6),
    from the camera-frame points and offsets X - t of those cells."""
    axis = world_from_camera[:3, 2]  # the camera's z axis in the map: depth = axis . (X - t)
    jacobian = np.empty((len(points), 6))
    jacobian[:, :3] = -axis
    jacobian[:, 3:] = cross_rows(axis[None, :], relative)
    return points[:, 2] - measured_depth, jacobian


def _robust_sigma(residual_norms: np.ndarray, floor: float) -> float:
    """Scale of inlier residuals from the median absolute value (robust to leftover outliers)."""
    if len(residual_norms) == 0:
        return floor
    return max(float(1.4826 * np.median(np.abs(residual_norms))), floor)


def _huber_weights(normalised: np.ndarray, k: float = 2.0) -> np.ndarray:
    a = np.abs(normalised)
    return np.where(a <= k, 1.0, k / np.maximum(a, 1e-12))


def refine_pose(
    world_from_camera: np.ndarray,
    pixels: np.ndarray,
    scene_xyz: np.ndarray,
    camera: PinholeCamera,
    measured_depth: np.ndarray | None = None,
    iterations: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Newton (Huber-weighted) on reprojection and, where measured, depth residuals.

    `pixels` must be undistorted; `measured_depth` (N, metres, <= 0 where unknown) is optional.
    Each residual type is whitened by its own robust scale so the two combine without a
    hand-tuned weight; the covariance is the inverse of the whitened normal matrix at the
    solution. Returns (pose, covariance 6x6).
    """
    pose = np.asarray(world_from_camera, dtype=np.float64).copy()
    focal = 0.5 * (camera.fx + camera.fy)
    metric_floor = 1e-4
    depth_rows = None
    if measured_depth is not None:
        depth_rows = np.flatnonzero(measured_depth > 0)
        if len(depth_rows) == 0:
            depth_rows = None
    jtj = None
    for iteration in range(iterations + 1):
        r_px, j_px, points, relative = _reprojection_terms(pose, pixels, scene_xyz, camera)
        # Scene coordinate errors are roughly isotropic in 3D, so a cell's pixel error shrinks
        # with its depth: whiten by the lateral metric error (pixels x depth / focal).
        metres_per_px = np.maximum(points[:, 2], 1e-3) / focal
        norms = np.linalg.norm(r_px, axis=1) * metres_per_px
        sigma_m = _robust_sigma(norms / np.sqrt(2), metric_floor)
        w_px = _huber_weights(norms / sigma_m) * (metres_per_px / sigma_m) ** 2
        weighted = (j_px * w_px[:, None, None]).reshape(-1, 6)
        # (matmul over the stacked rows: 3x faster than the equivalent einsum here)
        jtj = weighted.T @ j_px.reshape(-1, 6)
        jtr = weighted.T @ r_px.reshape(-1)
        if depth_rows is not None:
            r_d, j_d = _depth_terms(pose, points[depth_rows], relative[depth_rows],
                                    measured_depth[depth_rows])
            sigma_d = _robust_sigma(r_d, 1e-3)
            w_d = _huber_weights(r_d / sigma_d) / sigma_d**2
            jtj += (j_d * w_d[:, None]).T @ j_d
            jtr += (j_d * w_d[:, None]).T @ r_d
        if iteration == iterations:
            break
        try:
            delta = -np.linalg.solve(jtj + 1e-9 * np.eye(6), jtr)
        except np.linalg.LinAlgError:
            break
        pose = apply_pose_update(pose, delta)
        if np.linalg.norm(delta[:3]) < 1e-6 and np.linalg.norm(delta[3:]) < 1e-7:
            break  # converged (sub-micrometre step): the normal matrix above still holds
    try:
        covariance = np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        covariance = np.diag([1e6] * 6)
    return pose, 0.5 * (covariance + covariance.T)


def _scaled_threshold(threshold_px: float, camera: PinholeCamera) -> float:
    return threshold_px * camera.width / REFERENCE_WIDTH


def _undistorted(pixels: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    return np.ascontiguousarray(camera.undistort_points(np.asarray(pixels, dtype=np.float64)))


def estimate_pose_rgb(
    pixels: np.ndarray,
    scene_xyz: np.ndarray,
    camera: PinholeCamera,
    config: PnPConfig | None = None,
    measured_depth: np.ndarray | None = None,
) -> PoseEstimate:
    """Pose from 2D–3D correspondences: PoseLib LO-RANSAC on a subset, re-scoring all points,
    then Gauss-Newton on the inliers (full camera model: points are undistorted first).

    With `measured_depth` (N metres, <= 0 where unknown) the refinement also fits the depth of
    each inlier (hypotheses still come from 2D–3D RANSAC)."""
    config = config or PnPConfig()
    count = len(pixels)
    if count < 4:
        return failed_estimate(count, "pnp")
    start = time.perf_counter()
    image_points = _undistorted(pixels, camera)
    scene = np.ascontiguousarray(scene_xyz, dtype=np.float64)
    threshold = _scaled_threshold(config.threshold_px, camera)
    rng = np.random.default_rng(config.seed)
    subset = (
        rng.choice(count, config.max_ransac_points, replace=False)
        if count > config.max_ransac_points
        else np.arange(count)
    )
    pinhole = poselib.Camera(
        "PINHOLE", [camera.fx, camera.fy, camera.cx, camera.cy], camera.width, camera.height
    )
    search = _scaled_threshold(config.ransac_threshold_px or config.threshold_px, camera)
    ransac_options = {
        "max_reproj_error": search,
        "min_iterations": config.min_iterations,
        "max_iterations": config.max_iterations,
        "success_prob": config.success_prob,
        "dyn_num_trials_mult": config.trials_multiplier,
        "seed": config.seed,
    }
    bundle_options = {"loss_type": "CAUCHY", "loss_scale": 0.5 * search, "max_iterations": 25}
    solution, info = poselib.estimate_absolute_pose(
        image_points[subset], scene[subset], pinhole, ransac_options, bundle_options
    )
    ransac_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    if info.get("num_inliers", 0) < 4:
        return failed_estimate(count, "pnp", {"ransac": ransac_ms, "refinement": 0.0})
    camera_from_world = np.eye(4)
    camera_from_world[:3, :3] = solution.R
    camera_from_world[:3, 3] = solution.t
    pose = _invert(camera_from_world)
    inliers = _reprojection_inliers(pose, image_points, scene, camera, threshold)
    if np.count_nonzero(inliers) >= 6 and config.refine_iterations > 0:
        pose, covariance = refine_pose(
            pose, image_points[inliers], scene[inliers], camera,
            measured_depth=None if measured_depth is None else measured_depth[inliers],
            iterations=config.refine_iterations,
        )
        inliers = _reprojection_inliers(pose, image_points, scene, camera, threshold)
    else:
        covariance = np.diag([1e6] * 6)
    timings = {"ransac": ransac_ms, "refinement": (time.perf_counter() - start) * 1e3}
    colour_only = None if measured_depth is None else _invert(camera_from_world)
    return PoseEstimate(pose, inliers, covariance, timings, "pnp", colour_only)


def _invert(pose: np.ndarray) -> np.ndarray:
    inverse = np.eye(4)
    inverse[:3, :3] = pose[:3, :3].T
    inverse[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inverse


def _reprojection_inliers(pose, image_points, scene, camera, threshold) -> np.ndarray:
    residuals = _projection(pose, image_points, scene, camera)[0]
    return np.einsum("ij,ij->i", residuals, residuals) < threshold**2


def kabsch_batch(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid (R, t) minimising sum w |R s + t - d|^2 for batches: source/target HxNx3.

    Returns rotations Hx3x3 and translations Hx3 (target_from_source)."""
    if weights is None:
        weights = np.ones(source.shape[:2])
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    source_mean = np.einsum("hn,hni->hi", weights, source)
    target_mean = np.einsum("hn,hni->hi", weights, target)
    covariance = np.einsum(
        "hn,hni,hnj->hij", weights, target - target_mean[:, None], source - source_mean[:, None]
    )
    u, _, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(u @ vt))
    sign[sign == 0] = 1.0
    u[:, :, 2] *= sign[:, None]
    rotation = u @ vt
    translation = target_mean - np.einsum("hij,hj->hi", rotation, source_mean)
    return rotation, translation


def estimate_pose_rgbd(
    pixels: np.ndarray,
    scene_xyz: np.ndarray,
    camera_xyz: np.ndarray,
    camera: PinholeCamera,
    config: RGBDConfig | None = None,
) -> PoseEstimate:
    """Pose from 3D–3D correspondences (cells with measured depth; `camera_xyz` in the colour
    optical frame, rows with z <= 0 are ignored): vectorised Kabsch RANSAC on triplets, local
    optimisation on inliers, then a joint reprojection + depth refinement (or 3D-only Kabsch).

    Inliers and covariance refer to all N input rows, including those without depth."""
    config = config or RGBDConfig()
    count = len(pixels)
    start = time.perf_counter()
    valid = np.flatnonzero(camera_xyz[:, 2] > 0)
    if len(valid) < max(config.min_valid_depth_points, 3):
        return failed_estimate(count, "rgbd")
    source = np.asarray(camera_xyz[valid], dtype=np.float64)
    target = np.asarray(scene_xyz[valid], dtype=np.float64)
    depth = source[:, 2]
    thresholds = config.threshold_m * np.maximum(depth, 0.5)
    rng = np.random.default_rng(config.seed)
    samples = rng.integers(0, len(valid), size=(config.hypotheses, 3))
    rotations, translations = kabsch_batch(source[samples], target[samples])
    scoring = (
        rng.choice(len(valid), config.max_scoring_points, replace=False)
        if len(valid) > config.max_scoring_points
        else np.arange(len(valid))
    )
    moved = np.einsum("hij,nj->hni", rotations, source[scoring]) + translations[:, None]
    distance_sq = np.sum((moved - target[scoring][None]) ** 2, axis=2)
    # Truncated-quadratic (MSAC) score prefers hypotheses with tighter inliers, not only more.
    cost = np.minimum(distance_sq / thresholds[scoring][None] ** 2, 1.0).sum(axis=1)
    best = int(np.argmin(cost))
    rotation, translation = rotations[best], translations[best]
    inliers = None
    for _ in range(config.local_optimization_rounds):
        residual = np.linalg.norm(source @ rotation.T + translation - target, axis=1)
        candidate = residual < thresholds
        if np.count_nonzero(candidate) < 3:
            break
        inliers = candidate
        r, t = kabsch_batch(source[inliers][None], target[inliers][None])
        rotation, translation = r[0], t[0]
    if inliers is None:
        return failed_estimate(count, "rgbd", {"ransac": (time.perf_counter() - start) * 1e3})
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, translation
    ransac_ms = (time.perf_counter() - start) * 1e3

    start = time.perf_counter()
    image_points = _undistorted(pixels, camera)
    scene = np.asarray(scene_xyz, dtype=np.float64)
    threshold_px = _scaled_threshold(config.reprojection_threshold_px, camera)
    if config.refinement == "kabsch":
        residual = np.linalg.norm(source @ rotation.T + translation - target, axis=1)
        depth_inliers = residual < thresholds
        all_inliers = np.zeros(count, dtype=bool)
        all_inliers[valid[depth_inliers]] = True
        covariance = _kabsch_covariance(pose, source[depth_inliers], target[depth_inliers])
    else:
        all_inliers = _joint_inliers(pose, image_points, scene, camera, valid, source, thresholds,
                                     threshold_px)
        if np.count_nonzero(all_inliers) >= 6:
            measured = np.zeros(count)
            measured[valid] = depth
            pose, covariance = refine_pose(
                pose, image_points[all_inliers], scene[all_inliers], camera,
                measured_depth=measured[all_inliers], iterations=config.refine_iterations,
            )
            all_inliers = _joint_inliers(pose, image_points, scene, camera, valid, source,
                                         thresholds, threshold_px)
        else:
            covariance = np.diag([1e6] * 6)
    timings = {"ransac": ransac_ms, "refinement": (time.perf_counter() - start) * 1e3}
    return PoseEstimate(pose, all_inliers, covariance, timings, "rgbd")


def _joint_inliers(pose, image_points, scene, camera, valid, source, thresholds, threshold_px):
    """Cells consistent with the pose: reprojection within threshold and, where depth was
    measured, the 3D distance within the depth-scaled threshold too."""
    inliers = _reprojection_inliers(pose, image_points, scene, camera, threshold_px)
    moved = source @ pose[:3, :3].T + pose[:3, 3]
    close = np.linalg.norm(moved - scene[valid], axis=1) < thresholds
    inliers[valid] &= close
    return inliers


def _kabsch_covariance(pose, source, target) -> np.ndarray:
    """Covariance of a 3D–3D fit: residual e = R p + t - X, d e/d delta = [I, -[R p]x]."""
    if len(source) < 4:
        return np.diag([1e6] * 6)
    rotated = source @ pose[:3, :3].T
    residual = rotated + pose[:3, 3] - target
    sigma_sq = max(float(np.sum(residual**2) / max(3 * len(source) - 6, 1)), 1e-10)
    jac = np.zeros((len(source), 3, 6))
    jac[:, :, :3] = np.eye(3)
    jac[:, :, 3:] = -_skew(rotated)
    jtj = np.einsum("nki,nkj->ij", jac, jac)
    try:
        covariance = sigma_sq * np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        return np.diag([1e6] * 6)
    return 0.5 * (covariance + covariance.T)
