"""The localization node live over DDS: latency (image stamp -> the fix's ~/pose; the node
publishes it right after the fix's map->odom, which is future-dated like nav2_amcl's) and the fix
rate it sustains while a camera publishes 640x480 RGB-D at 30 Hz.

    python -m benchmarks.bench_ros_node [--quick] [--map PATH] [--device cpu] [--rate 30]
        [--backend torch|onnxruntime|auto] [--network-threads N]

Three processes, as on a robot: the node (`scr-localizer localize-node`), a player publishing
redkitchen query frames 50-99 in a loop (colour rgb8, depth 16UC1, CameraInfo, odom->base_link,
static base_link->camera; all stamped at publish time), and this process, which listens to /tf,
~/pose, the CameraInfo topic (input rate) and /diagnostics. Latency is measured at the listener, so it
includes the DDS hop back (~1 ms). Fast DDS uses its LARGE_DATA transport on every side (the
ros2-on-pip note: best-effort 640x480 at 30 Hz otherwise loses frames over UDP).
Map: benchmarks/results/redkitchen_cpu.scrmap as bench_localization trains and caches it.
Writes benchmarks/results/ros_node.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PLAYER = ROOT / "test" / "ros_processes" / "rgbd_player.py"


TRANSPORTS = ("large_data", "shm64")


def _environment(domain_id: int, log_dir: Path, transport: str) -> dict[str, str]:
    """large_data: FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (as the ros2-on-pip note recommends);
    shm64: the replay tool's profile (64 MB shared-memory segment, 4 MB UDP buffers)."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_LOG_DIR=str(log_dir / "ros_log"),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    for variable in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE",
                     "FASTRTPS_DEFAULT_PROFILES_FILE"):
        env.pop(variable, None)
    if transport == "large_data":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    else:
        from scr_localizer.ros.replay import FASTDDS_PROFILE, profile_file_variable

        profile = log_dir / "fastdds_shm64.xml"
        profile.write_text(FASTDDS_PROFILE)
        env[profile_file_variable()] = str(profile)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    return env


def measure(map_path: Path, redkitchen: Path, device: str, rate_hz: float, duration_s: float,
            transport: str = "large_data", startup_timeout_s: float = 180.0,
            backend: str = "auto", network_threads: int = 0) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo

    from scr_localizer.ros.conversions import stamp_to_ns

    domain_id = random.SystemRandom().randint(101, 200)
    log_dir = Path(tempfile.mkdtemp(prefix="bench_ros_node_"))
    env = _environment(domain_id, log_dir, transport)
    for variable in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_BUILTIN_TRANSPORTS",
                     "FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"):
        if variable in env:
            os.environ[variable] = env[variable]
        else:
            os.environ.pop(variable, None)
    node_log = open(log_dir / "node.log", "w")  # noqa: SIM115 - closed below
    node = subprocess.Popen(
        [sys.executable, "-m", "scr_localizer.cli", "localize-node", "--ros-args",
         "-p", f"map_path:={map_path}", "-p", f"device:={device}", "-p", f"backend:={backend}",
         "-p", f"network_threads:={network_threads}"],
        env=env, stdout=node_log, stderr=subprocess.STDOUT)
    player = None
    rclpy.init()
    listener = rclpy.create_node("bench_ros_node_listener")
    fixes: list[tuple[float, int]] = []  # (receive time s, image stamp ns)
    inputs: list[float] = []
    diagnostics: dict = {}

    def on_pose(msg):  # one per fix, stamped at its image
        fixes.append((time.time(), stamp_to_ns(msg.header.stamp)))

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.startswith("localize_node"):
                diagnostics.update({kv.key: kv.value for kv in status.values},
                                   message=status.message)

    listener.create_subscription(PoseWithCovarianceStamped, "/localize_node/pose", on_pose, 10)
    listener.create_subscription(CameraInfo, "/camera/camera/color/camera_info",
                                 lambda msg: inputs.append(time.time()), qos_profile_sensor_data)
    listener.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    try:
        player = subprocess.Popen(
            [sys.executable, str(PLAYER), str(redkitchen), "--rate", str(rate_hz),
             "--duration", str(startup_timeout_s + duration_s + 30)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout_s
        while not fixes:
            if time.monotonic() > deadline or node.poll() is not None:
                raise SystemExit(f"the node produced no fix; log: {log_dir / 'node.log'}")
            rclpy.spin_once(listener, timeout_sec=0.1)
        start = time.time()
        processed_at_start = int(diagnostics.get("frames_processed", 0))
        end = start + duration_s
        while time.time() < end:
            rclpy.spin_once(listener, timeout_sec=0.05)
    finally:
        for child in (player, node):
            if child is not None:
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        node_log.close()
        listener.destroy_node()
        rclpy.try_shutdown()
    window = [(t, s) for t, s in fixes if start <= t <= end]
    latencies_ms = np.array([(t - s * 1e-9) * 1e3 for t, s in window])
    input_count = sum(1 for t in inputs if start <= t <= end)
    return {
        "device": device,
        "backend": backend,
        "network_threads": network_threads,
        "transport": transport,
        "input_rate_hz_requested": rate_hz,
        "input_rate_hz_received": input_count / duration_s,
        "fix_rate_hz": len(window) / duration_s,
        "processed_rate_hz": (int(diagnostics.get("frames_processed", 0)) - processed_at_start)
        / duration_s,
        "fixes": len(window),
        "latency_ms_p50": float(np.percentile(latencies_ms, 50)) if len(window) else None,
        "latency_ms_p95": float(np.percentile(latencies_ms, 95)) if len(window) else None,
        "latency_ms_max": float(latencies_ms.max()) if len(window) else None,
        "duration_s": duration_s,
        "node_diagnostics": diagnostics,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "log_dir": str(log_dir),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s of measurement instead of 60")
    parser.add_argument("--map", type=Path, default=None,
                        help="map file (default: bench_localization's cached redkitchen map)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz")
    parser.add_argument("--transport", choices=TRANSPORTS + ("both",), default="both")
    parser.add_argument("--backend", default="auto", choices=("torch", "onnxruntime", "auto"),
                        help="the node's encoder backend parameter")
    parser.add_argument("--network-threads", type=int, default=0,
                        help="the node's network_threads parameter (0: every core but one)")
    args = parser.parse_args(argv)

    from benchmarks.bench_localization import DEFAULT_MAP, REDKITCHEN, get_map

    map_path = args.map or DEFAULT_MAP
    if args.map is None:
        get_map(DEFAULT_MAP, train=False)  # trains and caches it on first use
    transports = TRANSPORTS if args.transport == "both" else (args.transport,)
    results = []
    for transport in transports:
        result = measure(map_path, REDKITCHEN, args.device, args.rate,
                         20.0 if args.quick else 60.0, transport, backend=args.backend,
                         network_threads=args.network_threads)
        result["map"] = str(map_path)
        results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ros_node.json").write_text(json.dumps(results, indent=2) + "\n")

    def fmt(value, digits=1):
        return "n/a" if value is None else f"{value:.{digits}f}"

    print("| transport | input Hz (req/recv) | fixes Hz | processed Hz | latency p50 ms | p95 ms | "
          "max ms | superseded | stale | TF late | device | backend | network threads | "
          "load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        d = result["node_diagnostics"]
        print(f"| {result['transport']} | {args.rate:g} / {fmt(result['input_rate_hz_received'])} | "
              f"{fmt(result['fix_rate_hz'], 2)} | {fmt(result['processed_rate_hz'], 2)} | "
              f"{fmt(result['latency_ms_p50'])} | {fmt(result['latency_ms_p95'])} | "
              f"{fmt(result['latency_ms_max'])} | {d.get('frames_superseded', '?')} | "
              f"{d.get('frames_stale', '?')} | {d.get('frames_rejected_input', '?')} | "
              f"{result['device']} | {result['backend']} | {result['network_threads'] or 'auto'} | "
              f"{result['load_average_1min']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
