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
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
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

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.localization.frame_processor import (
    ERROR,
    FAILED,
    LOCALIZED,
    NO_MAP,
    REJECTED,
    STALE,
    WARN,
    FrameProcessor,
    ProcessorConfig,
    TransformUnavailable,
)
from scr_localizer.ros.compat import (
    CV_BRIDGE_UNAVAILABLE,
    ApproximateTimeSynchronizer,
    Buffer,
    Subscriber,
    TransformBroadcaster,
    TransformException,
    TransformListener,
    add_parameter_callbacks,
    image_to_depth_m,
    image_to_rgb,
)
from scr_localizer.ros.conversions import (
    fill_pose,
    matrix_from_transform,
    ns_to_stamp,
    transform_stamped,
)
from scr_localizer.ros.diagnostics import Problems, status_message, update_input_problems
from scr_localizer.ros.parameters import (
    LOCALIZE_NODE_PARAMETERS,
    declare_parameters,
    parameter_problem,
)
from scr_localizer.ros.shutdown import exit_now, init_rclpy, shutdown_rclpy

NODE_NAME = defaults.LOCALIZE_NODE_NAME


@dataclass
class PendingFrame:
    color: Image
    depth: Image | None
    info: CameraInfo


class _Tf2Transforms:
    """The processor's TransformSource over a tf2 Buffer (waits up to tf_timeout_s)."""

    def __init__(self, buffer, clock_type, timeout_s: float):
        self.buffer, self.clock_type = buffer, clock_type
        self.timeout = Duration(seconds=max(float(timeout_s), 0.0))

    def can_transform(self, target: str, source: str) -> bool:
        return self.buffer.can_transform(target, source, Time())

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        stamp = Time(nanoseconds=stamp_ns, clock_type=self.clock_type)
        try:
            return matrix_from_transform(
                self.buffer.lookup_transform(target, source, stamp, self.timeout).transform)
        except TransformException as exc:
            raise TransformUnavailable(
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    def known_frames(self) -> str:
        describe = getattr(self.buffer, "all_frames_as_string", None)
        text = describe() if describe else ""
        return text.replace("\n", " ")[:300] or "none"


class LocalizeNode(Node):
    """Set-up in the order nav2_amcl uses: parameters, state, transforms, publishers,
    subscriptions, services and timers; then the map loads in the background."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self._init_parameters()
        self._init_state()
        self._init_transforms()
        self._init_publishers()
        self._init_subscriptions()
        self._init_services()
        self._init_timers()
        self._worker = threading.Thread(target=self._work, name="localize_worker", daemon=True)
        self._worker.start()
        self._load_map(self.params["map_path"])
        p = self.params
        topics = ", ".join(self.shown["topics"].values())
        self.get_logger().info(
            f"listening to {topics} ({'RGB-only' if self.rgb_only else 'RGB-D'}); publishing "
            f"{p['map_frame']}->{p['odom_frame'] or p['base_frame'] or '<camera>'}")
        if CV_BRIDGE_UNAVAILABLE and "cannot be imported" not in CV_BRIDGE_UNAVAILABLE:
            self.get_logger().warning(f"{CV_BRIDGE_UNAVAILABLE}; decoding images without it")

    def _init_parameters(self) -> None:
        self.params = declare_parameters(self, LOCALIZE_NODE_PARAMETERS)
        self.enabled = bool(self.params["enabled"])
        self.rgb_only = not self.params["depth_topic"]
        self.problems = Problems(self.get_logger())

    def _init_state(self) -> None:
        self._stop = threading.Event()
        self._mailbox_lock = threading.Condition()
        self._pending: PendingFrame | None = None
        self._localizer = None
        self._localizer_map = ""
        self._localizer_lock = threading.Lock()
        self._map_generation = 0
        self._map_loading = ""
        self._map_loaders: list[threading.Thread] = []
        self._last_map_from_odom: np.ndarray | None = None
        self._stats_lock = threading.Lock()
        self.counts = dict.fromkeys(
            ("synchronized", "processed", "localized", "failed", "superseded", "stale",
             "rejected_input"), 0)
        self.received = {"color": 0, "depth": 0, "camera_info": 0}
        self._last_received: dict[str, float] = {}  # input -> monotonic time of its last message
        self._fix_times = deque(maxlen=200)  # monotonic seconds of successful fixes
        self._latencies_ms = deque(maxlen=200)  # image stamp -> TF publish, node clock
        self._last_inliers = (0, 0.0, None)  # inliers, ratio, confidence of the last attempt
        self._last_stale_count = 0

    def _init_transforms(self) -> None:
        self.tf_buffer = Buffer(cache_time=Duration(seconds=10.0), node=self)
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.tf_broadcaster = TransformBroadcaster(self)

    def _init_publishers(self) -> None:
        self.pose_pub = self.create_publisher(PoseWithCovarianceStamped, "~/pose", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _init_subscriptions(self) -> None:
        p = self.params
        self._subs = {"color": Subscriber(self, Image, p["color_topic"],
                                          qos_profile=qos_profile_sensor_data)}
        if not self.rgb_only:
            self._subs["depth"] = Subscriber(self, Image, p["depth_topic"],
                                             qos_profile=qos_profile_sensor_data)
        self._subs["camera_info"] = Subscriber(self, CameraInfo, p["camera_info_topic"],
                                               qos_profile=qos_profile_sensor_data)
        for key, sub in self._subs.items():
            sub.registerCallback(self._count_input, key)
        self.sync = ApproximateTimeSynchronizer(
            list(self._subs.values()), int(p["sync_queue_size"]), float(p["sync_slop_s"]))
        self.sync.registerCallback(self._on_synchronized)
        # Messages and /diagnostics name the topics as resolved (relative defaults resolve in
        # the node's namespace: /robot1/camera/camera/color/image_raw).
        topics = {f"{key}_topic": self.resolve_topic_name(sub.getTopic())
                  for key, sub in self._subs.items()}
        self.shown = {"topics": topics}

    def _init_services(self) -> None:
        self.create_service(SetBool, "~/enable", self._on_enable)
        # Humble has no post-set callbacks: compat falls back to the on-set one.
        self.parameter_callbacks = add_parameter_callbacks(
            self, self._validate_parameters, self._parameters_changed)

    def _init_timers(self) -> None:
        p = self.params
        timer_group = MutuallyExclusiveCallbackGroup()
        if p["tf_publish_rate_hz"] > 0:
            self.create_timer(1.0 / p["tf_publish_rate_hz"], self._republish,
                              callback_group=timer_group)
        self.create_timer(max(p["diagnostics_period_s"], 0.05), self._publish_diagnostics,
                          callback_group=timer_group)

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
        loader = threading.Thread(target=self._load_map_thread, args=(generation, path),
                                  name="map_loader", daemon=True)
        self._map_loaders = [t for t in self._map_loaders if t.is_alive()] + [loader]
        loader.start()

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
            if not self._stop.is_set():
                self.get_logger().debug(traceback.format_exc())
            self._finish_load(generation, None, path,
                              f"cannot load map '{path}': {type(exc).__name__}: {exc}")
            return
        self._finish_load(generation, localizer, path, "")

    def _finish_load(self, generation: int, localizer, path: str, error: str) -> None:
        if self._stop.is_set():
            return  # shutting down: the node may already be destroyed
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

    def _processor(self) -> FrameProcessor:
        """From the current parameters (min_inliers and max_frame_age_s change at runtime)."""
        p, shown = self.params, {**self.params, **self.shown["topics"]}
        return FrameProcessor(
            ProcessorConfig(
                map_frame=p["map_frame"], odom_frame=p["odom_frame"], base_frame=p["base_frame"],
                camera_frame=p["camera_frame"], color_topic=shown["color_topic"],
                depth_topic=shown["depth_topic"], camera_info_topic=shown["camera_info_topic"],
                max_frame_age_s=float(p["max_frame_age_s"]), min_inliers=int(p["min_inliers"]),
                min_confidence=float(p["min_confidence"])),
            decode_rgb=image_to_rgb, decode_depth_m=image_to_depth_m)

    def _process(self, frame: PendingFrame) -> None:
        """Run the ROS-free processor on one frame; count, file its problems, publish a fix."""
        with self._localizer_lock:
            localizer = self._localizer
        transforms = _Tf2Transforms(self.tf_buffer, self.get_clock().clock_type,
                                    self.params["tf_timeout_s"])
        now_ns = self.get_clock().now().nanoseconds
        result = self._processor().process(localizer, frame.color, frame.depth, frame.info,
                                           now_ns, transforms)
        with self._stats_lock:
            if result.outcome == STALE:
                self.counts["stale"] += 1
            elif result.outcome != NO_MAP:
                self.counts["processed"] += 1
            if result.outcome == REJECTED:
                self.counts["rejected_input"] += 1
            elif result.outcome == FAILED:
                self.counts["failed"] += 1
            if result.inliers is not None:
                self._last_inliers = (result.inliers, result.inlier_ratio, result.confidence)
        self.problems.apply(result.problems)
        if result.outcome == LOCALIZED:
            self._publish_fix(frame, result)

    def _publish_fix(self, frame: PendingFrame, result) -> None:
        p, out = self.params, result.outputs
        if out.map_from_odom is not None:
            with self._stats_lock:
                self._last_map_from_odom = out.map_from_odom
        if p["publish_tf"]:
            self.tf_broadcaster.sendTransform(transform_stamped(
                out.parent, out.child, result.stamp_ns, out.parent_from_child))
        published_ns = self.get_clock().now().nanoseconds
        pose = PoseWithCovarianceStamped()
        pose.header.stamp = frame.color.header.stamp
        pose.header.frame_id = p["map_frame"]
        fill_pose(pose.pose.pose, out.map_from_body)
        if out.body_covariance is not None:
            pose.pose.covariance = [float(v) for v in out.body_covariance.reshape(36)]
        self.pose_pub.publish(pose)
        with self._stats_lock:
            self.counts["localized"] += 1
            self._fix_times.append(time.monotonic())
            self._latencies_ms.append((published_ns - result.stamp_ns) * 1e-6)

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

    def diagnostic_status(self):
        with self._stats_lock:
            counts, received = dict(self.counts), dict(self.received)
            now = time.monotonic()
            recent = [t for t in self._fix_times if now - t <= 5.0]
            rate = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-3) if len(recent) > 1 else 0.0
            latencies = sorted(self._latencies_ms)
            inliers, inlier_ratio, confidence = self._last_inliers
            new_stale = counts["stale"] - self._last_stale_count
            self._last_stale_count = counts["stale"]
            input_ages = {key: now - t for key, t in self._last_received.items()}
        with self._localizer_lock:
            loaded, loading = self._localizer_map, self._map_loading
        update_input_problems(self.problems, {**self.params, **self.shown["topics"]},
                              list(self._subs), self.enabled, counts, received, new_stale,
                              input_ages)
        problems = self.problems.snapshot()
        if self.enabled and loading and "map" not in problems:
            problems["map_loading"] = (WARN if loaded else ERROR, f"loading map '{loading}'")
        values = {
            "enabled": str(self.enabled).lower(),
            "map": loaded,
            "rate_hz": f"{rate:.2f}",
            "latency_ms_p50": f"{latencies[len(latencies) // 2]:.1f}" if latencies else "",
            "latency_ms_max": f"{latencies[-1]:.1f}" if latencies else "",
            "inliers": str(inliers),
            "inlier_ratio": f"{inlier_ratio:.3f}",
            "confidence": "" if confidence is None else f"{confidence:.3f}",
            **{f"frames_{k}": str(v) for k, v in counts.items()},
            **{f"received_{k}": str(v) for k, v in received.items()},
            **{f"input_age_s_{k}": f"{v:.2f}" for k, v in sorted(input_ages.items())},
            "problems": ",".join(sorted(problems)),
        }
        return status_message(f"{self.get_name()}: relocalization",
                              self.shown["topics"]["color_topic"],
                              self.enabled, problems, rate, values)

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = ns_to_stamp(self.get_clock().now().nanoseconds)
        array.status = [self.diagnostic_status()]
        self.diagnostics_pub.publish(array)

    def shutdown(self, timeout_s: float = 3.0) -> bool:
        """Stop the worker and wait for it and any map loader; False if one is still running
        after timeout_s (then the process must skip interpreter finalization)."""
        self._stop.set()
        with self._mailbox_lock:
            self._mailbox_lock.notify_all()
        deadline = time.monotonic() + timeout_s
        threads = [self._worker, *self._map_loaders]
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        running = [t.name for t in threads if t.is_alive()]
        if running:
            self.get_logger().info(f"shutting down without waiting for {', '.join(running)}")
        return not running


def _make_executor():
    """The worker is a plain thread, so callbacks need only one executor thread, and rclpy's
    single-threaded executor has less overhead per message than the multi-threaded one (measured
    here at 30 Hz RGB-D: ~30% more colour frames received). SCR_EXECUTOR=multi switches."""
    if os.environ.get("SCR_EXECUTOR", "single") == "multi":
        return MultiThreadedExecutor(num_threads=3)
    return SingleThreadedExecutor()


def main(args: list[str] | None = None) -> int:
    """Runs until SIGINT/SIGTERM (then exits 0, whether starting, loading the map or
    localizing) or an external rclpy shutdown."""
    # Idle OpenMP threads must not spin on the cores the executor needs for callbacks (torch is
    # imported later, with the map).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    signals = init_rclpy(sys.argv if args is None else args)
    node, finished, status = None, True, 0
    try:
        node = LocalizeNode()
        executor = _make_executor()
        executor.add_node(node)
        # spin_once with a timeout, so the signal flag is seen within 0.1 s
        while not signals.requested and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except ScrLocalizerError as exc:  # bad parameters at start-up: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    finally:
        if node is not None:
            if signals.requested:
                node.get_logger().info(
                    f"{signal.Signals(signals.signum).name} received, shutting down")
            finished = node.shutdown()
            node.destroy_node()
        shutdown_rclpy()
    if not finished:
        exit_now(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
