"""Synchronized RGB-D frames with camera poses from a ROS 2 bag (mcap or sqlite3), without ROS.

Construction does all the checking a user can act on (topics, encodings, CameraInfo, TF links,
synchronization) in one cheap pass that reads only message headers and the small topics, so a bad
bag fails before any long job starts. Iteration then decodes only the frames that survived.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.registration import register_depth
from scr_localizer.geometry.tf_tree import TfTree
from scr_localizer.io.bag_files import (
    CAMERA_INFO,
    COMPRESSED,
    IMAGE,
    POSE_TYPES,
    TF_MESSAGE,
    corrupt_bag_error,
    open_bag,
)
from scr_localizer.io.cdr import header_stamp_ns
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.io.images import (
    COLOR_ENCODINGS,
    camera_from_camera_info,
    decode_compressed,
    decode_compressed_depth,
    decode_image,
)
from scr_localizer.io.messages import matrix_from_pose, matrix_from_transform, stamp_to_ns
from scr_localizer.io.pairing import pair_color_with_depth
from scr_localizer.io.topics import (
    choose_topic,
    is_rectified,
    score_color,
    score_depth,
    sibling_info_topic,
    topic_listing,
)
from scr_localizer.validation import check_number


@dataclass
class BagReadConfig:
    """What to read. Topics left as None are chosen automatically (RealSense names first).

    depth_topic "" reads colour only. fixed_frame "" reads no poses (e.g. a query bag).
    camera_frame None means the colour CameraInfo's frame_id. Poses come from /tf + /tf_static
    unless `ground_truth_topic` or `pose_topic` (PoseStamped, PoseWithCovarianceStamped or
    Odometry) is given; such a pose describes `pose_frame` (None: Odometry's child_frame_id, else
    the camera frame), which /tf_static links to the camera frame.
    """

    color_topic: str | None = None
    depth_topic: str | None = None
    camera_info_topic: str | None = None
    depth_info_topic: str | None = None
    fixed_frame: str = "map"
    camera_frame: str | None = None
    sync_tolerance_s: float = 0.02
    tf_tolerance_s: float = 0.05
    ground_truth_topic: str | None = None
    pose_topic: str | None = None
    pose_frame: str | None = None
    rectified: bool | None = None  # None: images on '*rect*' topics are rectified (use P)
    depth_registered: bool | None = None  # None: decide from frame ids and intrinsics
    frame_step: int = 1
    max_frames: int | None = None


@dataclass
class ReadReport:
    """How many messages there were and why colour images did not become frames."""

    color_messages: int = 0
    depth_messages: int = 0
    frames: int = 0
    skipped_by_step: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        reasons = "; ".join(f"{n} {why}" for why, n in self.dropped.items()) or "none dropped"
        step = f", {self.skipped_by_step} skipped by frame_step" if self.skipped_by_step else ""
        return (
            f"{self.frames} frames from {self.color_messages} colour and {self.depth_messages} "
            f"depth images{step} ({reasons})"
        )


def _check_read_config(cfg: BagReadConfig) -> None:
    """The numbers of a read config (CLI options or node parameters), before the bag is read."""
    check_number(cfg.sync_tolerance_s, "sync_tolerance_s (--sync-tolerance)", 0, hint="seconds")
    check_number(cfg.tf_tolerance_s, "tf_tolerance_s (--tf-tolerance)", 0, hint="seconds")
    check_number(cfg.frame_step, "frame_step (--frame-step)", 1, integer=True)
    if cfg.max_frames is not None:
        check_number(cfg.max_frames, "max_frames (--max-frames)", 0, integer=True,
                     hint="0 reads all")


@dataclass
class _Plan:
    color_ordinal: int
    depth_ordinal: int | None
    stamp_ns: int
    world_from_camera: np.ndarray | None


class RGBDBagReader:
    """Iterable of `RGBDFrame` from a bag; `report` says what was dropped and why.

    Raises ScrLocalizerError at construction for anything wrong with the bag or the config.
    """

    def __init__(self, path: str | Path, config: BagReadConfig | None = None):
        self.path = Path(path)
        self.config = config or BagReadConfig()
        _check_read_config(self.config)
        self._open_reader = None
        reader = open_bag(self.path)
        try:
            self._prepare(reader)
        except ScrLocalizerError:
            reader.close()
            raise
        except Exception as exc:
            reader.close()
            raise corrupt_bag_error(self.path, exc) from None
        self._open_reader = reader  # the first iteration reuses it (opening costs ~0.2 s)

    def close(self) -> None:
        """Release the bag file kept open between construction and the first iteration."""
        reader, self._open_reader = getattr(self, "_open_reader", None), None
        if reader is not None:
            reader.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to release
            pass

    # -- construction ---------------------------------------------------------------------------
    def _prepare(self, reader) -> None:
        cfg = self.config
        topics = {c.topic: c.msgtype for c in reader.connections}
        self.topics = topics
        self.color_topic = self._topic(cfg.color_topic, topics, score_color, "colour", "color_topic")
        if cfg.depth_topic == "":
            self.depth_topic = None
        else:
            self.depth_topic = self._topic(cfg.depth_topic, topics, score_depth, "depth", "depth_topic")
        self.color_info_topic = self._info_topic(cfg.camera_info_topic, self.color_topic, topics, "colour")
        self.depth_info_topic = None
        if self.depth_topic:
            guess = cfg.depth_info_topic or sibling_info_topic(self.depth_topic)
            if guess in topics:
                self.depth_info_topic = self._info_topic(guess, self.depth_topic, topics, "depth")
            elif cfg.depth_info_topic:
                self._info_topic(cfg.depth_info_topic, self.depth_topic, topics, "depth")
        pose_topic = cfg.ground_truth_topic or cfg.pose_topic
        if pose_topic and topics.get(pose_topic) not in POSE_TYPES:
            kind = f"has type {topics[pose_topic]}" if pose_topic in topics else "is not in the bag"
            raise ScrLocalizerError(
                f"pose topic '{pose_topic}' {kind}; pose topics there: "
                f"{topic_listing(topics, POSE_TYPES)} (expected PoseStamped, "
                "PoseWithCovarianceStamped or Odometry)"
            )

        wanted = {self.color_topic, self.color_info_topic, "/tf", "/tf_static"}
        wanted |= {t for t in (self.depth_topic, self.depth_info_topic, pose_topic) if t}
        connections = [c for c in reader.connections if c.topic in wanted]
        color_stamps: list[int] = []
        depth_stamps: list[int] = []
        infos: dict[str, list] = {self.color_info_topic: [], self.depth_info_topic: []}
        first: dict[str, object] = {}
        tf_tree = TfTree(cache_time_s=None)
        static_edges = []
        pose_samples = []
        for connection, _, raw in reader.messages(connections=connections):
            topic, msgtype = connection.topic, connection.msgtype
            if topic == self.color_topic:
                if topic not in first:
                    first[topic] = reader.deserialize(raw, msgtype)
                color_stamps.append(header_stamp_ns(raw))
            elif topic == self.depth_topic:
                if topic not in first:
                    first[topic] = reader.deserialize(raw, msgtype)
                depth_stamps.append(header_stamp_ns(raw))
            elif topic in infos:
                infos[topic].append(reader.deserialize(raw, msgtype))
            elif topic in ("/tf", "/tf_static") and msgtype == TF_MESSAGE:
                static = topic == "/tf_static"
                for t in reader.deserialize(raw, msgtype).transforms:
                    args = (
                        t.header.frame_id, t.child_frame_id, stamp_to_ns(t.header.stamp),
                        matrix_from_transform(t.transform), static,
                    )
                    tf_tree.add_transform(*args)
                    if static:
                        static_edges.append(args)
            elif topic == pose_topic:
                pose_samples.append((msgtype, reader.deserialize(raw, msgtype)))

        report = ReadReport(color_messages=len(color_stamps), depth_messages=len(depth_stamps))
        self.report = report
        if not color_stamps:
            raise ScrLocalizerError(f"colour topic '{self.color_topic}' in '{self.path}' has no messages")
        if self.depth_topic and not depth_stamps:
            raise ScrLocalizerError(
                f"depth topic '{self.depth_topic}' in '{self.path}' has no messages; pass "
                "depth_topic='' (--depth-topic '') to read colour only"
            )
        self.tf_tree = tf_tree

        # Cameras: check the first image of each stream against its CameraInfo.
        color_msg = first[self.color_topic]
        color_frame_id = color_msg.header.frame_id
        color_image = self._decode_color(color_msg)
        if not infos[self.color_info_topic]:
            raise ScrLocalizerError(
                f"CameraInfo topic '{self.color_info_topic}' has no messages; expected the colour "
                "camera's calibration"
            )
        rect = is_rectified(self.color_topic, self.config.rectified)
        try:
            self._color_cameras = self._cameras(infos[self.color_info_topic], rect)
        except ScrLocalizerError as exc:
            raise ScrLocalizerError(f"CameraInfo topic '{self.color_info_topic}': {exc}") from None
        stamp0, camera0 = self._color_cameras[0]
        info_frame = infos[self.color_info_topic][0].header.frame_id
        if color_image.shape[:2] != (camera0.height, camera0.width):
            raise ScrLocalizerError(
                f"colour images on '{self.color_topic}' are {color_image.shape[1]}x"
                f"{color_image.shape[0]} but CameraInfo on '{self.color_info_topic}' says "
                f"{camera0.width}x{camera0.height}; expected the CameraInfo of this image stream"
            )
        self.camera_frame = (cfg.camera_frame or info_frame or color_frame_id).lstrip("/")
        self.color_frame_id = (color_frame_id or info_frame).lstrip("/")
        self._depth_plan(first, infos, color_image)

        # Poses.
        self._pose_tree = None
        if cfg.fixed_frame and not self.camera_frame:
            raise ScrLocalizerError(
                f"colour images on '{self.color_topic}' and their CameraInfo have no frame_id; "
                "set camera_frame (--camera-frame) to the TF frame of the colour camera"
            )
        if cfg.fixed_frame:
            if pose_topic:
                self._pose_tree = self._tree_from_pose_topic(pose_topic, pose_samples, static_edges)
            else:
                self._pose_tree = tf_tree
            self._pose_tree.check_link(cfg.fixed_frame, self.camera_frame)

        self._plan(color_stamps, depth_stamps)

    def _topic(self, requested, topics, scorer, what, option) -> str:
        if requested:
            if requested not in topics:
                raise ScrLocalizerError(
                    f"{what} topic '{requested}' is not in bag '{self.path}'; image topics there: "
                    f"{topic_listing(topics, (IMAGE, COMPRESSED))}"
                )
            if topics[requested] not in (IMAGE, COMPRESSED):
                raise ScrLocalizerError(
                    f"{what} topic '{requested}' has type {topics[requested]}; expected "
                    "sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage"
                )
            return requested
        return choose_topic(topics, scorer, what, f"{option}=... (--{option.replace('_', '-')})", self.path)

    def _info_topic(self, requested, image_topic, topics, what) -> str:
        name = requested or sibling_info_topic(image_topic)
        if topics.get(name) == CAMERA_INFO:
            return name
        if requested is None:
            prefix = image_topic.rsplit("/", 2)[0]
            near = [t for t, m in topics.items() if m == CAMERA_INFO and t.startswith(prefix)]
            if len(near) == 1 and what == "colour":
                return near[0]
        found = "is not in the bag" if name not in topics else f"has type {topics[name]}"
        raise ScrLocalizerError(
            f"no CameraInfo for {what} topic '{image_topic}': '{name}' {found}; CameraInfo topics "
            f"there: {topic_listing(topics, (CAMERA_INFO,))} (set camera_info_topic / "
            "--camera-info-topic)"
        )

    @staticmethod
    def _cameras(messages, rectified: bool) -> list[tuple[int, PinholeCamera]]:
        cameras: list[tuple[int, PinholeCamera]] = []
        for msg in sorted(messages, key=lambda m: stamp_to_ns(m.header.stamp)):
            camera = camera_from_camera_info(msg, rectified=rectified)
            if not cameras or cameras[-1][1] != camera:
                cameras.append((stamp_to_ns(msg.header.stamp), camera))
        return cameras

    def _camera_at(self, stamp_ns: int) -> PinholeCamera:
        if len(self._color_cameras) == 1:
            return self._color_cameras[0][1]
        stamps = [s for s, _ in self._color_cameras]
        index = max(bisect.bisect_right(stamps, stamp_ns) - 1, 0)
        return self._color_cameras[index][1]

    def _depth_plan(self, first, infos, color_image) -> None:
        """Decide whether depth needs registering into the colour image, and check sizes."""
        self._register = False
        self._depth_camera = None
        self._color_from_depth = None
        if not self.depth_topic:
            return
        depth_msg = first[self.depth_topic]
        depth = self._decode_depth(depth_msg)
        depth_frame = (depth_msg.header.frame_id or "").lstrip("/")
        color_camera = self._color_cameras[0][1]
        depth_camera = None
        if self.depth_info_topic:
            msgs = infos[self.depth_info_topic]
            if not msgs:
                raise ScrLocalizerError(
                    f"CameraInfo topic '{self.depth_info_topic}' has no messages; expected the "
                    "depth camera's calibration"
                )
            try:
                depth_camera = camera_from_camera_info(
                    msgs[0], rectified=is_rectified(self.depth_topic, self.config.rectified)
                )
            except ScrLocalizerError as exc:
                raise ScrLocalizerError(
                    f"CameraInfo topic '{self.depth_info_topic}': {exc}") from None
            depth_frame = depth_frame or msgs[0].header.frame_id.lstrip("/")
        self.depth_frame_id = depth_frame or self.color_frame_id
        same_frame = depth_frame in ("", self.color_frame_id)
        registered = self.config.depth_registered
        if registered is None:
            registered = same_frame and (depth_camera is None or depth_camera == color_camera)
        if registered:
            if depth.shape != color_image.shape[:2]:
                raise ScrLocalizerError(
                    f"depth size mismatch: depth on '{self.depth_topic}' is {depth.shape[1]}x"
                    f"{depth.shape[0]} but colour is {color_image.shape[1]}x"
                    f"{color_image.shape[0]}; expected depth aligned to colour, or a depth "
                    "CameraInfo and frame so it can be registered"
                )
            return
        if depth_camera is None:
            raise ScrLocalizerError(
                f"no CameraInfo for depth topic '{self.depth_topic}' (frame '{depth_frame}'), "
                f"needed to register it into colour frame '{self.color_frame_id}'; CameraInfo "
                f"topics there: {topic_listing(self.topics, (CAMERA_INFO,))}"
            )
        if depth.shape != (depth_camera.height, depth_camera.width):
            raise ScrLocalizerError(
                f"depth size mismatch: depth on '{self.depth_topic}' is {depth.shape[1]}x"
                f"{depth.shape[0]} but its CameraInfo '{self.depth_info_topic}' says "
                f"{depth_camera.width}x{depth_camera.height}"
            )
        self._register = True
        self._depth_camera = depth_camera
        if not same_frame:
            self.tf_tree.check_link(self.color_frame_id, depth_frame)
            self._color_from_depth = self.tf_tree.lookup(
                self.color_frame_id, depth_frame, None, tolerance_s=1e9
            )
            if np.allclose(self._color_from_depth, np.eye(4), rtol=0.0, atol=1e-12):
                self._color_from_depth = None  # same viewpoint (e.g. 7-Scenes): skip the transform

    def _tree_from_pose_topic(self, topic, samples, static_edges) -> TfTree:
        tree = TfTree(cache_time_s=None)
        for args in static_edges:
            tree.add_transform(*args)
        if not samples:
            raise ScrLocalizerError(f"pose topic '{topic}' has no messages")
        for msgtype, msg in samples:
            if msgtype.endswith("Odometry"):
                child = self.config.pose_frame or msg.child_frame_id
                pose = msg.pose.pose
            elif msgtype.endswith("PoseWithCovarianceStamped"):
                child, pose = self.config.pose_frame or self.camera_frame, msg.pose.pose
            else:
                child, pose = self.config.pose_frame or self.camera_frame, msg.pose
            parent = msg.header.frame_id or self.config.fixed_frame
            tree.add_transform(parent, child, stamp_to_ns(msg.header.stamp), matrix_from_pose(pose), False)
        return tree

    def _plan(self, color_stamps: list[int], depth_stamps: list[int]) -> None:
        """Pair colour with depth (nearest stamp, each depth used once) and look up poses."""
        cfg, report = self.config, self.report
        dropped: Counter[str] = Counter()
        tolerance_ns = int(round(cfg.sync_tolerance_s * 1e9))
        pairs, pair_drops = pair_color_with_depth(
            color_stamps, depth_stamps if self.depth_topic else None, tolerance_ns)
        dropped.update({
            "duplicate colour stamp": pair_drops.duplicate_color,
            f"no depth within {cfg.sync_tolerance_s:g} s": pair_drops.no_depth,
            "nearest depth taken by a closer colour image": pair_drops.depth_taken,
        })
        dropped = +dropped  # only reasons that happened

        plans: list[_Plan] = []
        last_error = ""
        for i, j in pairs:
            stamp = color_stamps[i]
            pose = None
            if self._pose_tree is not None:
                try:
                    pose = self._pose_tree.lookup(
                        cfg.fixed_frame, self.camera_frame, stamp, cfg.tf_tolerance_s
                    )
                except ScrLocalizerError as exc:
                    dropped[f"no pose within {cfg.tf_tolerance_s:g} s of the TF data"] += 1
                    last_error = str(exc)
                    continue
            plans.append(_Plan(i, j, stamp, pose))
        kept = plans[:: cfg.frame_step]
        report.skipped_by_step = len(plans) - len(kept)
        if cfg.max_frames is not None:
            kept = kept[: cfg.max_frames]
        report.dropped = dict(dropped)
        report.frames = len(kept)
        if not kept:
            hint = f" (last TF error: {last_error})" if last_error else ""
            raise ScrLocalizerError(
                f"no frames left after synchronization in '{self.path}': {report.summary()}; "
                f"expected colour and depth within sync_tolerance_s={cfg.sync_tolerance_s:g} "
                f"and poses within tf_tolerance_s={cfg.tf_tolerance_s:g}{hint}"
            )
        self._plans = kept

    # -- decoding ---------------------------------------------------------------------------------
    def _decode_color(self, msg) -> np.ndarray:
        try:
            if hasattr(msg, "format"):
                return decode_compressed(msg.format, msg.data)
            if msg.encoding not in COLOR_ENCODINGS:
                raise ScrLocalizerError(
                    f"unsupported colour encoding '{msg.encoding}'; expected one of "
                    f"{', '.join(COLOR_ENCODINGS)} (or a jpeg/png CompressedImage)"
                )
            return decode_image(
                msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian
            )
        except ScrLocalizerError as exc:
            raise ScrLocalizerError(f"colour topic '{self.color_topic}': {exc}") from None

    def _decode_depth(self, msg) -> np.ndarray:
        try:
            if hasattr(msg, "format"):
                return decode_compressed_depth(msg.format, msg.data)
            if msg.encoding not in ("16UC1", "mono16", "32FC1"):
                raise ScrLocalizerError(
                    f"unsupported depth encoding '{msg.encoding}'; expected 16UC1 (millimetres), "
                    "mono16 or 32FC1 (metres)"
                )
            return decode_image(
                msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian
            )
        except ScrLocalizerError as exc:
            raise ScrLocalizerError(f"depth topic '{self.depth_topic}': {exc}") from None

    def _make_frame(self, plan: _Plan, color_msg, depth_msg) -> RGBDFrame:
        camera = self._camera_at(plan.stamp_ns)
        color = self._decode_color(color_msg)
        if color.shape[:2] != (camera.height, camera.width):
            raise ScrLocalizerError(
                f"colour image at t={plan.stamp_ns * 1e-9:.3f} s is {color.shape[1]}x"
                f"{color.shape[0]} but its CameraInfo says {camera.width}x{camera.height}"
            )
        depth = None
        if depth_msg is not None:
            depth = self._decode_depth(depth_msg)
            if self._register:
                if depth.shape != (self._depth_camera.height, self._depth_camera.width):
                    raise ScrLocalizerError(
                        f"depth size mismatch at t={plan.stamp_ns * 1e-9:.3f} s: "
                        f"{depth.shape[1]}x{depth.shape[0]} but its CameraInfo says "
                        f"{self._depth_camera.width}x{self._depth_camera.height}"
                    )
                depth = register_depth(depth, self._depth_camera, camera, self._color_from_depth)
            elif depth.shape != color.shape[:2]:
                raise ScrLocalizerError(
                    f"depth size mismatch at t={plan.stamp_ns * 1e-9:.3f} s: depth is "
                    f"{depth.shape[1]}x{depth.shape[0]}, colour {color.shape[1]}x{color.shape[0]}"
                )
        return RGBDFrame(
            stamp_ns=plan.stamp_ns,
            color=color,
            camera=camera,
            depth=depth,
            world_from_camera=plan.world_from_camera,
            frame_id=self.camera_frame,
            name=f"frame-{plan.color_ordinal:06d}",
        )

    # -- iteration --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._plans)

    @property
    def color_camera(self) -> PinholeCamera:
        """The colour camera (of the first CameraInfo; frames carry the one valid at their stamp)."""
        return self._color_cameras[0][1]

    @property
    def registers_depth(self) -> bool:
        """True when depth comes in its own camera and is registered into colour while reading."""
        return bool(self.depth_topic) and self._register

    @property
    def stamps_ns(self) -> list[int]:
        return [p.stamp_ns for p in self._plans]

    @property
    def poses(self) -> list[np.ndarray | None]:
        """world_from_camera of every frame, without decoding any image."""
        return [p.world_from_camera for p in self._plans]

    def __iter__(self) -> Iterator[RGBDFrame]:
        reader, self._open_reader = self._open_reader, None
        if reader is None:
            reader = open_bag(self.path)
        try:
            yield from self._iterate(reader)
        except ScrLocalizerError:
            raise
        except Exception as exc:
            raise corrupt_bag_error(self.path, exc) from None
        finally:
            reader.close()

    def _iterate(self, reader) -> Iterator[RGBDFrame]:
        plan_by_color = {p.color_ordinal: k for k, p in enumerate(self._plans)}
        plan_by_depth = {
            p.depth_ordinal: k for k, p in enumerate(self._plans) if p.depth_ordinal is not None
        }
        topics = {self.color_topic, self.depth_topic}
        connections = [c for c in reader.connections if c.topic in topics]
        color_raw: dict[int, tuple[bytes, str]] = {}
        depth_raw: dict[int, tuple[bytes, str]] = {}
        ready: dict[int, RGBDFrame] = {}
        next_index = 0
        color_count = depth_count = 0
        for connection, _, raw in reader.messages(connections=connections):
            if connection.topic == self.color_topic:
                k = plan_by_color.get(color_count)
                color_count += 1
                if k is None:
                    continue
                color_raw[k] = (raw, connection.msgtype)
            else:
                k = plan_by_depth.get(depth_count)
                depth_count += 1
                if k is None:
                    continue
                depth_raw[k] = (raw, connection.msgtype)
            plan = self._plans[k]
            if k in color_raw and (plan.depth_ordinal is None or k in depth_raw):
                color_bytes, color_type = color_raw.pop(k)
                color_msg = reader.deserialize(color_bytes, color_type)
                depth_msg = None
                if plan.depth_ordinal is not None:
                    depth_bytes, depth_type = depth_raw.pop(k)
                    depth_msg = reader.deserialize(depth_bytes, depth_type)
                ready[k] = self._make_frame(plan, color_msg, depth_msg)
                while next_index in ready:
                    yield ready.pop(next_index)
                    next_index += 1
            if next_index >= len(self._plans):
                return
        for k in sorted(ready):
            yield ready[k]
