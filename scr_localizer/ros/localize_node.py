"""Live relocalization node: synchronized colour (+ depth) + CameraInfo in, map->odom TF out.

Threading: subscription callbacks only park the newest synchronized frame in a one-slot mailbox
(a frame not yet picked up is replaced and counted as superseded), so processing never lags
behind the camera. Two worker threads form a pipeline: the network thread decodes and regresses
the newest frame while the solver thread computes the previous frame's pose and publishes it
(one regressed frame at most waits between them). Map (re)loading runs in its
own thread and swaps the localizer in only once the new map is ready, so a bad `map_path` never
takes the running one down. Problems with the inputs are kept by name, logged (throttled) and
reported on /diagnostics until the input is fixed.

Lifecycle: always an rclpy LifecycleNode, so nav2's lifecycle_manager and nav2_simple_commander
(`<node>/get_state`) can manage it. With use_lifecycle false (the default) it configures and
activates itself at start-up, so a plain `ros2 run` localizes at once; with use_lifecycle true
it waits for configure (loads the map synchronously, fails with the reason) and activate
(subscribes, publishes TF and ~/pose); deactivate unsubscribes and stops publishing; cleanup
frees the model. nav2's lifecycle_manager also expects a bond: the node forms one when bondpy
is installed, otherwise the manager needs `bond_timeout: 0.0` (see the README).
`~/enable` (std_srvs/SetBool) pauses and resumes an active node; `~/relocalize`
(std_srvs/Trigger) localizes the next frame now, bypassing the odometry gate, and answers with
the result.

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
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import SetBool, Trigger

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.rep105 import map_to_odom_stamp, planar_pose, smoothed_outputs
from scr_localizer.geometry.transforms import invert_pose
from scr_localizer.localization.fix_gate import ACCEPTED, HELD, FixGate, GateConfig
from scr_localizer.localization.frame_processor import (
    ERROR,
    FAILED,
    LOCALIZED,
    NO_MAP,
    REJECTED,
    STALE,
    WARN,
    FrameProcessor,
    FrameResult,
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
    matrix_from_pose,
    matrix_from_transform,
    ns_to_stamp,
    stamp_to_ns,
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
# As nav2_amcl's amcl_pose: a transient_local subscriber that connects late (nav2's simple
# commander) gets the last pose; a volatile publisher would never match it.
POSE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
# RViz's "2D Pose Estimate" publishes reliable, volatile.
INITIAL_POSE_TOPIC = "initialpose"
# image_transport's topic suffixes for the transports the node can take.
TRANSPORT_SUFFIX = {"raw": "", "compressed": "/compressed", "compressedDepth": "/compressedDepth"}
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class RelocalizeRequest:
    """A waiting ~/relocalize call: answered by the next frame the worker localizes."""

    def __init__(self, deadline_s: float):
        self.deadline_s = deadline_s  # monotonic
        self.answered = threading.Event()
        self.answer: tuple[bool, str] = (False, "")
        self.claimed = False  # a frame in the pipeline will answer it

    def done(self) -> bool:
        return self.answered.is_set()

    def set_answer(self, success: bool, message: str) -> None:
        self.answer = (success, message)
        self.answered.set()


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


class LocalizeNode(LifecycleNode):
    """Set-up in the order nav2_amcl uses: parameters, state, transforms, publishers, services
    and timers; subscriptions (and the TF re-publish timer) come with activate, the map with
    configure."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self._init_parameters()
        self._init_state()
        self._init_transforms()
        self._init_publishers()
        self._init_services()
        self._init_timers()
        self._worker = threading.Thread(target=self._work, name="localize_network", daemon=True)
        self._solver = threading.Thread(target=self._solve_work, name="localize_solver",
                                        daemon=True)
        self._worker.start()
        self._solver.start()
        if CV_BRIDGE_UNAVAILABLE and "cannot be imported" not in CV_BRIDGE_UNAVAILABLE:
            self.get_logger().warning(f"{CV_BRIDGE_UNAVAILABLE}; decoding images without it")
        p = self.params
        if p["use_lifecycle"] and not p["autostart"]:
            self.get_logger().info("lifecycle node: waiting for configure and activate (nav2 "
                                   "lifecycle_manager, or `ros2 lifecycle set`)")
            return
        if self.trigger_configure() == SUCCESS:
            self.trigger_activate()

    def _init_parameters(self) -> None:
        self.params = declare_parameters(self, LOCALIZE_NODE_PARAMETERS)
        p = self.params
        self.enabled = bool(p["enabled"])
        self.rgb_only = not p["depth_topic"]
        self.problems = Problems(self.get_logger())
        # Messages and /diagnostics name the topics as resolved (relative defaults resolve in
        # the node's namespace: /robot1/camera/camera/color/image_raw).
        self.input_topics = {"color": p["color_topic"] + TRANSPORT_SUFFIX[p["color_transport"]]}
        if not self.rgb_only:
            self.input_topics["depth"] = (p["depth_topic"]
                                          + TRANSPORT_SUFFIX[p["depth_transport"]])
        self.input_topics["camera_info"] = p["camera_info_topic"]
        self.shown = {"topics": {f"{key}_topic": self.resolve_topic_name(topic)
                                 for key, topic in self.input_topics.items()}}

    def _init_state(self) -> None:
        self._stop = threading.Event()
        self._mailbox_lock = threading.Condition()
        self._pending: PendingFrame | None = None
        self._solve_slot = threading.Condition()  # one regressed frame between the stages
        self._to_solve: tuple | None = None
        self._localizer = None
        self._localizer_map = ""
        self._localizer_lock = threading.Lock()
        self._map_generation = 0
        self._map_loading = ""
        self._map_loaders: list[threading.Thread] = []
        self._validated_map: tuple[str, object] | None = None  # loaded by a map_path request
        self.lifecycle_state = "unconfigured"
        self._active = False
        self._subs: dict[str, Subscriber] = {}
        self._initial_pose_sub = None
        self._republish_timer = None
        self._bond = None
        self._relocalize_requests: list[RelocalizeRequest] = []
        self._last_map_from_odom: np.ndarray | None = None
        self._pending_initial_pose: PoseWithCovarianceStamped | None = None
        # One map->odom publisher (fixes, re-publishes, initial poses) whose stamps increase.
        self._tf_lock = threading.Lock()
        self._last_tf_stamp_ns: int | None = None
        self.gate = FixGate(self._gate_config())
        self._stats_lock = threading.Lock()
        self.counts = dict.fromkeys(
            ("synchronized", "processed", "localized", "failed", "superseded", "stale",
             "rejected_input", "initial_poses", "relocalized"), 0)
        self.received = {"color": 0, "depth": 0, "camera_info": 0}
        self._last_received: dict[str, float] = {}  # input -> monotonic time of its last message
        self._fix_times = deque(maxlen=200)  # monotonic seconds of successful fixes
        self._latencies_ms = deque(maxlen=200)  # image stamp -> TF publish, node clock
        # inliers, ratio, confidence, colour-depth shift of the last attempt
        self._last_attempt = (0, 0.0, None, None)
        self._last_stale_count = 0

    def _init_transforms(self) -> None:
        self.tf_buffer = Buffer(cache_time=Duration(seconds=10.0), node=self)
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.tf_broadcaster = TransformBroadcaster(self)

    def _init_publishers(self) -> None:
        self.pose_pub = self.create_publisher(PoseWithCovarianceStamped, "~/pose", POSE_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _input_qos(self) -> QoSProfile:
        """sensor_data (best effort: matches reliable and best-effort publishers) or reliable."""
        p = self.params
        reliability = (ReliabilityPolicy.RELIABLE if p["input_qos"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        return QoSProfile(depth=int(p["input_qos_depth"]), history=HistoryPolicy.KEEP_LAST,
                          reliability=reliability, durability=DurabilityPolicy.VOLATILE)

    def _create_subscriptions(self) -> None:
        """On activate: the synchronized inputs and initialpose."""
        p, qos = self.params, self._input_qos()
        types = {"color": CompressedImage if p["color_transport"] == "compressed" else Image,
                 "depth": CompressedImage if p["depth_transport"] == "compressedDepth" else Image,
                 "camera_info": CameraInfo}
        self._subs = {key: Subscriber(self, types[key], topic, qos_profile=qos)
                      for key, topic in self.input_topics.items()}
        for key, sub in self._subs.items():
            sub.registerCallback(self._count_input, key)
        self.sync = ApproximateTimeSynchronizer(
            list(self._subs.values()), int(p["sync_queue_size"]), float(p["sync_slop_s"]))
        self.sync.registerCallback(self._on_synchronized)
        self._initial_pose_sub = self.create_subscription(
            PoseWithCovarianceStamped, INITIAL_POSE_TOPIC, self._on_initial_pose, 10)

    def _destroy_subscriptions(self) -> None:
        for sub in self._subs.values():
            self.destroy_subscription(sub.sub)
        self._subs = {}
        if self._initial_pose_sub is not None:
            self.destroy_subscription(self._initial_pose_sub)
            self._initial_pose_sub = None

    def _init_services(self) -> None:
        self.create_service(SetBool, "~/enable", self._on_enable)
        # ~/relocalize waits for a frame, so it is served on a node and executor thread of its
        # own: a callback blocking the main executor would stop the very frames it waits for
        # (and an async one starves the subscriptions: rclpy re-runs a waiting coroutine on every
        # spin, measured here as no frames delivered while it waited).
        self._service_node = rclpy.create_node(
            f"{self.get_name()}_services", namespace=self.get_namespace(), context=self.context,
            use_global_arguments=False, start_parameter_services=False)
        self._service_node.create_service(
            Trigger, f"{self.get_fully_qualified_name()}/relocalize", self._on_relocalize)
        self._service_executor = SingleThreadedExecutor(context=self.context)
        self._service_executor.add_node(self._service_node)
        self._service_thread = threading.Thread(target=self._serve, name="localize_services",
                                                daemon=True)
        self._service_thread.start()
        # Humble has no post-set callbacks: compat falls back to the on-set one.
        self.parameter_callbacks = add_parameter_callbacks(
            self, self._validate_parameters, self._parameters_changed)

    def _serve(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self._service_executor.spin_once(timeout_sec=0.1)
            except Exception:  # noqa: BLE001 - context shut down under us: stop serving
                return

    def _init_timers(self) -> None:
        """/diagnostics in every lifecycle state; the TF re-publish timer comes with activate."""
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self.create_timer(max(self.params["diagnostics_period_s"], 0.05),
                          self._publish_diagnostics, callback_group=self._timer_group)

    # -- lifecycle -----------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Managed (use_lifecycle): load the map now and fail with the reason, so the manager
        stops the bring-up; unmanaged: load in the background, the node reports on
        /diagnostics and keeps running whatever the map."""
        path = self.params["map_path"]
        if not self.params["use_lifecycle"]:
            self._load_map(path)
        else:
            localizer, error = self._open_map(path)
            if localizer is None:
                self.problems.set("map", ERROR, error)
                self.get_logger().error(f"configure failed: {error}")
                return FAILURE
            self._install_map(localizer, path)
        self.lifecycle_state = "inactive"
        return SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        p = self.params
        self._create_subscriptions()
        if p["tf_publish_rate_hz"] > 0:
            self._republish_timer = self.create_timer(
                1.0 / p["tf_publish_rate_hz"], self._republish, callback_group=self._timer_group)
        self._active = True
        self.lifecycle_state = "active"
        if p["use_lifecycle"]:
            self._bond = _start_bond(self)
        topics = ", ".join(self.shown["topics"].values())
        self.get_logger().info(
            f"listening to {topics} ({'RGB-only' if self.rgb_only else 'RGB-D'}); publishing "
            f"{p['map_frame']}->{p['odom_frame'] or p['base_frame'] or '<camera>'}")
        return SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """No TF and no ~/pose from here on; the map and the estimate stay for reactivation."""
        self._active = False
        self.lifecycle_state = "inactive"
        self._destroy_subscriptions()
        if self._republish_timer is not None:
            self.destroy_timer(self._republish_timer)
            self._republish_timer = None
        with self._mailbox_lock:
            self._pending = None
            self._pending_initial_pose = None
        with self._solve_slot:
            self._to_solve = None
            self._solve_slot.notify_all()
        self._answer_relocalize(False, "deactivated before a frame was localized")
        if self._bond is not None:
            self._bond.shutdown()
            self._bond = None
        return SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Frees the model (and its device memory); configure loads the map again."""
        with self._localizer_lock:
            self._map_generation += 1  # a background load still running is dropped
            self._localizer, self._localizer_map, self._map_loading = None, "", ""
        with self._stats_lock:
            self._last_map_from_odom = None
            self.gate = FixGate(self._gate_config())
        self.problems.clear("map")
        self.lifecycle_state = "unconfigured"
        return SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        if self._active:
            self.on_deactivate(state)
        self.lifecycle_state = "finalized"
        return SUCCESS

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
        if not self._active or not (self.enabled or self._relocalize_requests):
            return
        frame = PendingFrame(color, depth, info)
        with self._mailbox_lock:
            if self._pending is not None:
                with self._stats_lock:
                    self.counts["superseded"] += 1
            self._pending = frame
            self._mailbox_lock.notify()

    def _on_initial_pose(self, msg: PoseWithCovarianceStamped) -> None:
        """Handed to the worker: composing it waits for odom->base at its stamp."""
        with self._mailbox_lock:
            self._pending_initial_pose = msg
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

    def _on_relocalize(self, request, response):
        """Localize the next frame now (also while paused) and answer with the result; a fix
        replaces map->odom at once (no gate, no smoothing): the caller knows the robot moved."""
        if not self._active:
            response.success = False
            response.message = f"not active (lifecycle state '{self.lifecycle_state}')"
            return response
        with self._localizer_lock:
            loaded = self._localizer is not None
        if not loaded:
            response.success = False
            response.message = "no map loaded (map_path)"
            return response
        timeout_s = float(self.params["relocalize_timeout_s"])
        waiting = RelocalizeRequest(time.monotonic() + timeout_s)
        with self._mailbox_lock:
            self._relocalize_requests.append(waiting)
            self._mailbox_lock.notify()
        # the worker answers by the deadline; the margin covers a frame still being localized
        if not waiting.answered.wait(timeout_s + 30.0):
            waiting.set_answer(False, "no answer from the worker")
        response.success, response.message = waiting.answer
        self.get_logger().info(f"~/relocalize: {response.message}")
        return response

    def _answer_relocalize(self, success: bool, message: str, expired_only: bool = False,
                           only: list[RelocalizeRequest] | None = None) -> None:
        """Answer the waiting ~/relocalize calls (only those past their deadline when
        expired_only; only those given in `only`)."""
        now = time.monotonic()
        with self._mailbox_lock:
            answered = [r for r in self._relocalize_requests
                        if (not expired_only or r.deadline_s <= now)
                        and (only is None or r in only)]
            self._relocalize_requests = [r for r in self._relocalize_requests
                                         if r not in answered]
        for request in answered:
            if not request.done():
                request.set_answer(success, message)

    # -- parameters ----------------------------------------------------------------------------
    def _validate_parameters(self, parameters) -> SetParametersResult:
        """The same ranges as at start-up (ParameterSpec.minimum, finite floats). A new
        map_path is loaded here, so the request is answered only once the map is ready, or
        refused with the reason while the old map stays in use."""
        specs = {spec.name: spec for spec in LOCALIZE_NODE_PARAMETERS}
        for parameter in parameters:
            problem = parameter_problem(specs.get(parameter.name), parameter.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for parameter in parameters:
            if parameter.name == "map_path" and self.lifecycle_state != "unconfigured":
                localizer, error = self._open_map(parameter.value)
                if localizer is None:
                    self._report_map_error(error)
                    current = self._localizer_map or "none"
                    return SetParametersResult(
                        successful=False, reason=f"{error}; still using map '{current}'")
                self._validated_map = (parameter.value, localizer)
        return SetParametersResult(successful=True)

    def _parameters_changed(self, parameters) -> None:
        for parameter in parameters:
            if parameter.name in self.params:
                self.params[parameter.name] = parameter.value
            if parameter.name == "map_path" and self._validated_map is not None:
                path, localizer = self._validated_map
                self._validated_map = None
                with self._localizer_lock:
                    self._map_generation += 1  # a start-up load still running is dropped
                    self._map_loading = ""
                self._install_map(localizer, path)
            if parameter.name.startswith("gate_"):
                with self._stats_lock:
                    self.gate.config = self._gate_config()
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
            self._finish_load(generation, None, "", self._open_map(path)[1])
            return
        self.get_logger().info(f"loading map '{path}'")
        loader = threading.Thread(target=self._load_map_thread, args=(generation, path),
                                  name="map_loader", daemon=True)
        self._map_loaders = [t for t in self._map_loaders if t.is_alive()] + [loader]
        loader.start()

    def _open_map(self, path: str):
        """(Localizer, "") or (None, the reason in one line); never raises."""
        if not path:
            return None, ("no map loaded: set the parameter map_path to a map file written by "
                          "the mapping node")
        try:
            from scr_localizer.localization.localizer import Localizer, LocalizerConfig
            from scr_localizer.model.backends import set_network_threads
            from scr_localizer.model.map_file import load_map

            # Before the localizer: its ONNX Runtime session takes torch's thread count.
            set_network_threads(self.params["network_threads"])

            scene_map = load_map(path)
            config = LocalizerConfig(min_inliers=self.params["min_inliers"],
                                     backend=self.params["backend"],
                                     precision=self.params["precision"],
                                     max_solved_heads=self.params["max_solved_heads"])
            return Localizer(scene_map, config, device=self.params["device"]), ""
        except ScrLocalizerError as exc:
            return None, f"cannot load map '{path}': {exc}"
        except Exception as exc:  # a broken file must not kill the node
            if not self._stop.is_set():
                self.get_logger().debug(traceback.format_exc())
            return None, f"cannot load map '{path}': {type(exc).__name__}: {exc}"

    def _install_map(self, localizer, path: str) -> None:
        """Swap the localizer in; the old map->odom and gate estimate belong to the old map."""
        with self._localizer_lock:
            self._localizer, self._localizer_map = localizer, path
        with self._stats_lock:
            self._last_map_from_odom = None
            self.gate = FixGate(self._gate_config())
        self.problems.clear("map")
        self.get_logger().info(f"map '{path}' loaded")

    def _load_map_thread(self, generation: int, path: str) -> None:
        localizer, error = self._open_map(path)
        self._finish_load(generation, localizer, path, error)

    def _finish_load(self, generation: int, localizer, path: str, error: str) -> None:
        if self._stop.is_set():
            return  # shutting down: the node may already be destroyed
        with self._localizer_lock:
            if generation != self._map_generation:
                return  # a newer map_path was set meanwhile
            self._map_loading = ""
        if localizer is not None:
            self._install_map(localizer, path)
        else:
            self._report_map_error(error)

    def _report_map_error(self, error: str) -> None:
        """On /diagnostics until a map loads: WARN while an older map still localizes."""
        with self._localizer_lock:
            current = self._localizer_map if self._localizer is not None else ""
        if current:
            self.problems.set("map", WARN, f"{error}; still localizing with '{current}'")
        else:
            self.problems.set("map", ERROR, error)

    # -- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        """Stage 1 (network): once the solver has taken the previous frame, the newest frame is
        decoded and regressed, then handed to `_solve_work`."""
        while not self._stop.is_set():
            with self._solve_slot:
                while self._to_solve is not None and not self._stop.is_set():
                    self._solve_slot.wait(timeout=0.1)
            with self._mailbox_lock:
                if self._pending is None and self._pending_initial_pose is None:
                    self._mailbox_lock.wait(timeout=0.1)
                frame, self._pending = self._pending, None
                initial_pose, self._pending_initial_pose = self._pending_initial_pose, None
                relocalize = [r for r in self._relocalize_requests
                              if not r.done() and not r.claimed]
            self._answer_relocalize(False, "no frame was localized within relocalize_timeout_s="
                                    f"{self.params['relocalize_timeout_s']} s (inputs: "
                                    f"{', '.join(self.shown['topics'].values())})",
                                    expired_only=True)
            if initial_pose is not None and self._active:
                self._apply_initial_pose(initial_pose)
            if frame is None or not self._active or not (self.enabled or relocalize):
                continue  # (paused with every waiting call claimed: their frame is in flight)
            # This frame answers the calls waiting now; the next frame (regressed while this
            # one is solved) must not count as their relocalization too.
            with self._mailbox_lock:
                for request in relocalize:
                    request.claimed = True
            forced = relocalize
            with self._localizer_lock:
                localizer = self._localizer
            processor = self._processor()
            prepared = self._guarded(processor.prepare, localizer, frame.color, frame.depth,
                                     frame.info, self.get_clock().now().nanoseconds,
                                     self._transforms())
            if prepared is None:
                continue
            if isinstance(prepared, FrameResult):
                self._account(frame, prepared, forced)
                continue
            with self._solve_slot:
                self._to_solve = (frame, prepared, forced, processor, localizer)
                self._solve_slot.notify_all()

    def _solve_work(self) -> None:
        """Stage 2 (geometry): pose, gates, TF lookups and publishing of the regressed frame,
        while stage 1 already regresses the next one (the network and the solvers release the
        GIL). At most one frame waits between the stages, so memory stays bounded and the
        newest frame still goes first."""
        while not self._stop.is_set():
            with self._solve_slot:
                if self._to_solve is None:
                    self._solve_slot.wait(timeout=0.1)
                job, self._to_solve = self._to_solve, None
                self._solve_slot.notify_all()
            if job is None:
                continue
            frame, prepared, forced, processor, localizer = job
            if not self._active:
                continue
            result = self._guarded(processor.finish, localizer, prepared, self._transforms())
            if result is not None:
                self._account(frame, result, forced)

    def _guarded(self, stage, *args):
        """Run a stage; an unexpected error is filed (node stays up) and gives None."""
        try:
            outcome = stage(*args)
        except Exception as exc:  # keep the node up whatever a frame does
            self.problems.set("internal", ERROR,
                              f"unexpected error while localizing: {type(exc).__name__}: {exc}")
            self.get_logger().debug(traceback.format_exc())
            return None
        self.problems.clear("internal")
        return outcome

    def _transforms(self) -> _Tf2Transforms:
        return _Tf2Transforms(self.tf_buffer, self.get_clock().clock_type,
                              self.params["tf_timeout_s"])

    def _processor(self) -> FrameProcessor:
        """From the current parameters (min_inliers and max_frame_age_s change at runtime)."""
        p, shown = self.params, {**self.params, **self.shown["topics"]}
        return FrameProcessor(
            ProcessorConfig(
                map_frame=p["map_frame"], odom_frame=p["odom_frame"], base_frame=p["base_frame"],
                camera_frame=p["camera_frame"], color_topic=shown["color_topic"],
                depth_topic=shown["depth_topic"], camera_info_topic=shown["camera_info_topic"],
                max_frame_age_s=float(p["max_frame_age_s"]), min_inliers=int(p["min_inliers"]),
                two_d_mode=bool(p["two_d_mode"]),
                min_confidence=float(p["min_confidence"])),
            decode_rgb=image_to_rgb, decode_depth_m=image_to_depth_m)

    def _account(self, frame: PendingFrame, result: FrameResult,
                 forced: list[RelocalizeRequest]) -> None:
        """Count a finished frame, file its problems, publish a fix.
        forced (the ~/relocalize calls this frame answers): the fix bypasses gate and
        smoothing, and those calls get the outcome."""
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
                self._last_attempt = (result.inliers, result.inlier_ratio, result.confidence,
                                      result.colour_depth_shift_m)
        self.problems.apply(result.problems)
        if result.outcome == LOCALIZED:
            self._publish_fix(frame, result, bool(forced))
        if forced and result.outcome == STALE:
            with self._mailbox_lock:
                for request in forced:
                    request.claimed = False  # the next frame answers them
        elif forced:
            self._answer_relocalize(*_relocalize_answer(result), only=forced)

    def _gate_config(self) -> GateConfig:
        p = self.params
        return GateConfig(max_translation_m=float(p["gate_max_translation_m"]),
                          max_rotation_deg=float(p["gate_max_rotation_deg"]),
                          agree_count=int(p["gate_agree_count"]))

    def _send_transform(self, parent: str, child: str, candidate_ns: int,
                        parent_from_child: np.ndarray) -> None:
        """The node's only /tf send: stamps strictly increase (map_to_odom_stamp)."""
        with self._tf_lock:
            stamp_ns = map_to_odom_stamp(candidate_ns, self._last_tf_stamp_ns)
            self._last_tf_stamp_ns = stamp_ns
            self.tf_broadcaster.sendTransform(
                transform_stamped(parent, child, stamp_ns, parent_from_child))

    def _future_dated(self, stamp_ns: int) -> int:
        return stamp_ns + int(self.params["transform_tolerance_s"] * 1e9)

    def _apply_initial_pose(self, msg: PoseWithCovarianceStamped) -> None:
        """map->odom from an operator's pose of the body (RViz "2D Pose Estimate") and
        odom->body at its stamp; it seeds the gate, so fixes take over once agree_count of them
        agree (or at once when they agree with it)."""
        p = self.params
        body_frame = p["base_frame"] or p["camera_frame"]
        where = self.resolve_topic_name(INITIAL_POSE_TOPIC)
        if msg.header.frame_id not in ("", p["map_frame"]):
            self.problems.set("initial_pose", WARN, f"initial pose on {where} is in frame "
                              f"'{msg.header.frame_id}'; expected '{p['map_frame']}'")
            return
        if not p["odom_frame"] or not body_frame:
            self.problems.set("initial_pose", WARN, f"initial pose on {where} ignored: it needs "
                              "odom_frame and base_frame (or camera_frame) set")
            return
        stamp_ns = stamp_to_ns(msg.header.stamp)
        transforms = _Tf2Transforms(self.tf_buffer, self.get_clock().clock_type,
                                    p["tf_timeout_s"])
        try:
            odom_from_body = transforms.lookup(p["odom_frame"], body_frame, stamp_ns)
        except TransformUnavailable:
            try:  # RViz stamps with its clock, which may be ahead of odometry: take the latest
                odom_from_body = transforms.lookup(p["odom_frame"], body_frame, 0)
                stamp_ns = self.get_clock().now().nanoseconds
                self.get_logger().info(f"initial pose on {where}: no odometry at its stamp, "
                                       "composed with the latest")
            except TransformUnavailable as exc:
                self.problems.set("initial_pose", WARN, f"initial pose on {where} ignored: TF "
                                  f"{p['odom_frame']} <- {body_frame} missing: {exc}")
                return
        map_from_body = matrix_from_pose(msg.pose.pose)
        map_from_odom = map_from_body @ invert_pose(odom_from_body)
        if p["two_d_mode"]:
            map_from_odom = planar_pose(map_from_odom)
        with self._stats_lock:
            self._last_map_from_odom = map_from_odom
            self.gate.seed(map_from_odom)
            self.counts["initial_poses"] += 1
        self.problems.clear("initial_pose")
        if p["publish_tf"] and self.enabled and self._active:
            self._send_transform(p["map_frame"], p["odom_frame"], self._future_dated(stamp_ns),
                                 map_from_odom)
        pose = PoseWithCovarianceStamped()
        pose.header.stamp = ns_to_stamp(stamp_ns)
        pose.header.frame_id = p["map_frame"]
        fill_pose(pose.pose.pose, map_from_odom @ odom_from_body)
        pose.pose.covariance = list(msg.pose.covariance)
        self.pose_pub.publish(pose)
        x, y = map_from_body[0, 3], map_from_body[1, 3]
        self.get_logger().info(f"initial pose from {where}: x={x:.2f} y={y:.2f}")

    def _publish_fix(self, frame: PendingFrame, result, forced: bool = False) -> None:
        p, out = self.params, result.outputs
        if out.map_from_odom is not None:
            with self._stats_lock:
                if forced:
                    self.gate.seed(out.map_from_odom)
                    self.counts["relocalized"] += 1
                    verdict = "forced"
                else:
                    verdict = self.gate.offer(out.map_from_odom)
                if verdict == HELD:
                    return  # not consistent with the estimate (yet): never reaches /tf
                previous = self._last_map_from_odom
                keep = float(p["map_to_odom_smoothing"])
                if verdict == ACCEPTED and previous is not None and keep > 0:
                    out = smoothed_outputs(out, previous, keep)
                self._last_map_from_odom = out.map_from_odom
        if p["publish_tf"]:
            # map->odom future-dated like the re-publishes (nav2_amcl's transform_tolerance);
            # map->body (no odometry) holds only at the image stamp.
            candidate_ns = (self._future_dated(result.stamp_ns) if out.map_from_odom is not None
                            else result.stamp_ns)
            self._send_transform(out.parent, out.child, candidate_ns, out.parent_from_child)
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
        if (map_from_odom is None or not self._active or not self.enabled
                or not self.params["publish_tf"]):
            return
        if not self.params["odom_frame"]:
            return  # a fixed map->base would be wrong as soon as the robot moves
        self._send_transform(self.params["map_frame"], self.params["odom_frame"],
                             self._future_dated(self.get_clock().now().nanoseconds),
                             map_from_odom)

    def diagnostic_status(self):
        with self._stats_lock:
            counts, received = dict(self.counts), dict(self.received)
            now = time.monotonic()
            recent = [t for t in self._fix_times if now - t <= 5.0]
            rate = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-3) if len(recent) > 1 else 0.0
            latencies = sorted(self._latencies_ms)
            inliers, inlier_ratio, confidence, colour_depth_shift = self._last_attempt
            new_stale = counts["stale"] - self._last_stale_count
            self._last_stale_count = counts["stale"]
            input_ages = {key: now - t for key, t in self._last_received.items()}
            gate = {"fixes_held": self.gate.held_count, "fixes_rejected": self.gate.rejected_count,
                    "fixes_taken_over": self.gate.taken_over_count}
        with self._localizer_lock:
            loaded, loading = self._localizer_map, self._map_loading
        update_input_problems(self.problems, {**self.params, **self.shown["topics"]},
                              list(self.input_topics), self.enabled and self._active, counts,
                              received, new_stale, input_ages)
        problems = self.problems.snapshot()
        if self.enabled and loading and "map" not in problems:
            problems["map_loading"] = (WARN if loaded else ERROR, f"loading map '{loading}'")
        values = {
            "lifecycle_state": self.lifecycle_state,
            "enabled": str(self.enabled).lower(),
            "map": loaded,
            "rate_hz": f"{rate:.2f}",
            "latency_ms_p50": f"{latencies[len(latencies) // 2]:.1f}" if latencies else "",
            "latency_ms_max": f"{latencies[-1]:.1f}" if latencies else "",
            "inliers": str(inliers),
            "inlier_ratio": f"{inlier_ratio:.3f}",
            "confidence": "" if confidence is None else f"{confidence:.3f}",
            "colour_depth_shift_m": ("" if colour_depth_shift is None
                                     else f"{colour_depth_shift:.3f}"),
            **{f"frames_{k}": str(v) for k, v in counts.items()},
            **{k: str(v) for k, v in gate.items()},
            **{f"received_{k}": str(v) for k, v in received.items()},
            **{f"input_age_s_{k}": f"{v:.2f}" for k, v in sorted(input_ages.items())},
            "problems": ",".join(sorted(problems)),
        }
        return status_message(f"{self.get_name()}: relocalization",
                              self.shown["topics"]["color_topic"],
                              self.enabled, problems, rate, values,
                              inactive="" if self._active else self.lifecycle_state)

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = ns_to_stamp(self.get_clock().now().nanoseconds)
        array.status = [self.diagnostic_status()]
        self.diagnostics_pub.publish(array)

    def shutdown(self, timeout_s: float = 3.0) -> bool:
        """Stop the worker and wait for it and any map loader; False if one is still running
        after timeout_s (then the process must skip interpreter finalization)."""
        self._stop.set()
        self._answer_relocalize(False, "the node is shutting down")
        if self._bond is not None:
            self._bond.shutdown()
            self._bond = None
        with self._mailbox_lock:
            self._mailbox_lock.notify_all()
        with self._solve_slot:
            self._solve_slot.notify_all()
        deadline = time.monotonic() + timeout_s
        threads = [self._worker, self._solver, *self._map_loaders]
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        self._service_thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        running = [t.name for t in threads if t.is_alive()]
        if running:
            self.get_logger().info(f"shutting down without waiting for {', '.join(running)}")
        return not running

    def destroy_node(self):
        # also called by rclpy's shutdown on a node whose __init__ failed (bad parameters)
        if getattr(self, "_service_executor", None) is not None:
            self._service_executor.shutdown(timeout_sec=1.0)
            self._service_node.destroy_node()
        return super().destroy_node()


def _relocalize_answer(result) -> tuple[bool, str]:
    """(success, message) of a ~/relocalize call from the frame that answered it."""
    if result.outcome == LOCALIZED:
        x, y, z = result.outputs.map_from_body[:3, 3]
        return True, (f"localized at x={x:.3f} y={y:.3f} z={z:.3f} with {result.inliers} "
                      "inliers")
    reasons = [entry[1] for entry in result.problems.values() if entry]
    return False, f"{result.outcome}: {'; '.join(reasons) or 'no pose'}"


def _start_bond(node):
    """nav2's lifecycle_manager waits for a bond (topic 'bond', id = node name, 10 Hz
    heartbeat as nav2's own servers) after activating a node; bondpy comes with a ROS 2 install
    (ros-<distro>-bondpy). Without it the manager must run with bond_timeout: 0.0."""
    try:
        from bondpy.bondpy import Bond
    except ImportError:
        node.get_logger().info("bondpy is not installed: no bond to nav2's lifecycle_manager "
                               "(run it with bond_timeout: 0.0)")
        return None
    bond = Bond("bond", node.get_name(), node)
    bond.heartbeat_period = 0.1
    bond.heartbeat_timeout = 4.0
    bond.start()
    return bond


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
