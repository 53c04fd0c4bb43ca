"""One synchronized frame of the live node, without ROS: decode -> localize -> gate -> REP-105
composition -> what to publish, plus the input problems it found. Two stages (`prepare`: checks,
decoding, the network; `finish`: the pose, gates, TF, composition) so the node can run the
network on one frame while it solves the previous one.

The node only translates: it hands over the messages (any objects with sensor_msgs fields), the
clock and a transform source, then publishes `FrameResult.outputs` and files
`FrameResult.problems` on /diagnostics. Unit tests drive this class with messages read from real
bags and a TF tree, no DDS.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.rep105 import MapOutputs, compose_map_outputs
from scr_localizer.io.image_messages import depth_m_from_message, rgb_from_message
from scr_localizer.io.images import camera_from_camera_info
from scr_localizer.io.messages import stamp_to_ns

# Diagnostic levels (diagnostic_msgs/DiagnosticStatus values).
OK, WARN, ERROR = 0, 1, 2

STALE, NO_MAP, REJECTED, FAILED, LOCALIZED = "stale", "no_map", "rejected", "failed", "localized"


class TransformUnavailable(Exception):
    """A transform the fix needs is not (yet) known; the message says which."""


class TransformSource(Protocol):
    def can_transform(self, target: str, source: str) -> bool:
        """Whether the frames are linked at all (any time)."""

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """target_from_source at the stamp; raises TransformUnavailable."""

    def known_frames(self) -> str:
        """The known frames, for error messages."""


class TfTreeTransforms:
    """A TransformSource over a geometry.tf_tree.TfTree (offline runs and tests)."""

    def __init__(self, tree, tolerance_s: float = 0.05):
        self.tree, self.tolerance_s = tree, tolerance_s

    def can_transform(self, target: str, source: str) -> bool:
        try:
            self.tree.check_link(target, source)
        except ScrLocalizerError:
            return False
        return True

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        try:
            return self.tree.lookup(target, source, stamp_ns, self.tolerance_s)
        except ScrLocalizerError as exc:
            raise TransformUnavailable(str(exc)) from None

    def known_frames(self) -> str:
        return ", ".join(sorted(self.tree.frames())) or "none"


@dataclass(frozen=True)
class ProcessorConfig:
    """Frames (REP-105), the topics named in messages, and the gates of the node."""

    map_frame: str = "map"
    odom_frame: str = "odom"  # "": publish map -> body instead of map -> odom
    base_frame: str = ""  # "": the camera frame itself
    camera_frame: str = ""  # "": the colour image's header frame_id
    color_topic: str = "color"
    depth_topic: str = "depth"
    camera_info_topic: str = "camera_info"
    max_frame_age_s: float = 1.0
    min_inliers: int = 80
    two_d_mode: bool = False  # map->odom restricted to x, y, yaw
    # 0: the localizer's own success flag (its fitted confidence threshold); in (0, 1]: a fix
    # is accepted when its confidence reaches this instead.
    min_confidence: float = 0.0
    # WARN when, over the last colour_depth_window fixes with depth (at least
    # colour_depth_min_fixes of them), depth moved the fix a median of more than this from
    # where colour alone puts it. On consistent redkitchen splits the median is 1.7-3.0 cm
    # (interleaved, sparse20, tuning); on the revisit stretch whose depth disagrees with its
    # colour, 7.7 cm. Not node parameters: a diagnostic, it changes no fix.
    colour_depth_warn_m: float = 0.05
    colour_depth_window: int = 30
    colour_depth_min_fixes: int = 10


@dataclass
class FrameResult:
    """`problems` maps a problem key to (level, message) to set it or None to clear it, in
    order; `outputs` is set when the frame gave a fix."""

    outcome: str
    stamp_ns: int
    problems: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    outputs: MapOutputs | None = None
    inliers: int | None = None
    inlier_ratio: float = 0.0
    confidence: float | None = None  # of the last fix attempt (0..1)
    # With depth: how far the depth moved the last attempt from the colour-only pose (a
    # lasting large value points at depth not registered or not synchronised to colour).
    colour_depth_shift_m: float | None = None


@dataclass
class PreparedFrame:
    """A frame between the two stages: checked, decoded and through the network."""

    result: FrameResult  # problems found so far; completed by finish
    regression: object  # localization.localizer.Regression
    camera_frame: str
    body_frame: str
    links: list[tuple[str, str]]


class FrameProcessor:
    def __init__(self, config: ProcessorConfig,
                 decode_rgb: Callable = rgb_from_message,
                 decode_depth_m: Callable = depth_m_from_message):
        self.config = config
        self.decode_rgb = decode_rgb
        self.decode_depth_m = decode_depth_m
        self._colour_depth_shifts: deque[float] = deque(maxlen=config.colour_depth_window)

    def _colour_depth_problem(self) -> tuple[int, str] | None:
        """WARN while depth and colour lastingly disagree about where the camera is (depth not
        registered to the colour camera or not in step with it, or colour placed poorly by the
        map there); None (cleared) otherwise."""
        cfg, shifts = self.config, self._colour_depth_shifts
        if len(shifts) < cfg.colour_depth_min_fixes:
            return None
        median = float(np.median(shifts))
        if median <= cfg.colour_depth_warn_m:
            return None
        return (WARN, f"depth and colour disagree: depth moved the last {len(shifts)} fixes a "
                      f"median {100 * median:.1f} cm from where colour alone puts them (> "
                      f"{100 * cfg.colour_depth_warn_m:.0f} cm); check that '{cfg.depth_topic}' "
                      f"is registered to '{cfg.color_topic}' and in step with it (or the map "
                      f"places colour poorly here); the covariances are widened to cover the gap")

    def _links(self, camera_frame: str, body_frame: str) -> list[tuple[str, str]]:
        links = [(camera_frame, body_frame)] if body_frame != camera_frame else []
        if self.config.odom_frame:
            links.append((self.config.odom_frame, body_frame))
        return links

    def process(self, localizer, color_msg, depth_msg, info_msg, now_ns: int,
                transforms: TransformSource) -> FrameResult:
        """Both stages at once (offline runs, tests)."""
        prepared = self.prepare(localizer, color_msg, depth_msg, info_msg, now_ns, transforms)
        if isinstance(prepared, FrameResult):
            return prepared
        return self.finish(localizer, prepared, transforms)

    def prepare(self, localizer, color_msg, depth_msg, info_msg, now_ns: int,
                transforms: TransformSource) -> PreparedFrame | FrameResult:
        """Stage 1: checks, decoding and the network (Localizer.regress_frame). A FrameResult
        when the frame ends here (stale, no map, rejected input)."""
        cfg = self.config
        stamp_ns = stamp_to_ns(color_msg.header.stamp)
        result = FrameResult(outcome=STALE, stamp_ns=stamp_ns)
        if (now_ns - stamp_ns) * 1e-9 > cfg.max_frame_age_s:
            return result
        if localizer is None:
            result.outcome = NO_MAP  # the map problem is reported by whoever loads maps
            return result
        problems = result.problems

        def reject(key: str, message: str, level: int = WARN) -> FrameResult:
            result.outcome = REJECTED
            problems[key] = (level, message)
            return result

        try:
            camera = camera_from_camera_info(info_msg)
        except ScrLocalizerError as exc:
            # A calibration nothing can be localized with is an ERROR, not a passing WARN.
            return reject("camera_info", f"CameraInfo on {cfg.camera_info_topic}: {exc}", ERROR)
        try:
            color = self.decode_rgb(color_msg)
        except ScrLocalizerError as exc:
            return reject("color", f"colour image on {cfg.color_topic}: {exc}")
        if color.shape[:2] != (camera.height, camera.width):
            return reject("camera_info",
                          f"colour image is {color.shape[1]}x{color.shape[0]} but CameraInfo on "
                          f"{cfg.camera_info_topic} says {camera.width}x{camera.height}; expected "
                          "the CameraInfo of the colour stream", ERROR)
        problems["camera_info"] = problems["color"] = None
        depth = self._depth(depth_msg, color, problems)

        camera_frame = cfg.camera_frame or color_msg.header.frame_id
        body_frame = cfg.base_frame or camera_frame
        links = self._links(camera_frame, body_frame)
        # Cheap check first: are the frames linked at all? The lookups at the image stamp come
        # after localizing, which gives odometry that much time to arrive.
        for target, source in links:
            if not transforms.can_transform(target, source):
                return reject("tf", f"TF missing: no transform {target} <- {source} "
                              f"(known frames: {transforms.known_frames()})")
        try:
            regression = localizer.regress_frame(color, camera, depth)
        except ScrLocalizerError as exc:
            return reject("localize", f"localization failed: {exc}")
        return PreparedFrame(result, regression, camera_frame, body_frame, links)

    def finish(self, localizer, prepared: PreparedFrame,
               transforms: TransformSource) -> FrameResult:
        """Stage 2: the pose (Localizer.solve_regression), the gates, the TF lookups at the
        image stamp and the REP-105 composition."""
        cfg = self.config
        result, problems = prepared.result, prepared.result.problems
        links, stamp_ns = prepared.links, result.stamp_ns
        try:
            fix = localizer.solve_regression(prepared.regression)
        except ScrLocalizerError as exc:
            result.outcome = REJECTED
            problems["localize"] = (WARN, f"localization failed: {exc}")
            return result
        problems["localize"] = None
        result.inliers, result.inlier_ratio = int(fix.inlier_count), float(fix.inlier_ratio)
        confidence = getattr(fix, "confidence", None)
        result.confidence = None if confidence is None else float(confidence)
        result.colour_depth_shift_m = getattr(fix, "colour_depth_shift_m", None)
        if result.colour_depth_shift_m is not None:
            self._colour_depth_shifts.append(result.colour_depth_shift_m)
            problems["colour_depth"] = self._colour_depth_problem()
        if cfg.min_confidence > 0 and result.confidence is not None:
            accepted = (result.confidence >= cfg.min_confidence
                        and bool(np.all(np.isfinite(getattr(fix, "covariance", np.zeros(1))))))
            reason = "" if accepted else (
                f"confidence {result.confidence:.2f} < min_confidence {cfg.min_confidence:.2f}")
        else:
            accepted = bool(fix.success)
            reason = getattr(fix, "failure_reason", "")
        if not accepted or result.inliers < cfg.min_inliers:
            result.outcome = FAILED
            reason = reason or f"{result.inliers} inliers < min_inliers {cfg.min_inliers}"
            problems["inliers"] = (WARN, f"no fix: {reason} ({result.inliers} inliers, "
                                         f"{fix.inlier_ratio:.0%}); is the camera inside the "
                                         "mapped area?")
            return result
        problems["inliers"] = None

        looked_up = []
        try:
            for target, source in links:
                looked_up.append(transforms.lookup(target, source, stamp_ns))
        except TransformUnavailable as exc:
            target, source = links[len(looked_up)]
            result.outcome = REJECTED
            problems["tf"] = (WARN, f"TF missing at the image stamp ({target} <- {source}): {exc}")
            return result
        problems["tf"] = None
        body_frame, camera_frame = prepared.body_frame, prepared.camera_frame
        camera_from_body = looked_up.pop(0) if body_frame != camera_frame else np.eye(4)
        odom_from_body = looked_up.pop(0) if cfg.odom_frame else None
        result.outputs = compose_map_outputs(
            cfg.map_frame, cfg.odom_frame, body_frame, fix.world_from_camera, camera_from_body,
            odom_from_body, getattr(fix, "covariance", None),
            two_d_mode=cfg.two_d_mode)
        result.outcome = LOCALIZED
        return result

    def _depth(self, depth_msg, color: np.ndarray, problems: dict) -> np.ndarray | None:
        """Depth registered to colour, or None (RGB-only) with the reason filed as a problem."""
        if depth_msg is None:
            return None
        topic = self.config.depth_topic
        try:
            depth = self.decode_depth_m(depth_msg)
        except ScrLocalizerError as exc:
            problems["depth"] = (WARN, f"depth on {topic}: {exc}; localizing RGB-only meanwhile")
            return None
        if depth.shape != color.shape[:2]:
            problems["depth"] = (
                WARN, f"depth on {topic} is {depth.shape[1]}x{depth.shape[0]} but the colour image "
                f"is {color.shape[1]}x{color.shape[0]}; expected depth registered to colour (e.g. "
                "aligned_depth_to_color); localizing RGB-only meanwhile")
            return None
        problems["depth"] = None
        return depth
