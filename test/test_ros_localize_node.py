"""The localization node in its own process over real DDS, fed by a player process with
redkitchen query frames and watched by a probe process.

Fast DDS' defaults lose most 640x480 images between processes (a 512 KB shared-memory segment,
then UDP), so every process here uses the replay tool's profile: a 64 MB shared-memory segment
and 4 MB UDP buffers. Measured with benchmarks/bench_ros_node.py it also keeps /tf timely next
to the images, where FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (TCP) let odometry lag by ~1 s.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
SCRIPTS = Path(__file__).parent / "ros_processes"
# Generous: the CI machine is shared (2 cores, several test processes, torch on the CPU).
NODE_READY_S = 120.0
# The wrong-input phases replay a few query frames (each player start decodes its frames).
FEW_FRAMES = "50:60"


@pytest.fixture
def map_file(request, tmp_path_factory) -> Path:
    """The small real redkitchen map as a file (the fixture gives a SceneMap or a path).
    SCR_TEST_MAP=path reuses a map trained the same way (faster local iteration)."""
    if os.environ.get("SCR_TEST_MAP"):
        return Path(os.environ["SCR_TEST_MAP"])
    scene_map = request.getfixturevalue("small_redkitchen_map")
    if isinstance(scene_map, (str, Path)):
        return Path(scene_map)
    from scr_localizer.model.map_file import save_map

    return save_map(scene_map, tmp_path_factory.mktemp("map") / "small.scrmap")


@pytest.fixture
def dds_env(ros_env, tmp_path):
    from scr_localizer.ros.replay import FASTDDS_PROFILE, profile_file_variable

    env = dict(ros_env)
    for variable in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTRTPS_DEFAULT_PROFILES_FILE",
                     "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(variable, None)
    profile = tmp_path / "fastdds.xml"
    profile.write_text(FASTDDS_PROFILE)
    env[profile_file_variable()] = str(profile)  # Jazzy's Fast DDS 2 reads only FASTRTPS_...
    return env


class Processes:
    """Child processes that are always terminated, with their output kept for messages."""

    def __init__(self, env, folder: Path):
        self.env, self.folder, self.children = env, folder, []

    def start(self, name, args):
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        child = subprocess.Popen([sys.executable, *args], env=self.env, stdout=log,
                                 stderr=subprocess.STDOUT, text=True)
        self.children.append((name, child, log))
        return child

    def player(self, redkitchen, *flags, duration=120.0):
        return self.start("player", [str(SCRIPTS / "rgbd_player.py"), str(redkitchen),
                                     "--duration", str(duration), *flags])

    def stop(self, child):
        for name, c, log in list(self.children):
            if c is child:
                c.terminate()
                try:
                    c.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.kill()
                    c.wait()
                log.close()
                self.children.remove((name, c, log))

    def stop_all(self):
        for _, child, _ in list(self.children):
            self.stop(child)

    def log(self, name) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def probe(self, *args, timeout=60.0):
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / "localizer_probe.py"), "--timeout", str(timeout),
             *args], env=self.env, capture_output=True, text=True, timeout=timeout + 60)
        lines = result.stdout.strip().splitlines()
        got = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        return result.returncode, got, result.stderr


@pytest.fixture
def processes(dds_env, tmp_path):
    procs = Processes(dds_env, tmp_path)
    yield procs
    procs.stop_all()


def node_args(*parameters):
    args = ["-m", "scr_localizer.cli", "localize-node", "--ros-args",
            "-p", "device:=cpu", "-p", "tf_timeout_s:=1.0", "-p", "max_frame_age_s:=5.0"]
    for parameter in parameters:
        args += ["-p", parameter]
    return args


def test_map_to_odom_composed_with_odometry_matches_ground_truth(processes, redkitchen,
                                                                 map_file):
    """Also under use_sim_time: the player publishes /clock from t=1000 s, decades behind the
    wall clock, so a node that mixed the two would drop every frame as stale."""
    node = processes.start("node", node_args(f"map_path:={map_file}", "use_sim_time:=true",
                                           # not a multiple of the 0.2 s frame period, so a
                                           # re-published map->odom never carries an image stamp
                                           "transform_tolerance_s:=0.15"))
    processes.player(redkitchen, "--rate", "5", "--sim-time")
    code, got, err = processes.probe("--fixes", "4", "--localized-more-than", "0",
                                     timeout=NODE_READY_S)
    assert node.poll() is None, processes.log("node")
    assert code == 0, f"{got}\n{err}\nnode log:\n{processes.log('node')[-3000:]}"
    # map->odom (node) * odom->base_link (player, same stamp) vs the true map->base_link.
    t_err = np.array([f["t_err_m"] for f in got["fixes"]])
    r_err = np.array([f["r_err_deg"] for f in got["fixes"]])
    # (odometry is 0.5 m / 20 deg off the map, so a wrong composition fails by far)
    assert np.median(t_err) < 0.15 and np.median(r_err) < 5.0, got["fixes"]
    # ~/pose reports base_link in map with the relocalizer's covariance.
    fixed = [p for p in got["poses"] if p["has_fix"]]
    assert fixed, got["poses"]
    assert np.median([p["t_err_m"] for p in fixed]) < 0.15, fixed
    assert all(0 < c < 1.0 for p in fixed for c in p["cov_diag"]), fixed
    # Between fixes the last map->odom is re-published, future-dated on the sim clock.
    assert got["republished"] > 0
    assert all(f["stamp_ns"] < 2000 * 10**9 for f in got["fixes"])
    diagnostics = got["diagnostics"]
    assert diagnostics is not None
    assert float(diagnostics["values"]["rate_hz"]) >= 0.0
    assert diagnostics["values"]["latency_ms_p50"] != ""
    assert int(diagnostics["values"]["frames_localized"]) >= 1
    assert 0.0 <= float(diagnostics["values"]["confidence"]) <= 1.0
    # The player sends depth, so the last attempt says how far depth moved it from colour.
    assert 0.0 <= float(diagnostics["values"]["colour_depth_shift_m"]) < 1.0

    # ~/enable pauses and resumes.
    code, got, err = processes.probe("--enable", "false", "--expect", "paused", timeout=20)
    assert code == 0 and got["enable"] == [True, "paused"], (got, err)
    code, got, err = processes.probe("--enable", "true", "--expect", "", timeout=20)
    assert code == 0 and got["enable"] == [True, "localizing"], (got, err)


def _expect(processes, node, *args, timeout=60.0):
    code, got, err = processes.probe(*args, timeout=timeout)
    assert node.poll() is None, f"the node died:\n{processes.log('node')[-3000:]}"
    assert code == 0, (f"probe {args} did not see it; last diagnostics: {got.get('diagnostics')}"
                       f"\n{err[-2000:]}\nnode log:\n{processes.log('node')[-3000:]}")
    return got["diagnostics"]


def test_wrong_inputs_keep_the_node_up_and_it_recovers(processes, redkitchen, map_file,
                                                      tmp_path):
    def play(*flags):
        return processes.player(redkitchen, "--frames", FEW_FRAMES, "--rate", "5", *flags)

    missing = tmp_path / "missing.scrmap"
    node = processes.start("node", node_args(f"map_path:={missing}"))
    # Map missing: ERROR naming the file.
    status = _expect(processes, node, "--expect", "cannot load map", "--level", "2",
                     timeout=NODE_READY_S)
    assert str(missing) in status["message"]

    # Images but no CameraInfo yet (and no camera link in TF).
    player = play("--no-camera-info", "--no-static-tf")
    _expect(processes, node, "--expect", "no CameraInfo received")
    processes.stop(player)

    # A corrupt map file is refused the same way; then the right map is loaded at runtime.
    corrupt = tmp_path / "corrupt.scrmap"
    corrupt.write_bytes(b"\x00not a map\x00" * 10)
    _expect(processes, node, "--set-string", f"map_path={corrupt}", "--expect",
            f"cannot load map '{corrupt}'", "--level", "2")
    _expect(processes, node, "--set-string", f"map_path={map_file}", "--value",
            f"map={map_file}", timeout=NODE_READY_S)

    # Unsupported colour encoding.
    player = play("--color-encoding", "bayer_rggb8", "--no-static-tf")
    _expect(processes, node, "--expect", "unsupported colour encoding 'bayer_rggb8'")
    processes.stop(player)

    # Missing TF link base_link -> camera.
    player = play("--no-static-tf")
    status = _expect(processes, node, "--expect", "TF missing")
    assert "base_link" in status["message"]
    processes.stop(player)

    # Depth not registered to colour (half size): reported, localizes RGB-only meanwhile.
    player = play("--depth-half-size")
    _expect(processes, node, "--expect", "expected depth registered to colour")
    processes.stop(player)

    # Everything fixed: OK again and localizing.
    player = play()
    status = _expect(processes, node, "--level", "0", "--localized-more-than", "0",
                     "--expect", "localizing at", timeout=90)
    assert status["values"]["problems"] == ""
    # A bad map set while running is refused and the loaded one keeps working.
    status = _expect(processes, node, "--set-string", f"map_path={corrupt}", "--expect",
                     f"still localizing with '{map_file}'", "--level", "1")
    assert status["values"]["map"] == str(map_file)
    processes.stop(player)
    log = processes.log("node")
    for said in ("cannot load map", "no CameraInfo received", "unsupported colour encoding",
                 "TF missing", "expected depth registered to colour", "recovered:"):
        assert said in log, f"'{said}' not in the node log"


def _nan_copy_of(map_file: Path, folder: Path) -> Path:
    """The map with one output weight set to NaN (as a diverged training run would leave it)."""
    import struct

    data = bytearray(map_file.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    start = 8 + header_len + header["head.output.weight"]["data_offsets"][0]
    data[start:start + 2] = np.array([np.nan], "<f2").tobytes()
    path = folder / "nan.scrmap"
    path.write_bytes(bytes(data))
    return path


def test_stalled_input_warns_then_recovers_and_unusable_inputs_are_errors(
        processes, redkitchen, map_file, tmp_path):
    """The camera publisher is killed mid-stream: /diagnostics goes WARN naming the topic within
    input_stall_timeout_s (+ one diagnostics period + slack for 2 busy cores) and back to OK
    when frames return. A NaN CameraInfo and a NaN map are refused by name."""
    stall_s, period_s = 2.0, 0.25
    node = processes.start("node", node_args(f"map_path:={map_file}",
                                             f"input_stall_timeout_s:={stall_s}",
                                             f"diagnostics_period_s:={period_s}"))

    def play(*flags):
        return processes.player(redkitchen, "--frames", FEW_FRAMES, "--rate", "5", *flags)

    player = play()
    _expect(processes, node, "--level", "0", "--localized-more-than", "0", "--expect",
            "localizing at", timeout=NODE_READY_S)
    # A watcher that is already listening when the publisher dies times the change.
    watcher = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "localizer_probe.py"), "--timeout", "60", "--expect",
         "input stalled", "--level", "1", "--history", "--announce"],
        env=processes.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "listening", watcher.stderr.read()
        player.kill()  # like a crashed camera driver: no goodbye
        player.wait(timeout=10)
        killed_ns = time.time_ns()
        out, err = watcher.communicate(timeout=90)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    processes.stop(player)
    assert watcher.returncode == 0, f"no stall WARN seen:\n{out[-2000:]}\n{err[-2000:]}"
    assert node.poll() is None, processes.log("node")[-3000:]
    history = json.loads(out.strip().splitlines()[-1])["history"]
    stalled = [h for h in history if h["level"] == 1 and "input stalled" in h["message"]]
    assert stalled, history[-5:]
    delay_s = (stalled[0]["stamp_ns"] - killed_ns) * 1e-9
    assert delay_s <= stall_s + period_s + 1.5, (delay_s, stalled[0])
    assert delay_s >= stall_s - 1.0, (delay_s, stalled[0])  # not before the timeout
    # every input stalls at once; within the next diagnostics periods the message names them
    named = " ".join(h["message"] for h in stalled
                     if h["stamp_ns"] - stalled[0]["stamp_ns"] <= 2 * period_s * 1e9)
    assert "/camera/camera/color/image_raw" in named, stalled[:3]
    assert not [h for h in history
                if h["stamp_ns"] < killed_ns - 10**9 // 2 and "input stalled" in h["message"]]

    # Frames return: OK again, no problem left.
    player = play()
    status = _expect(processes, node, "--level", "0", "--expect", "localizing at", timeout=60)
    assert status["values"]["problems"] == ""
    processes.stop(player)

    # A calibration the node cannot use is an ERROR naming the topic and the value.
    player = play("--camera-info-fx", "nan")
    status = _expect(processes, node, "--level", "2", "--expect",
                     "CameraInfo on /camera/camera/color/camera_info")
    assert "fx=nan" in status["message"], status["message"]
    processes.stop(player)

    # A map with NaN weights is refused by name; the loaded one keeps working (WARN once the
    # CameraInfo is good again).
    nan_map = _nan_copy_of(Path(map_file), tmp_path)
    _expect(processes, node, "--set-string", f"map_path={nan_map}", "--expect",
            "non-finite values")
    player = play()
    status = _expect(processes, node, "--level", "1", "--expect",
                     f"still localizing with '{map_file}'", timeout=60)
    assert "non-finite values" in status["message"] and "CameraInfo" not in status["message"]
    assert status["values"]["map"] == str(map_file)


@pytest.mark.parametrize("parameter, says", [
    ("min_inliers:=abc", "bad parameter min_inliers"),
    ("max_frame_age_s:=-1.0", "parameter max_frame_age_s is -1.0; expected a finite number > 0"),
    ("input_stall_timeout_s:=0.0", "parameter input_stall_timeout_s is 0.0"),
])
def test_bad_parameters_at_start_up_are_one_line_errors(ros_env, parameter, says):
    result = subprocess.run([sys.executable, *node_args(parameter)], env=ros_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert says in lines[0]
