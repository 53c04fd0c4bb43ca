"""Live relocalization node: synchronized colour (+ depth) + CameraInfo in, map->odom TF out.

Threading: subscription callbacks only park the newest synchronized frame in a one-slot mailbox
(a frame not yet picked up is replaced and counted as superseded), so processing never lags
behind the camera; one worker thread localizes whatever is newest. Map (re)loading runs in its
own thread and swaps the localizer in only once the new map is ready, so a bad `map_path` never
takes the running one down. Problems with the inputs are kept by name, logged (throttled) and
reported on /diagnostics until the input is fixed.

Not a lifecycle node: it must run from a plain `ros2 run` / `scr-localizer localize-node`
without a lifecycle manager; `~/enable` (std_srvs/SetBool) covers pausing and resuming.

Transport: with Fast DDS' defaults most 640x480 images are lost between processes. Measured with
benchmarks/bench_ros_node.py on 2 busy cores at 30 Hz RGB-D: a profile with a 64 MB shared-memory
segment (scr_localizer.ros.replay.FASTDDS_PROFILE, via FASTDDS_DEFAULT_PROFILES_FILE)
sustained 3-9 fixes/s at 127-361 ms median latency (depending on the other load);
FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA delivered the images but delayed /tf by up to ~1 s behind
them, so most frames waited in vain for odometry (0.5 fixes/s).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseWithCovarianceStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import SetBool

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import invert_pose
from scr_localizer.ros.compat import (
    ApproximateTimeSynchronizer,
    Buffer,
    Subscriber,
    TransformBroadcaster,
    TransformException,
    TransformListener,
    image_to_depth_m,
    image_to_rgb,
)
from scr_localizer.ros.conversions import (
    fill_pose,
    matrix_from_transform,
    ns_to_stamp,
    stamp_to_ns,
    transfer_pose_covariance,
    transform_stamped,
)
from scr_localizer.ros.parameters import (
    LOCALIZE_NODE_PARAMETERS,
    declare_parameters,
    parameter_problem,
)

NODE_NAME = "localize_node"
OK, WARN, ERROR = (int.from_bytes(level, "little") if isinstance(level, bytes) else int(level)
                   for level in (DiagnosticStatus.OK, DiagnosticStatus.WARN,
                                 DiagnosticStatus.ERROR))
LOG_REPEAT_S = 10.0


class Problems:
    """Named, currently active problems (level + one-line message), thread-safe.

    `set` logs a problem when it is new or its message changed, and repeats it at most every
    LOG_REPEAT_S; `clear` logs that it recovered."""

    def __init__(self, logger):
        self._logger = logger
        self._lock = threading.Lock()
        self._active: dict[str, tuple[int, str]] = {}
        self._logged: dict[str, tuple[str, float]] = {}

    def set(self, key: str, level: int, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._active[key] = (level, message)
            last = self._logged.get(key)
            if last is not None and last[0] == message and now - last[1] < LOG_REPEAT_S:
                return
            self._logged[key] = (message, now)
        # rclpy wants one severity per call site, hence two calls.
        if level >= ERROR:
            self._logger.error(message)
        else:
            self._logger.warning(message)

    def clear(self, *keys: str) -> None:
        for key in keys:
            with self._lock:
                gone = self._active.pop(key, None)
                self._logged.pop(key, None)
            if gone is not None:
                self._logger.info(f"recovered: {gone[1]}")

    def snapshot(self) -> dict[str, tuple[int, str]]:
        with self._lock:
            return dict(self._active)


@dataclass
class PendingFrame:
    color: Image
    depth: Image | None
    info: CameraInfo


class LocalizeNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, LOCALIZE_NODE_PARAMETERS)
        self.problems = Problems(self.get_logger())
        self.enabled = bool(self.params["enabled"])
        self._stop = threading.Event()
        self._mailbox_lock = threading.Condition()
        self._pending: PendingFrame | None = None
        self._localizer = None
        self._localizer_map = ""
        self._localizer_lock = threading.Lock()
        self._map_generation = 0
        self._map_loading = ""
        self._last_map_from_odom: np.ndarray | None = None
        self._stats_lock = threading.Lock()
        self.counts = dict.fromkeys(
            ("synchronized", "processed", "localized", "failed", "superseded", "stale",
             "rejected_input"), 0)
        self.received = {"color": 0, "depth": 0, "camera_info": 0}
        self._last_received: dict[str, float] = {}  # input -> monotonic time of its last message
        self._fix_times = deque(maxlen=200)  # monotonic seconds of successful fixes
        self._latencies_ms = deque(maxlen=200)  # image stamp -> TF publish, node clock
        self._last_inliers = (0, 0.0)
        self._last_stale_count = 0

        self.tf_buffer = Buffer(cache_time=Duration(seconds=10.0), node=self)
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.tf_broadcaster = TransformBroadcaster(self)
        self.pose_pub = self.create_publisher(PoseWithCovarianceStamped, "~/pose", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        inputs = self.params
        self.rgb_only = not inputs["depth_topic"]
        self._subs = {"color": Subscriber(self, Image, inputs["color_topic"],
                                          qos_profile=qos_profile_sensor_data)}
        if not self.rgb_only:
            self._subs["depth"] = Subscriber(self, Image, inputs["depth_topic"],
                                             qos_profile=qos_profile_sensor_data)
        self._subs["camera_info"] = Subscriber(self, CameraInfo, inputs["camera_info_topic"],
                                               qos_profile=qos_profile_sensor_data)
        for key, sub in self._subs.items():
            sub.registerCallback(self._count_input, key)
        self.sync = ApproximateTimeSynchronizer(
            list(self._subs.values()), int(inputs["sync_queue_size"]),
            float(inputs["sync_slop_s"]))
        self.sync.registerCallback(self._on_synchronized)

        self.create_service(SetBool, "~/enable", self._on_enable)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._parameters_changed)
        timer_group = MutuallyExclusiveCallbackGroup()
        if inputs["tf_publish_rate_hz"] > 0:
            self.create_timer(1.0 / inputs["tf_publish_rate_hz"], self._republish,
                              callback_group=timer_group)
        self.create_timer(max(inputs["diagnostics_period_s"], 0.05), self._publish_diagnostics,
                          callback_group=timer_group)
        self._worker = threading.Thread(target=self._work, name="localize_worker", daemon=True)
        self._worker.start()
        self._load_map(inputs["map_path"])
        topics = ", ".join(sub.getTopic() for sub in self._subs.values())
        self.get_logger().info(
            f"listening to {topics} ({'RGB-only' if self.rgb_only else 'RGB-D'}); publishing "
            f"{inputs['map_frame']}->{inputs['odom_frame'] or inputs['base_frame'] or '<camera>'}")

    # -- inputs --------------------------------------------------------------------------------
    def _count_input(self, msg, key: str) -> None:
        with self._stats_lock:
            self.received[key] += 1
            self._last_received[key] = time.monotonic()

    def _on_synchronized(self, color, *rest) -> None:
        info = rest[-1]
        depth = None if self.rgb_only else rest[0]
        with self._stats_lock:
            self.counts["synchronized"] += 1
        if not self.enabled:
            return
        frame = PendingFrame(color, depth, info)
        with self._mailbox_lock:
            if self._pending is not None:
                with self._stats_lock:
                    self.counts["superseded"] += 1
            self._pending = frame
            self._mailbox_lock.notify()

    def _on_enable(self, request, response):
        self.enabled = bool(request.data)
        if not self.enabled:
            with self._mailbox_lock:
                self._pending = None
        response.success = True
        response.message = "localizing" if self.enabled else "paused"
        self.get_logger().info(f"~/enable: {response.message}")
        return response

    # -- parameters ----------------------------------------------------------------------------
    def _validate_parameters(self, parameters) -> SetParametersResult:
        """The same ranges as at start-up (ParameterSpec.minimum, finite floats)."""
        specs = {spec.name: spec for spec in LOCALIZE_NODE_PARAMETERS}
        for parameter in parameters:
            problem = parameter_problem(specs.get(parameter.name), parameter.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _parameters_changed(self, parameters) -> None:
        for parameter in parameters:
            if parameter.name in self.params:
                self.params[parameter.name] = parameter.value
            if parameter.name == "map_path":
                self._load_map(parameter.value)
            if parameter.name == "min_inliers":
                with self._localizer_lock:
                    if self._localizer is not None:
                        self._localizer.config.min_inliers = int(parameter.value)

    # -- map -----------------------------------------------------------------------------------
    def _load_map(self, path: str) -> None:
        with self._localizer_lock:
            self._map_generation += 1
            generation = self._map_generation
            self._map_loading = path
        if not path:
            self._finish_load(generation, None, "", "no map loaded: set the parameter map_path "
                              "to a map file written by the mapping node")
            return
        self.get_logger().info(f"loading map '{path}'")
        threading.Thread(target=self._load_map_thread, args=(generation, path),
                         name="map_loader", daemon=True).start()

    def _load_map_thread(self, generation: int, path: str) -> None:
        try:
            from scr_localizer.localization.localizer import Localizer, LocalizerConfig
            from scr_localizer.model.map_file import load_map

            scene_map = load_map(path)
            localizer = Localizer(scene_map, LocalizerConfig(min_inliers=self.params["min_inliers"]),
                                  device=self.params["device"])
        except ScrLocalizerError as exc:
            self._finish_load(generation, None, path, f"cannot load map '{path}': {exc}")
            return
        except Exception as exc:  # a broken file must not kill the node
            self.get_logger().debug(traceback.format_exc())
            self._finish_load(generation, None, path,
                              f"cannot load map '{path}': {type(exc).__name__}: {exc}")
            return
        self._finish_load(generation, localizer, path, "")

    def _finish_load(self, generation: int, localizer, path: str, error: str) -> None:
        with self._localizer_lock:
            if generation != self._map_generation:
                return  # a newer map_path was set meanwhile
            self._map_loading = ""
            if localizer is not None:
                self._localizer, self._localizer_map = localizer, path
                with self._stats_lock:  # the old map->odom belongs to the old map
                    self._last_map_from_odom = None
            current = self._localizer_map if self._localizer is not None else ""
        if error:
            if current:
                self.problems.set("map", WARN, f"{error}; still localizing with '{current}'")
            else:
                self.problems.set("map", ERROR, error)
        else:
            self.problems.clear("map")
            self.get_logger().info(f"map '{path}' loaded")

    # -- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._mailbox_lock:
                if self._pending is None:
                    self._mailbox_lock.wait(timeout=0.1)
                frame, self._pending = self._pending, None
            if frame is None or not self.enabled:
                continue
            try:
                self._process(frame)
            except Exception as exc:  # keep the node up whatever a frame does
                self.problems.set("internal", ERROR,
                                  f"unexpected error while localizing: {type(exc).__name__}: {exc}")
                self.get_logger().debug(traceback.format_exc())
            else:
                self.problems.clear("internal")

    def _reject(self, key: str, level: int, message: str) -> None:
        with self._stats_lock:
            self.counts["rejected_input"] += 1
        self.problems.set(key, level, message)

    def _process(self, frame: PendingFrame) -> None:
        from scr_localizer.io.images import camera_from_camera_info

        p = self.params
        stamp_ns = stamp_to_ns(frame.color.header.stamp)
        age_s = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9
        if age_s > p["max_frame_age_s"]:
            with self._stats_lock:
                self.counts["stale"] += 1
            return
        with self._localizer_lock:
            localizer = self._localizer
        if localizer is None:
            return  # the map problem is already reported
        with self._stats_lock:
            self.counts["processed"] += 1

        # A calibration the node cannot use is an ERROR (nothing can be localized with it).
        try:
            camera = camera_from_camera_info(frame.info)
        except ScrLocalizerError as exc:
            self._reject("camera_info", ERROR, f"CameraInfo on {p['camera_info_topic']}: {exc}")
            return
        try:
            color = image_to_rgb(frame.color)
        except ScrLocalizerError as exc:
            self._reject("color", WARN, f"colour image on {p['color_topic']}: {exc}")
            return
        if color.shape[:2] != (camera.height, camera.width):
            self._reject("camera_info", ERROR,
                         f"colour image is {color.shape[1]}x{color.shape[0]} but CameraInfo on "
                         f"{p['camera_info_topic']} says {camera.width}x{camera.height}; expected "
                         "the CameraInfo of the colour stream")
            return
        self.problems.clear("camera_info", "color")
        depth = None
        if frame.depth is not None:
            try:
                depth = image_to_depth_m(frame.depth)
            except ScrLocalizerError as exc:
                self.problems.set("depth", WARN, f"depth on {p['depth_topic']}: {exc}; "
                                  "localizing RGB-only meanwhile")
            else:
                if depth.shape != color.shape[:2]:
                    self.problems.set(
                        "depth", WARN,
                        f"depth on {p['depth_topic']} is {depth.shape[1]}x{depth.shape[0]} but the "
                        f"colour image is {color.shape[1]}x{color.shape[0]}; expected depth "
                        "registered to colour (e.g. aligned_depth_to_color); localizing RGB-only "
                        "meanwhile")
                    depth = None
                else:
                    self.problems.clear("depth")

        camera_frame = p["camera_frame"] or frame.color.header.frame_id
        body_frame = p["base_frame"] or camera_frame
        odom_frame = p["odom_frame"]
        stamp = Time(nanoseconds=stamp_ns, clock_type=self.get_clock().clock_type)
        links = [(camera_frame, body_frame)] if body_frame != camera_frame else []
        if odom_frame:
            links.append((odom_frame, body_frame))
        # Cheap check first: are the frames linked at all? The lookups at the image stamp come
        # after localizing, which gives odometry that much time to arrive.
        for target, source in links:
            if not self.tf_buffer.can_transform(target, source, Time()):
                self._reject("tf", WARN, f"TF missing: no transform {target} <- {source} "
                             f"(known frames: {self._known_frames()})")
                return

        try:
            result = localizer.localize(color, camera, depth)
        except ScrLocalizerError as exc:
            self._reject("localize", WARN, f"localization failed: {exc}")
            return
        self.problems.clear("localize")
        inliers = int(result.inlier_count)
        with self._stats_lock:
            self._last_inliers = (inliers, float(result.inlier_ratio))
        if not result.success or inliers < p["min_inliers"]:
            with self._stats_lock:
                self.counts["failed"] += 1
            reason = getattr(result, "failure_reason", "") or (
                f"{inliers} inliers < min_inliers {p['min_inliers']}")
            self.problems.set("inliers", WARN,
                              f"no fix: {reason} ({inliers} inliers, {result.inlier_ratio:.0%}); "
                              "is the camera inside the mapped area?")
            return
        self.problems.clear("inliers")

        timeout = Duration(seconds=max(float(p["tf_timeout_s"]), 0.0))
        looked_up = []
        try:
            for target, source in links:
                looked_up.append(matrix_from_transform(self.tf_buffer.lookup_transform(
                    target, source, stamp, timeout).transform))
        except TransformException as exc:
            target, source = links[len(looked_up)]
            self._reject("tf", WARN, f"TF missing at the image stamp ({target} <- {source}): "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            return
        self.problems.clear("tf")
        camera_from_body = looked_up.pop(0) if body_frame != camera_frame else np.eye(4)
        odom_from_body = looked_up.pop(0) if odom_frame else None

        map_from_camera = np.asarray(result.world_from_camera, dtype=np.float64)
        map_from_body = map_from_camera @ camera_from_body
        if odom_frame:
            map_from_odom = map_from_body @ invert_pose(odom_from_body)
            transform = transform_stamped(p["map_frame"], odom_frame, stamp_ns, map_from_odom)
            with self._stats_lock:
                self._last_map_from_odom = map_from_odom
        else:
            transform = transform_stamped(p["map_frame"], body_frame, stamp_ns, map_from_body)
        if p["publish_tf"]:
            self.tf_broadcaster.sendTransform(transform)
        published_ns = self.get_clock().now().nanoseconds

        pose = PoseWithCovarianceStamped()
        pose.header.stamp = frame.color.header.stamp
        pose.header.frame_id = p["map_frame"]
        fill_pose(pose.pose.pose, map_from_body)
        covariance = getattr(result, "covariance", None)
        if covariance is not None:
            covariance = transfer_pose_covariance(covariance, map_from_camera, camera_from_body)
            pose.pose.covariance = [float(v) for v in covariance.reshape(36)]
        self.pose_pub.publish(pose)
        with self._stats_lock:
            self.counts["localized"] += 1
            self._fix_times.append(time.monotonic())
            self._latencies_ms.append((published_ns - stamp_ns) * 1e-6)

    def _known_frames(self) -> str:
        describe = getattr(self.tf_buffer, "all_frames_as_string", None)
        text = describe() if describe else ""
        return text.replace("\n", " ")[:300] or "none"

    # -- outputs -------------------------------------------------------------------------------
    def _republish(self) -> None:
        with self._stats_lock:
            map_from_odom = self._last_map_from_odom
        if map_from_odom is None or not self.enabled or not self.params["publish_tf"]:
            return
        if not self.params["odom_frame"]:
            return  # a fixed map->base would be wrong as soon as the robot moves
        stamp_ns = self.get_clock().now().nanoseconds + int(
            self.params["transform_tolerance_s"] * 1e9)
        self.tf_broadcaster.sendTransform(transform_stamped(
            self.params["map_frame"], self.params["odom_frame"], stamp_ns, map_from_odom))

    def _update_input_problems(self, counts: dict, received: dict, new_stale: int,
                               input_ages: dict | None = None) -> None:
        """Problems only visible over time (nothing arriving, an input stalled, nothing
        synchronizing)."""
        p, problems = self.params, self.problems
        stall_keys = [f"stalled_{key}" for key in self._subs]
        if new_stale > 0:
            problems.set("stale", WARN, f"dropped {new_stale} frame(s) older than "
                         f"max_frame_age_s={p['max_frame_age_s']} s (clock mismatch, "
                         "use_sim_time without /clock, or processing too slow)")
        else:
            problems.clear("stale")
        if not self.enabled:
            problems.clear("no_images", "no_camera_info", "no_depth", "no_sync", *stall_keys)
            return
        topics = {"color": p["color_topic"], "depth": p["depth_topic"],
                  "camera_info": p["camera_info_topic"]}
        timeout = float(p["input_stall_timeout_s"])
        for key in self._subs:
            age = (input_ages or {}).get(key)
            if age is not None and age > timeout:
                # The age itself goes to the values: a message that changed every period would
                # be logged every period.
                problems.set(f"stalled_{key}", WARN,
                             f"input stalled: nothing new on {topics[key]} for over {timeout:g} s "
                             "(input_stall_timeout_s); is its publisher still running?")
            else:
                problems.clear(f"stalled_{key}")
        conditions = {
            "no_images": (received["color"] == 0, f"no images on {p['color_topic']} yet"),
            "no_camera_info": (received["color"] > 0 and received["camera_info"] == 0,
                               f"no CameraInfo received on {p['camera_info_topic']} yet"),
            "no_depth": (not self.rgb_only and received["color"] > 0 and received["depth"] == 0,
                         f"no depth received on {p['depth_topic']} yet (set depth_topic to '' "
                         "for RGB-only)"),
            "no_sync": (counts["synchronized"] == 0 and received["color"] > 0
                        and received["camera_info"] > 0 and (self.rgb_only or received["depth"] > 0),
                        "colour, depth and CameraInfo arrive but never synchronize within "
                        f"sync_slop_s={p['sync_slop_s']} s; expected equal or close stamps"),
        }
        for key, (active, message) in conditions.items():
            if active:
                problems.set(key, WARN, message)
            else:
                problems.clear(key)

    def diagnostic_status(self) -> DiagnosticStatus:
        with self._stats_lock:
            counts, received = dict(self.counts), dict(self.received)
            now = time.monotonic()
            recent = [t for t in self._fix_times if now - t <= 5.0]
            rate = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-3) if len(recent) > 1 else 0.0
            latencies = sorted(self._latencies_ms)
            inliers, inlier_ratio = self._last_inliers
            new_stale = counts["stale"] - self._last_stale_count
            self._last_stale_count = counts["stale"]
            input_ages = {key: now - t for key, t in self._last_received.items()}
        with self._localizer_lock:
            loaded, loading = self._localizer_map, self._map_loading
        self._update_input_problems(counts, received, new_stale, input_ages)
        problems = self.problems.snapshot()
        if self.enabled and loading and "map" not in problems:
            problems["map_loading"] = (WARN if loaded else ERROR, f"loading map '{loading}'")
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: relocalization"
        status.hardware_id = self.params["color_topic"]
        level = max((lvl for lvl, _ in problems.values()), default=OK)
        status.level = bytes([level]) if isinstance(DiagnosticStatus.OK, bytes) else level
        parts = [] if self.enabled else ["paused (~/enable)"]
        parts += [message for _, message in problems.values()]
        status.message = "; ".join(parts) or f"localizing at {rate:.1f} Hz"
        values = {
            "enabled": str(self.enabled).lower(),
            "map": loaded,
            "rate_hz": f"{rate:.2f}",
            "latency_ms_p50": f"{latencies[len(latencies) // 2]:.1f}" if latencies else "",
            "latency_ms_max": f"{latencies[-1]:.1f}" if latencies else "",
            "inliers": str(inliers),
            "inlier_ratio": f"{inlier_ratio:.3f}",
            **{f"frames_{k}": str(v) for k, v in counts.items()},
            **{f"received_{k}": str(v) for k, v in received.items()},
            **{f"input_age_s_{k}": f"{v:.2f}" for k, v in sorted(input_ages.items())},
            "problems": ",".join(sorted(problems)),
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = ns_to_stamp(self.get_clock().now().nanoseconds)
        array.status = [self.diagnostic_status()]
        self.diagnostics_pub.publish(array)

    def shutdown(self) -> None:
        self._stop.set()
        with self._mailbox_lock:
            self._mailbox_lock.notify_all()
        self._worker.join(timeout=5.0)


def _make_executor():
    """The worker is a plain thread, so callbacks need only one executor thread, and rclpy's
    single-threaded executor has less overhead per message than the multi-threaded one (measured
    here at 30 Hz RGB-D: ~30% more colour frames received). SCR_EXECUTOR=multi switches."""
    if os.environ.get("SCR_EXECUTOR", "single") == "multi":
        return MultiThreadedExecutor(num_threads=3)
    return SingleThreadedExecutor()


def main(args: list[str] | None = None) -> int:
    # Idle OpenMP threads must not spin on the cores the executor needs for callbacks (torch is
    # imported later, with the map).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    rclpy.init(args=sys.argv if args is None else args)
    node = None
    status = 0
    try:
        node = LocalizeNode()
        executor = _make_executor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ScrLocalizerError as exc:  # bad parameters at start-up: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
