"""Online evaluation: play a query bag over DDS into the real localization node and score it.

What `ros2 bag play --clock` + a recorder would do, in one call and without the ros2 CLI: the
node runs in a child process (`scr-localizer localize-node`, use_sim_time), this process publishes
the bag's messages with their original timing (scaled by `rate`), /clock, /tf and latched
/tf_static, but never the ground truth topic; it records the node's `~/pose` and TF, then scores
them against the bag's ground truth with the same metrics as the offline `evaluate`.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.metrics import summarize
from scr_localizer.evaluation.online import frame_records, online_extras
from scr_localizer.evaluation.query_bag import (
    IMAGE_TYPES,
    QueryBag,
    check_frames,
    node_input_topics,
    read_query_bag,
)
from scr_localizer.io.bag_files import open_bag
from scr_localizer.io.cdr import header_stamp_ns
from scr_localizer.log import get_logger
from scr_localizer.ros.recorder import PoseRecorder

NODE_NAME = defaults.LOCALIZE_NODE_NAME

LOG = get_logger(__name__)


# Fast DDS defaults lose most 640x480 images between two processes on a busy machine: the
# shared-memory segment (512 KB) is smaller than one image, so samples fall back to UDP with
# ~200 KB socket buffers. Measured here (rate 0.1, 30 frames): 5/30 colour and 2/30 depth images
# arrived with the defaults, 30/30 with this profile. Used only when the user has no profile.
FASTDDS_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>scr_replay_shm</transport_id>
        <type>SHM</type>
        <segment_size>67108864</segment_size>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>scr_replay_udp</transport_id>
        <type>UDPv4</type>
        <sendBufferSize>4194304</sendBufferSize>
        <receiveBufferSize>4194304</receiveBufferSize>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="scr_replay" is_default_profile="true">
      <rtps>
        <userTransports>
          <transport_id>scr_replay_shm</transport_id>
          <transport_id>scr_replay_udp</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                     "FASTDDS_BUILTIN_TRANSPORTS")


def profile_file_variable() -> str:
    """The variable this Fast DDS reads its XML profile from: FASTDDS_DEFAULT_PROFILES_FILE in
    Fast DDS 3 (Kilted and later; it warns that the other is deprecated), only
    FASTRTPS_DEFAULT_PROFILES_FILE in Fast DDS 2 (Humble, Jazzy: ros-rclpy 7.x wheels)."""
    fast_dds_2 = ("humble", "iron", "jazzy")
    if os.environ.get("ROS_DISTRO"):
        distro_2 = os.environ["ROS_DISTRO"] in fast_dds_2
    else:
        from importlib.metadata import PackageNotFoundError, version

        try:
            distro_2 = int(version("ros-rclpy").split(".")[0]) < 8
        except (PackageNotFoundError, ValueError):
            distro_2 = False
    return "FASTRTPS_DEFAULT_PROFILES_FILE" if distro_2 else "FASTDDS_DEFAULT_PROFILES_FILE"


def _uses_default_fastdds() -> bool:
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return rmw.startswith("rmw_fastrtps") and not any(os.environ.get(v) for v in PROFILE_VARIABLES)


@dataclass
class ReplayConfig:
    """`rate` scales the bag's timing (0.5 = half speed). `domain_id` None: the user's
    ROS_DOMAIN_ID when set, else a random free-ish one so runs don't see each other."""

    rate: float = 1.0
    color_topic: str = defaults.COLOR_TOPIC
    ground_truth_topic: str = defaults.GROUND_TRUTH_TOPIC
    odom_frame: str = defaults.ODOM_FRAME
    node_parameters: dict = field(default_factory=dict)  # extra `-p name:=value` for the node
    domain_id: int | None = None
    startup_timeout_s: float = 120.0
    drain_timeout_s: float = 30.0
    quiet_period_s: float = 5.0
    truth_tolerance_s: float = 0.01
    node_command: list[str] | None = None  # default: this Python's scr_localizer.ros.localize_node
    log_dir: str | None = None  # where the node's output goes (default: a temp folder)
    # Fast DDS profile with a shared-memory segment large enough for images (see above).
    large_message_transport: bool = True


@dataclass
class ReplayResult:
    records: list
    summary: dict
    node_log: Path


def _pick_domain_id(config: ReplayConfig) -> tuple[int, bool]:
    if config.domain_id is not None:
        return int(config.domain_id), False
    if os.environ.get("ROS_DOMAIN_ID", "").strip():
        return int(os.environ["ROS_DOMAIN_ID"]), False
    return random.SystemRandom().randint(110, 230), True


def _message_class(msgtype: str):
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError):
        return None


def _parameter_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value == "":
        return "''"
    return str(value)


class _Player:
    """Publishes bag messages (raw CDR, no re-serialization) and /clock on one node."""

    def __init__(self, node, bag: QueryBag, config: ReplayConfig):
        from rclpy.qos import (
            DurabilityPolicy,
            QoSProfile,
            ReliabilityPolicy,
            qos_profile_sensor_data,
        )
        from rosgraph_msgs.msg import Clock

        self.node = node
        self.publishers = {}
        self.skipped = []
        for topic, msgtype in bag.topics.items():
            if topic in (config.ground_truth_topic, "/tf_static", "/clock"):
                continue
            cls = _message_class(msgtype)
            if cls is None:
                self.skipped.append(f"{topic} ({msgtype})")
                continue
            # Sensor streams as a camera driver offers them (best effort), the rest reliable.
            qos = qos_profile_sensor_data if msgtype in IMAGE_TYPES else 100
            self.publishers[topic] = node.create_publisher(cls, topic, qos)
        from tf2_msgs.msg import TFMessage

        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.tf_static = node.create_publisher(TFMessage, "/tf_static", latched)
        self.clock = node.create_publisher(Clock, "/clock", 10)
        self._clock_cls = Clock
        self._static = self._merged_static(bag.static_transforms_raw)
        self._last_clock_ns = 0
        self._anchor = (bag.start_ns, time.monotonic(), 0.0, None)

    @staticmethod
    def _merged_static(raw_messages):
        """One TFMessage with the newest transform per child (a latched topic keeps one)."""
        from rclpy.serialization import deserialize_message
        from tf2_msgs.msg import TFMessage

        by_child = {}
        for raw in raw_messages:
            for transform in deserialize_message(raw, TFMessage).transforms:
                by_child[transform.child_frame_id] = transform
        return TFMessage(transforms=list(by_child.values()))

    def publish_static(self):
        self.tf_static.publish(self._static)

    def publish_clock(self, stamp_ns: int):
        stamp_ns = max(int(stamp_ns), self._last_clock_ns)  # sim time never runs backwards
        self._last_clock_ns = stamp_ns
        msg = self._clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
        self.clock.publish(msg)

    @property
    def last_clock_ns(self) -> int:
        return self._last_clock_ns

    def run_clock(self, anchor_ns: int, speed: float, limit_ns: int | None = None) -> None:
        """From now on, `tick()` publishes anchor + elapsed wall time x speed (capped)."""
        self._anchor = (anchor_ns, time.monotonic(), speed, limit_ns)
        self.tick()

    def tick(self) -> None:
        """Keep sim time moving while waiting, so the node's timers (diagnostics) run."""
        anchor_ns, anchor_wall, speed, limit_ns = self._anchor
        value = anchor_ns + int((time.monotonic() - anchor_wall) * speed * 1e9)
        self.publish_clock(value if limit_ns is None else min(value, limit_ns))


def _tail(path: Path, lines: int = 200) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _node_failure(log: Path) -> str:
    interesting = [line for line in _tail(log) if "error" in line.lower()]
    last = (interesting or _tail(log) or ["(no output)"])[-1].strip()
    return f"{last} (full log: {log})"


def replay(map_path, bag_path, config: ReplayConfig | None = None,
           progress=None) -> ReplayResult:
    """Run the node on the bag over DDS; return FrameRecords and the summary (evaluate's keys
    plus frames_dropped, sustained_rate_hz). `progress(text)` gets one-line status updates."""
    from scr_localizer.model.map_file import load_map

    config = config or ReplayConfig()
    say = progress or LOG.info
    if not config.rate > 0:
        raise ScrLocalizerError(f"--rate must be positive, got {config.rate}")
    map_path, bag_path = Path(map_path), Path(bag_path)
    if not map_path.is_file():
        raise ScrLocalizerError(
            f"map file '{map_path}' not found; expected a map written by the mapping step")
    map_frame = load_map(map_path, check_encoder=False).fixed_frame
    bag = read_query_bag(bag_path, config.color_topic, config.ground_truth_topic)
    check_frames(map_frame, bag, map_path)
    odom_frame = config.odom_frame if config.odom_frame in bag.tf.frames() else ""
    parameters = {
        "map_path": str(map_path.resolve()),
        "map_frame": map_frame,
        "odom_frame": odom_frame,
        # Report the camera itself on ~/pose: it is what the ground truth describes.
        "base_frame": "",
        "color_topic": config.color_topic,
        "use_sim_time": True,
        # Sim-time period: about 0.5 s of wall time at this playback rate.
        "diagnostics_period_s": max(0.05, 0.5 * config.rate),
        **config.node_parameters,
    }
    for name, topic in node_input_topics(bag, config.color_topic).items():
        parameters.setdefault(name, topic)
    domain_id, own_domain = _pick_domain_id(config)
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Busy-waiting OpenMP threads in the node would steal the CPU this process plays from.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    log_dir = Path(config.log_dir or tempfile.mkdtemp(prefix="scr_replay_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("ROS_LOG_DIR", str(log_dir / "ros_log"))
    node_log = log_dir / "localize_node.log"
    overrides = {}  # environment for both processes (this one only while replaying)
    if own_domain and "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ:
        overrides["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if config.large_message_transport and _uses_default_fastdds():
        profile = log_dir / "fastdds_replay.xml"
        profile.write_text(FASTDDS_PROFILE)
        overrides[profile_file_variable()] = str(profile)
    env.update(overrides)
    command = list(config.node_command or
                   [sys.executable, "-m", "scr_localizer.ros.localize_node"])
    command += ["--ros-args", "-r", f"__node:={NODE_NAME}"]
    for name, value in parameters.items():
        command += ["-p", f"{name}:={_parameter_text(value)}"]
    say(f"starting the localization node (ROS_DOMAIN_ID={domain_id}, log {node_log})")

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    saved_env = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    log_stream = open(node_log, "w")  # noqa: SIM115 - closed in finally
    child = subprocess.Popen(command, env=env, stdout=log_stream, stderr=subprocess.STDOUT,
                             start_new_session=True)
    executor = SingleThreadedExecutor(context=context)
    spinner = None
    try:
        player_node = rclpy.create_node("scr_replay_player", context=context)
        recorder_node = rclpy.create_node("scr_replay_recorder", context=context)
        pose_topic = f"/{NODE_NAME}/pose"
        recorder = PoseRecorder(recorder_node, pose_topic, map_frame, node_name=NODE_NAME,
                                record_clock=False)
        player = _Player(player_node, bag, config)
        executor.add_node(player_node)
        executor.add_node(recorder_node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        for skipped in player.skipped:
            say(f"not replaying {skipped}: message type not available here")
        # Pre-roll: sim time runs at wall speed up to just before the bag's start while the node
        # loads its map; its timers (diagnostics) need a moving clock.
        preroll_ns = int(config.startup_timeout_s * 1e9) + 10**9
        player.run_clock(bag.start_ns - preroll_ns, 1.0, bag.start_ns - 1)
        player.publish_static()
        _wait_for_node(child, player_node, recorder, config, pose_topic, node_log, player)
        say(f"node ready; playing {len(bag.image_stamps_ns)} frames at rate {config.rate:g}")
        publish_wall, start_wall = _play(bag_path, bag, player, config, child, node_log)
        say("bag finished; waiting for the last fixes")
        player.run_clock(bag.end_ns, config.rate)
        _drain(recorder, child, config, len(bag.image_stamps_ns), player)
        _wait_for_fresh_diagnostics(recorder, child, player)
        recording = recorder.snapshot()
    finally:
        _stop_child(child)
        log_stream.close()
        executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=5.0)
        try:
            rclpy.shutdown(context=context)
        except Exception:  # noqa: BLE001 - already shut down
            pass
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    records, tf_gap_cm = frame_records(
        recording, bag.image_stamps_ns, bag.truth, publish_wall, config.truth_tolerance_s,
        bag_tf=bag.tf, camera_frame=bag.camera_frame,
    )
    extras = online_extras(recording, records, publish_wall, start_wall)
    extras.update({
        "mode": "replay",
        "playback_rate": config.rate,
        "tf_vs_pose_max_gap_cm": tf_gap_cm,
    })
    summary = summarize(records, extra=extras)
    return ReplayResult(records=records, summary=summary, node_log=node_log)


def _check_alive(child, node_log: Path) -> None:
    if child.poll() is not None:
        raise ScrLocalizerError(
            f"the localization node exited with code {child.returncode}: {_node_failure(node_log)}"
        )


def _wait_for_node(child, player_node, recorder, config, pose_topic, node_log, player) -> None:
    """Until the node subscribes to the colour topic, offers ~/pose and its diagnostics say
    it has a map (level below ERROR), re-sending /clock so its sim time starts at the bag."""
    deadline = time.monotonic() + config.startup_timeout_s
    matched_at = None
    while time.monotonic() < deadline:
        _check_alive(child, node_log)
        player.tick()
        subscribed = player_node.count_subscribers(config.color_topic) > 0
        offering = player_node.count_publishers(pose_topic) > 0
        if subscribed and offering:
            matched_at = matched_at or time.monotonic()
            levels = [d[1] for d in recorder.snapshot().diagnostics]
            # Ready when it says it is not in ERROR (no map); nodes without /diagnostics: 10 s.
            if (levels and levels[-1] < 2) or time.monotonic() - matched_at > 10.0:
                settle = time.monotonic() + 1.0  # let the other endpoints (depth, info) match
                while time.monotonic() < settle:
                    player.tick()
                    time.sleep(0.05)
                return
        time.sleep(0.05)
    raise ScrLocalizerError(
        f"the localization node did not become ready within {config.startup_timeout_s:.0f} s "
        f"(subscribed to {config.color_topic}, offering {pose_topic}, diagnostics below ERROR): "
        f"{_node_failure(node_log)}"
    )


def _play(bag_path, bag: QueryBag, player: _Player, config: ReplayConfig, child,
          node_log) -> tuple[dict[int, float], float]:
    """Publish every message at start + (t - t0) / rate; /clock at least every 25 ms."""
    reader = open_bag(Path(bag_path))
    publish_wall: dict[int, float] = {}
    try:
        connections = [c for c in reader.connections if c.topic in player.publishers]
        player.run_clock(bag.start_ns, config.rate)
        start_wall = time.monotonic()
        last_clock = -1.0
        for index, (connection, stamp_ns, raw) in enumerate(
                reader.messages(connections=connections)):
            target = start_wall + (stamp_ns - bag.start_ns) * 1e-9 / config.rate
            while True:
                now = time.monotonic()
                if now >= target:
                    break
                if now - last_clock >= 0.025:
                    player.publish_clock(min(
                        bag.start_ns + int((now - start_wall) * config.rate * 1e9), stamp_ns))
                    last_clock = now
                time.sleep(min(0.005, target - now))
            player.publish_clock(stamp_ns)
            player.publishers[connection.topic].publish(bytes(raw))
            if connection.topic == config.color_topic:
                publish_wall[header_stamp_ns(raw)] = time.monotonic()
            if index % 50 == 0:
                _check_alive(child, node_log)
    finally:
        reader.close()
    return publish_wall, start_wall


def _all_frames_handled(diagnostics: dict[str, str], frames: int) -> bool:
    """The node's counters say every frame it got was processed, superseded or rejected."""
    try:
        count = {k: int(v) for k, v in diagnostics.items() if k.startswith("frames_")}
    except ValueError:
        return False
    handled = sum(count.get(f"frames_{k}", 0)
                  for k in ("processed", "superseded", "stale", "rejected_input"))
    return count.get("frames_synchronized", -1) >= frames and handled >= frames


def _drain(recorder, child, config, frames, player) -> None:
    """Wait until the node accounted for every frame (its diagnostics counters) or every frame
    has a fix, else until no new fix arrived for `quiet_period_s`."""
    play_end = time.monotonic()
    deadline = play_end + config.drain_timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        player.tick()
        snapshot = recorder.snapshot()
        if len({f.stamp_ns for f in snapshot.fixes}) >= frames:
            return
        if _all_frames_handled(snapshot.node_diagnostics(), frames):
            return
        # Re-published TF never stops, so quiet means: no new fix since the last one (or since
        # the bag ended).
        reference = max([play_end] + [f.wall_time_s for f in snapshot.fixes])
        if time.monotonic() - reference > config.quiet_period_s:
            return
        time.sleep(0.05)


def _wait_for_fresh_diagnostics(recorder, child, player, timeout_s=5.0) -> None:
    """The node's final counters (frames synchronized, processed, superseded) come with
    /diagnostics; wait for one sent after the last fix. Every frame is handled or given up on
    by now, so sim time may run at wall speed to bring the node's diagnostics timer round."""
    snapshot = recorder.snapshot()
    after = max([time.monotonic()] + [f.wall_time_s for f in snapshot.fixes])
    player.run_clock(player.last_clock_ns, 1.0)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        player.tick()
        diagnostics = recorder.snapshot().diagnostics
        if diagnostics and diagnostics[-1][0] > after + 0.05:
            return
        time.sleep(0.02)


def _stop_child(child) -> None:
    if child.poll() is not None:
        return
    try:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)
