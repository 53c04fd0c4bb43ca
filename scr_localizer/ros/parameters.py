"""Every node parameter declared once: name, default, description, and whether it may change at
runtime. Nodes declare from these tables; config/*.yaml mirror them (a test checks both ways)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scr_localizer import defaults

# Topic names as realsense2_camera records them (bags keep absolute names)...
REALSENSE_COLOR_TOPIC = defaults.COLOR_TOPIC
REALSENSE_DEPTH_TOPIC = defaults.DEPTH_TOPIC
REALSENSE_CAMERA_INFO_TOPIC = defaults.CAMERA_INFO_TOPIC
# ... and as the live node subscribes to them: relative, so a node pushed into a robot's namespace
# (PushRosNamespace, `namespace:=robot1`) finds the camera driver started in the same namespace;
# without a namespace they resolve to the names above.
LIVE_COLOR_TOPIC, LIVE_DEPTH_TOPIC, LIVE_CAMERA_INFO_TOPIC = (
    topic.lstrip("/") for topic in (REALSENSE_COLOR_TOPIC, REALSENSE_DEPTH_TOPIC,
                                    REALSENSE_CAMERA_INFO_TOPIC))


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any  # its Python type (bool, int, float, str) is the parameter's type
    description: str
    read_only: bool = True  # False: may change while the node runs
    # Numbers: the smallest valid value (None: any); floats must always be finite. Checked at
    # start-up and on every runtime change alike (parameter_problem).
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()  # strings: the allowed values (empty: any)

    @property
    def type_name(self) -> str:
        return type(self.default).__name__


LOCALIZE_NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("map_path", "", "Map file (.scrmap) written by the mapping node. Set at "
                  "runtime, the request is answered once the new map is loaded (it then "
                  "replaces the old one) or refused with the reason (the old one stays)",
                  read_only=False),
    # nav2 lifecycle: nav2_lifecycle_manager drives configure/activate; plain `ros2 run` needs
    # neither (the node configures and activates itself).
    ParameterSpec("use_lifecycle", False, "Managed lifecycle node: wait in 'unconfigured' for "
                  "configure (loads the map; fails if it cannot) and activate (subscribes, "
                  "publishes TF and ~/pose), as nav2's lifecycle_manager sends them. False: "
                  "configure and activate at start-up"),
    ParameterSpec("autostart", False, "With use_lifecycle: configure and activate at start-up "
                  "without a manager (transitions stay available)"),
    ParameterSpec("device", "auto", "Torch device for the network: auto, cpu or cuda"),
    # Same choices as `scr-localizer localize --backend` (scr_localizer.model.backends).
    ParameterSpec("backend", "auto", "Encoder inference: torch, onnxruntime (CPU; the graph is "
                  "exported once and cached by weight hash) or auto (torch where the CPU has "
                  "native bfloat16, else onnxruntime on the CPU when installed)",
                  choices=("torch", "onnxruntime", "auto")),
    ParameterSpec("network_threads", 0, "CPU threads of the network stage (encoder and head); "
                  "0 = every core but one, which is left to the solver stage that runs beside "
                  "it (2 cores at 30 Hz RGB-D: p95 latency 118 -> 66 ms)", minimum=0),
    # Same choices as `scr-localizer localize --precision` (scr_localizer.model.precision).
    ParameterSpec("precision", "auto", "The head's hidden layers: auto (fp16 on CUDA, bf16 on "
                  "CPUs with AMX or AVX512-BF16, else fp32) or float32",
                  choices=("auto", "float32")),
    # Same as LocalizerConfig.max_solved_heads (localization/localizer.py; room360, 14 heads:
    # 85 instead of 256 ms per frame, 92 instead of 95 % of queries within 10 cm / 5 deg).
    ParameterSpec("max_solved_heads", 2, "Maps with submaps: only this many heads, the most "
                  "plausible on a sample of cells, get the full pose solve (0 = every head)",
                  minimum=0),
    ParameterSpec("color_topic", LIVE_COLOR_TOPIC, "sensor_msgs/Image colour stream (relative "
                  "names resolve in the node's namespace)"),
    ParameterSpec("depth_topic", LIVE_DEPTH_TOPIC, "sensor_msgs/Image depth registered to "
                  "the colour image (16UC1 mm or 32FC1 m, REP-118); empty = RGB-only"),
    ParameterSpec("camera_info_topic", LIVE_CAMERA_INFO_TOPIC,
                  "sensor_msgs/CameraInfo of the colour stream"),
    ParameterSpec("color_transport", "raw", "raw: sensor_msgs/Image on color_topic; compressed: "
                  "sensor_msgs/CompressedImage (jpeg/png) on color_topic + '/compressed', as "
                  "image_transport publishes it", choices=("raw", "compressed")),
    ParameterSpec("depth_transport", "raw", "raw: sensor_msgs/Image on depth_topic; "
                  "compressedDepth: PNG CompressedImage on depth_topic + '/compressedDepth'",
                  choices=("raw", "compressedDepth")),
    ParameterSpec("input_qos", "sensor_data", "QoS of the image and CameraInfo subscriptions: "
                  "sensor_data (best effort, matches any publisher) or reliable (only reliable "
                  "publishers, nothing lost in transport)", choices=("sensor_data", "reliable")),
    ParameterSpec("input_qos_depth", 5, "History depth of those subscriptions", minimum=1),
    ParameterSpec("sync_slop_s", 0.02, "Largest stamp difference between colour, depth and "
                  "CameraInfo that still counts as one frame (ApproximateTimeSynchronizer slop)",
                  minimum=0.0),
    ParameterSpec("sync_queue_size", 10, "Messages kept per topic while synchronizing",
                  minimum=1),
    ParameterSpec("map_frame", "map", "Fixed frame of the map (REP-105)"),
    ParameterSpec("odom_frame", "odom", "Odometry frame; map->odom is published. Empty: publish "
                  "map->base_frame (or map->camera frame) directly"),
    ParameterSpec("base_frame", "base_link", "Robot base frame whose pose is reported. Empty: "
                  "report the camera's optical frame itself"),
    ParameterSpec("camera_frame", "", "Frame of the colour camera's optical axis in TF; empty = "
                  "the colour image's header.frame_id"),
    ParameterSpec("publish_tf", True, "Publish the localization on /tf", read_only=False),
    ParameterSpec("tf_publish_rate_hz", 10.0, "Rate at which the last map->odom is re-published "
                  "between fixes (0 = only on fixes)", minimum=0.0),
    ParameterSpec("transform_tolerance_s", 0.2, "Re-published map->odom is stamped this far in "
                  "the future so consumers never starve (as nav2_amcl's transform_tolerance)",
                  minimum=0.0),
    ParameterSpec("map_to_odom_smoothing", 0.0, "Share of the previous map->odom kept when a "
                  "fix is taken (0 = jump to each fix; 0.8 = move a fifth of the way), so noise "
                  "between fixes does not shake the odom frame; held-fix take-overs, initial "
                  "poses and ~/relocalize jump", read_only=False, minimum=0.0, maximum=1.0,
                  exclusive_maximum=True),
    ParameterSpec("two_d_mode", False, "Restrict map->odom to x, y and yaw (z, roll and pitch "
                  "of the odometry frame kept), for planar robots"),
    # Gate thresholds: well above the test map's fix scatter (test_ros_localize_node bounds the
    # median at 0.15 m / 5 deg), well below a wrong place in a room.
    ParameterSpec("gate_max_translation_m", 0.5, "A fix moving map->odom by more than this "
                  "from the current estimate is held (0 = take every fix)", read_only=False,
                  minimum=0.0),
    ParameterSpec("gate_max_rotation_deg", 15.0, "... or rotating it by more than this",
                  read_only=False, minimum=0.0),
    ParameterSpec("gate_agree_count", 3, "Held fixes replace the estimate once this many "
                  "of the last 2n-1 held ones agree", read_only=False, minimum=1),
    ParameterSpec("tf_timeout_s", 0.2, "How long the worker waits for odom->base (and "
                  "camera->base) at the image stamp before reporting TF missing", minimum=0.0),
    ParameterSpec("max_frame_age_s", 1.0, "Frames older than this (node clock minus image stamp) "
                  "when the worker picks them up are dropped as stale", read_only=False,
                  minimum=0.0, exclusive_minimum=True),
    # Same gate as LocalizerConfig.min_inliers (calibrated by benchmarks/bench_localization.py),
    # so the live node and `scr-localizer evaluate` accept the same fixes.
    ParameterSpec("min_inliers", 80, "Fixes with fewer RANSAC inliers are rejected (WARN)",
                  read_only=False, minimum=0),
    # The localizer's confidence (localization/confidence.py) is fitted so that its own
    # threshold keeps >= 99 % of accepted fixes within 10 cm / 5 deg on the tuning case.
    ParameterSpec("min_confidence", 0.0, "Fixes whose confidence (probability of being within "
                  "10 cm / 5 deg) is below this are rejected (WARN); 0 = the map's fitted "
                  "threshold for 99 % precision (at most 1)", read_only=False, minimum=0.0),
    ParameterSpec("diagnostics_period_s", 1.0, "Period of /diagnostics updates", minimum=0.0,
                  exclusive_minimum=True),
    # Monotonic receive times, not stamps, so a stalled sim clock or replayed stamps do not
    # matter. 2 s: 60 frames at 30 Hz, 10 at the 5 Hz the tests publish.
    ParameterSpec("input_stall_timeout_s", 2.0, "An input (colour, depth or CameraInfo) that "
                  "delivered nothing new for this long is reported as stalled (WARN on "
                  "/diagnostics) until its messages return", minimum=0.0,
                  exclusive_minimum=True),
    ParameterSpec("enabled", True, "Start localizing at once (the ~/enable service toggles it)"),
    ParameterSpec("relocalize_timeout_s", 5.0, "~/relocalize answers failure if no frame was "
                  "localized within this time", read_only=False, minimum=0.0,
                  exclusive_minimum=True),
)

MAP_NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("bag", "", "Input RGB-D bag (folder or .mcap/.db3)"),
    ParameterSpec("map_path", "map.scrmap", "Output map file (written atomically)"),
    ParameterSpec("color_topic", REALSENSE_COLOR_TOPIC, "Colour image topic in the bag"),
    ParameterSpec("depth_topic", REALSENSE_DEPTH_TOPIC, "Depth topic in the bag; empty = RGB-only"),
    ParameterSpec("camera_info_topic", REALSENSE_CAMERA_INFO_TOPIC,
                  "CameraInfo topic in the bag; empty = pick automatically"),
    ParameterSpec("map_frame", "map", "Fixed frame the camera poses are looked up in"),
    ParameterSpec("camera_frame", "", "Camera frame in TF; empty = the CameraInfo's frame_id"),
    ParameterSpec("preset", "cpu", "Mapping preset: cpu (minutes on a laptop), gpu (ACE-like, "
                  "needs CUDA) or tiny (seconds, for smoke tests)"),
    ParameterSpec("prior", "auto", "Depth prior: auto (rgbd with depth, else "
                  "depth-distribution), rgbd, depth-distribution, depth-distribution-wd or none"),
    ParameterSpec("iterations", 0, "Training iterations; 0 = the preset's", minimum=0),
    ParameterSpec("time_budget_s", 0.0, "Training time at most, all submaps together; 0 = the "
                  "preset's (cpu: 400 s, 660 s for all submaps together)", minimum=0.0),
    ParameterSpec("submaps", "1", "Heads over parts of the scene: 1, a number, or auto (one per "
                  "300 frames); trained in parallel on Ray when it is installed"),
    ParameterSpec("device", "auto", "Torch device for training: auto, cpu or cuda"),
    ParameterSpec("cloud_voxel_m", 0.02, "Voxel size of the published map point cloud",
                  minimum=0.0),
    ParameterSpec("keep_alive_s", 5.0, "After writing the map, keep the latched point cloud "
                  "published this long before exiting (negative: until Ctrl-C)"),
)

NODE_PARAMETERS = {"localize_node": LOCALIZE_NODE_PARAMETERS, "map_node": MAP_NODE_PARAMETERS}


def defaults(specs) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs}


def parameter_problem(spec: ParameterSpec | None, value) -> str:
    """'' if `value` is valid for `spec` (finite and in range for numbers), else one line that
    names the parameter and the range."""
    from scr_localizer.errors import ScrLocalizerError
    from scr_localizer.validation import check_number

    if spec is None or isinstance(spec.default, bool):
        return ""
    if isinstance(spec.default, str):
        if spec.choices and value not in spec.choices:
            return (f"parameter {spec.name} is '{value}'; expected one of "
                    f"{', '.join(spec.choices)}")
        return ""
    try:
        check_number(value, f"parameter {spec.name}", spec.minimum, spec.maximum,
                     low_open=spec.exclusive_minimum, high_open=spec.exclusive_maximum,
                     integer=isinstance(spec.default, int))
    except ScrLocalizerError as exc:
        return str(exc)
    return ""


def declare_parameters(node, specs) -> dict[str, Any]:
    """Declare every spec on an rclpy node (typed, described) and return the current values.

    A value of the wrong type or out of range (from -p or a params file) raises a one-line
    ScrLocalizerError instead of rclpy's traceback."""
    from rcl_interfaces.msg import ParameterDescriptor

    from scr_localizer.errors import ScrLocalizerError

    values = {}
    for spec in specs:
        descriptor = ParameterDescriptor(
            name=spec.name, description=spec.description, read_only=spec.read_only
        )
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor).value
        except Exception as exc:  # rclpy: a value of another type than the declaration's
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ScrLocalizerError(
                f"bad parameter {spec.name}: {detail}; expected a {spec.type_name}") from None
        problem = parameter_problem(spec, value)
        if problem:
            raise ScrLocalizerError(problem)
        values[spec.name] = value
    return values


def params_file_key(node_name: str) -> str:
    """The key config/*.yaml use for a node: `/**/name` matches the node in any namespace (a bare
    `name:` matches only the fully qualified name /name, so a namespaced node ignored it)."""
    return f"/**/{node_name}"


def render_yaml(node_name: str, header: str = "") -> str:
    """config/<node>.yaml text for the declarations (descriptions as comments); used to write
    the shipped files, which a test then checks against the declarations."""
    import json
    import textwrap

    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{params_file_key(node_name)}:", "  ros__parameters:"]
    for spec in NODE_PARAMETERS[node_name]:
        lines += [f"    # {line}" for line in textwrap.wrap(spec.description, 92)]
        if isinstance(spec.default, bool):
            value = "true" if spec.default else "false"
        elif isinstance(spec.default, float):
            value = repr(spec.default)
        else:
            value = json.dumps(spec.default)
        lines.append(f"    {spec.name}: {value}")
    return "\n".join(lines) + "\n"
