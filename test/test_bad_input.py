"""Bad input never becomes a silent wrong map, a traceback or a half-written file (issue 17).

One test per defect found by a bad-input corpus: each builds its small real input here (a few
redkitchen frames, a bag rewritten message by message, a map with bytes changed), runs the verb
and checks the exit code, the one-line message and that nothing (half-)written is left.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scr_localizer.cli import main
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag
from scr_localizer.io.seven_scenes import iter_frames, parse_frame_ranges
from scr_localizer.model.encoder import encoder_hash
from scr_localizer.model.head import HeadConfig, SceneCoordinateHead
from scr_localizer.model.map_file import SceneMap, load_map, save_map

FRAMES = [0, 12, 24, 36]
TINY = ["--preset", "tiny", "--device", "cpu", "--iterations", "20"]
INFO_TOPIC = "/camera/camera/color/camera_info"
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ inputs and checks
@pytest.fixture(scope="module")
def mapping_bag(redkitchen, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_input")
    return write_rgbd_bag(folder / "kitchen_bag", iter_frames(redkitchen, FRAMES),
                          BagWriteConfig())


def seven_folder(redkitchen, folder: Path) -> Path:
    """A 7-Scenes folder of FRAMES (links to the real files), for convert tests to break."""
    folder.mkdir()
    for i in FRAMES:
        for kind in ("color.jpg", "depth.png", "pose.txt"):
            (folder / f"frame-{i:06d}.{kind}").symlink_to(redkitchen / f"frame-{i:06d}.{kind}")
    return folder


def rewrite_bag(source: Path, target: Path, edit) -> Path:
    """A copy of a bag with `edit(topic, msgtype, message)` applied to every message."""
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    with AnyReader([source], default_typestore=store) as reader, \
            Writer(target, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for connection, stamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            edit(connection.topic, connection.msgtype, message)
            if connection.topic not in connections:
                connections[connection.topic] = writer.add_connection(
                    connection.topic, connection.msgtype, typestore=store)
            writer.write(connections[connection.topic], stamp,
                         store.serialize_cdr(message, connection.msgtype))
    return target


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code, err, *needles) -> str:
    """Exit 2, no traceback, exactly one 'error:' line (progress bars may share stderr)."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def nothing_left(path: Path) -> None:
    """Neither `path` nor a temp file/folder for it exists beside it."""
    path = Path(path)
    assert not path.exists(), f"{path} was written"
    if path.parent.is_dir():
        temps = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
        assert temps == [], temps


def scene_map(head_config: HeadConfig | None = None) -> SceneMap:
    torch.manual_seed(0)
    head = SceneCoordinateHead(head_config or HeadConfig(width=32, hidden_layers=1))
    head.scene_centre.copy_(torch.tensor([1.0, 2.0, 0.5]))
    return SceneMap(head=head, encoder_name="xfeat", encoder_hash=encoder_hash("xfeat"))


def map_header(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def write_map_bytes(path: Path, header: dict, payload: bytes) -> Path:
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)
    return path


# ------------------------------------------------------------------ 1. non-finite calibration
@pytest.mark.parametrize("index, value, shown", [(0, np.nan, "fx=nan"), (2, np.nan, "cx=nan"),
                                                 (4, np.inf, "fy=inf")])
def test_non_finite_camera_info_stops_mapping_before_any_work(mapping_bag, tmp_path, capsys,
                                                             index, value, shown):
    def nan_calibration(topic, msgtype, message):
        if msgtype.endswith("CameraInfo"):
            message.k, message.p = message.k.copy(), message.p.copy()  # read-only views
            message.k[index] = value
            message.p[{0: 0, 2: 2, 4: 5}[index]] = value

    bag = rewrite_bag(mapping_bag, tmp_path / "bag", nan_calibration)
    out = tmp_path / "room.scrmap"
    code, stdout, err = run_cli(capsys, "map", bag, "-o", out, *TINY)
    one_line_error(code, err, f"CameraInfo topic '{INFO_TOPIC}'", "non-finite", shown)
    assert "mapping '" not in stdout  # refused while reading headers, before encoding
    nothing_left(out)


@pytest.mark.parametrize("spec", ["nan", "inf", "525,525,nan,240", "525,525,320,inf"])
def test_convert_refuses_non_finite_intrinsics(redkitchen, tmp_path, capsys, spec):
    folder = seven_folder(redkitchen, tmp_path / "seven")
    out = tmp_path / "bag"
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, out, "--color-intrinsics", spec)
    one_line_error(code, err, f"bad --color-intrinsics '{spec}'", "invalid camera intrinsics")
    nothing_left(out)


def test_convert_reads_decimal_intrinsics_as_numbers(redkitchen, tmp_path, capsys):
    """'...,247.6' has a path suffix ('.6') but is four numbers, not a file name."""
    from scr_localizer.io.bag_reader import RGBDBagReader

    folder = seven_folder(redkitchen, tmp_path / "seven")
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, tmp_path / "bag",
                           "--color-intrinsics", "535.4,539.2,320.1,247.6")
    assert code == 0, err
    camera = RGBDBagReader(tmp_path / "bag").color_camera
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (535.4, 539.2, 320.1, 247.6)


# ------------------------------------------------------------------ 2. non-finite maps
def test_a_non_finite_map_is_never_written(tmp_path):
    diverged = scene_map()
    with torch.no_grad():
        diverged.head.output.weight[0, 0] = float("nan")
    with pytest.raises(ScrLocalizerError, match="not finite .*head.output.weight.*not written"):
        save_map(diverged, tmp_path / "nan.scrmap")
    overflowing = scene_map()  # finite in float32, inf once stored as fp16 (> 65504)
    with torch.no_grad():
        overflowing.head.layers[0].bias[0] = 1e6
    with pytest.raises(ScrLocalizerError, match="head.layers.0.bias"):
        save_map(overflowing, tmp_path / "inf.scrmap")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tensor, value", [("head.output.weight", np.nan),
                                           ("head.layers.0.weight", np.inf),
                                           ("scene_centre", np.nan)])
def test_maps_with_non_finite_values_are_refused(mapping_bag, tmp_path, capsys, tensor, value):
    path = save_map(scene_map(HeadConfig(input_dim=64, width=32, hidden_layers=1)),
                    tmp_path / "room.scrmap")
    header, payload = map_header(path)
    dtype = {"F16": "<f2", "F64": "<f8"}[header[tensor]["dtype"]]
    start = header[tensor]["data_offsets"][0]
    width = np.dtype(dtype).itemsize
    payload = payload[:start] + np.array([value], dtype).tobytes() + payload[start + width:]
    write_map_bytes(path, header, payload)
    with pytest.raises(ScrLocalizerError, match=f"non-finite values .* in {tensor}") as info:
        load_map(path)
    assert "\n" not in str(info.value)
    out = tmp_path / "poses.txt"
    code, _, err = run_cli(capsys, "localize", path, mapping_bag, "-o", out, "--device", "cpu")
    one_line_error(code, err, "non-finite values", tensor)
    nothing_left(out)


# ------------------------------------------------------------------ 4. rgbd prior without depth
def _zero_depth(topic, msgtype, message):
    if "depth" in topic and msgtype.endswith("/Image"):
        message.data = np.zeros_like(np.asarray(message.data))


def _nan_depth(topic, msgtype, message):
    if "depth" in topic and msgtype.endswith("/Image"):
        message.encoding, message.step = "32FC1", message.width * 4
        nan = np.full(message.height * message.width, np.nan, "<f4")
        message.data = np.frombuffer(nan.tobytes(), np.uint8)


@pytest.mark.parametrize("edit, prior", [(_zero_depth, "auto"), (_zero_depth, "rgbd"),
                                         (_nan_depth, "auto")])
def test_rgbd_prior_without_valid_depth_stops_before_training(mapping_bag, tmp_path, capsys,
                                                              edit, prior):
    """The rule: the rgbd prior (asked for, or picked by auto for a bag with depth) stops when
    under 1 % of the sampled cells have a valid depth; --rgb-only maps the same bag."""
    bag = rewrite_bag(mapping_bag, tmp_path / "bag", edit)
    out = tmp_path / "room.scrmap"
    code, _, err = run_cli(capsys, "map", bag, "-o", out, *TINY, "--prior", prior)
    one_line_error(code, err, "rgbd prior needs measured depth", "0.0 %", "--rgb-only")
    assert "training" not in err  # stopped after encoding, before the training loop
    nothing_left(out)
    code, _, err = run_cli(capsys, "map", bag, "-o", out, *TINY, "--rgb-only")
    assert code == 0, err
    assert load_map(out).training_config["prior"] == "depth-distribution"


# ------------------------------------------------------------------ 5. outputs
@pytest.mark.parametrize("case", ["map_is_folder", "map_in_proc", "ply_is_folder", "ply_in_proc",
                                  "trajectory_is_folder", "json_in_proc"])
def test_outputs_are_checked_before_the_work(mapping_bag, tmp_path, capsys, case):
    """/proc refuses new files for every user (root included), like a read-only place."""
    folder = tmp_path / "a_folder.scrmap"
    folder.mkdir()
    out = tmp_path / "room.scrmap"
    argv, needle = {
        "map_is_folder": (["map", mapping_bag, "-o", folder, "--overwrite"],
                          f"map '{folder}' is a folder"),
        "map_in_proc": (["map", mapping_bag, "-o", "/proc/scr_test.scrmap"],
                        "cannot write map '/proc/scr_test.scrmap'"),
        "ply_is_folder": (["map", mapping_bag, "-o", out, "--ply", folder],
                          f"PLY output '{folder}' is a folder"),
        "ply_in_proc": (["map", mapping_bag, "-o", out, "--ply", "/proc/scr_test.ply"],
                        "cannot write PLY output '/proc/scr_test.ply'"),
        "trajectory_is_folder": (["localize", "missing.scrmap", mapping_bag, "-o", folder],
                                 f"trajectory output '{folder}' is a folder"),
        "json_in_proc": (["evaluate", "--map", "missing.scrmap", "--bag", mapping_bag, "--json",
                          "/proc/scr_test.json"], "cannot write summary JSON"),
    }[case]
    code, stdout, err = run_cli(capsys, *argv, *(TINY if argv[0] == "map" else []))
    one_line_error(code, err, needle)
    assert "mapping '" not in stdout and "encoding" not in err
    nothing_left(out)
    assert list(folder.iterdir()) == []


def test_disk_full_at_the_final_write_is_one_line_and_leaves_nothing(mapping_bag, tmp_path):
    """RLIMIT_FSIZE makes writes past 20 kB fail with EFBIG, as a full disk fails them: the
    map (~60 kB) cannot be written, after training."""
    out = tmp_path / "room.scrmap"

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    result = subprocess.run(
        [sys.executable, "-m", "scr_localizer.cli", "map", str(mapping_bag), "-o", str(out),
         *TINY], capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
        cwd=REPO)
    one_line_error(result.returncode, result.stderr, f"cannot write '{out}'", "File too large")
    nothing_left(out)


# ------------------------------------------------------------------ 6. crafted map headers
def _metadata_list(h):
    h["__metadata__"] = [h["__metadata__"]]


def _entry_not_object(h):
    h["head.output.bias"] = 5


def _string_offsets(h):
    h["head.output.bias"]["data_offsets"] = [str(v) for v in h["head.output.bias"]["data_offsets"]]


def _head_value(key, value):
    def change(h):
        config = json.loads(h["__metadata__"]["head_config"])
        config[key] = value
        h["__metadata__"]["head_config"] = json.dumps(config)
    return change


def _shape(value):
    def change(h):
        h["head.output.bias"]["shape"] = value
    return change


@pytest.mark.parametrize("change, detail", [
    (_metadata_list, "__metadata__ is not a table of strings"),
    (_entry_not_object, "tensor entry 'head.output.bias' is not an object"),
    (_string_offsets, "tensor 'head.output.bias' has data_offsets ['"),
    (_head_value("width", "32"), "head_config width is '32'; expected an integer"),
    (_head_value("width", 200000), "head_config width is 200000; expected an integer in [1, 16384]"),
    # within the limits but not what the tensors hold: refused from the header, before a
    # 16000-wide head is allocated
    (_head_value("width", 16000), "head_config says [16000, 64, 1, 1]"),
    (_head_value("hidden_layers", 7), "tensors do not match head_config"),
    (_head_value("min_w", float("nan")), "head_config min_w is nan"),
    (_shape([-4]), "has shape [-4]; expected a list of sizes >= 0"),
    (_shape([5]), "needs 10 bytes but its data_offsets span 8"),
])
def test_crafted_map_headers_are_refused_before_allocating(tmp_path, change, detail):
    path = save_map(scene_map(HeadConfig(input_dim=64, width=32, hidden_layers=1)),
                    tmp_path / "room.scrmap")
    header, payload = map_header(path)
    change(header)
    write_map_bytes(path, header, payload)
    with pytest.raises(ScrLocalizerError) as info:
        load_map(path)
    message = str(info.value)
    assert "\n" not in message and f"map '{path}'" in message
    assert detail in message, message


def test_a_folder_as_map_path_says_it_is_a_folder(tmp_path):
    with pytest.raises(ScrLocalizerError, match="is a folder; expected a map file"):
        load_map(tmp_path)


# ------------------------------------------------------------------ 7. frame ranges
def test_huge_frame_ranges_are_refused_before_expanding(redkitchen, tmp_path, capsys):
    folder = seven_folder(redkitchen, tmp_path / "seven")
    out = tmp_path / "bag"
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, out, "--frames",
                           "0:99999999999")
    one_line_error(code, err, "frame range '0:99999999999' goes past frame 36")
    nothing_left(out)
    with pytest.raises(ScrLocalizerError, match="goes past frame 999999"):
        parse_frame_ranges("0:99999999999")  # without a folder: a fixed cap
    with pytest.raises(ScrLocalizerError, match="expected indices >= 0"):
        parse_frame_ranges("-3:2")


# ------------------------------------------------------------------ 8. smaller ones
@pytest.mark.parametrize("iterations", ["0", "-5"])
def test_iterations_must_be_positive(mapping_bag, tmp_path, capsys, iterations):
    out = tmp_path / "room.scrmap"
    code, _, err = run_cli(capsys, "map", mapping_bag, "-o", out, *TINY, "--iterations",
                           iterations)
    one_line_error(code, err, f"--iterations is {iterations}; expected an integer >= 1")
    nothing_left(out)


@pytest.mark.parametrize("seconds", ["0", "-5", "nan"])
def test_time_budget_must_be_positive_seconds(mapping_bag, tmp_path, capsys, seconds):
    out = tmp_path / "room.scrmap"
    code, _, err = run_cli(capsys, "map", mapping_bag, "-o", out, *TINY, "--time-budget",
                           seconds)
    one_line_error(code, err, f"--time-budget is {float(seconds)}; expected a finite number > 0 "
                   "(seconds)")
    nothing_left(out)


@pytest.mark.parametrize("fps", ["0", "-30", "nan", "inf"])
def test_convert_fps_must_be_finite_and_positive(redkitchen, tmp_path, capsys, fps):
    folder = seven_folder(redkitchen, tmp_path / "seven")
    out = tmp_path / "bag"
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, out, "--fps", fps)
    one_line_error(code, err, "frame_rate_hz (--fps) is", "expected a finite number > 0")
    nothing_left(out)


def test_convert_refuses_a_missing_depth_image(redkitchen, tmp_path, capsys):
    folder = seven_folder(redkitchen, tmp_path / "seven")
    (folder / "frame-000024.depth.png").unlink()
    out = tmp_path / "bag"
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, out)
    one_line_error(code, err, "frame-000024.depth.png is missing while other frames have depth")
    nothing_left(out)


@pytest.mark.parametrize("edit, detail", [
    (lambda pose: np.diag([2.0, 2.0, 2.0, 1.0]) @ pose, "rotation part is not a rotation"),
    (lambda pose: np.diag([1.0, 1.0, -1.0, 1.0]) @ pose, "det -1"),
    (lambda pose: np.vstack([pose[:3], [0.1, 0.0, 0.0, 1.0]]), "bottom row"),
])
def test_convert_refuses_non_rigid_poses(redkitchen, tmp_path, capsys, edit, detail):
    folder = seven_folder(redkitchen, tmp_path / "seven")
    pose_file = folder / "frame-000012.pose.txt"
    pose = np.loadtxt(pose_file)
    pose_file.unlink()
    np.savetxt(pose_file, edit(pose))
    out = tmp_path / "bag"
    code, _, err = run_cli(capsys, "convert", "7scenes", folder, out)
    one_line_error(code, err, "frame-000012.pose.txt' is not a rigid camera pose", detail)
    nothing_left(out)


def test_maps_are_written_with_the_umask_mode(tmp_path):
    """Not mkstemp's 0600: a localization node running as another user must read the map."""
    old = os.umask(0o027)
    try:
        path = save_map(scene_map(), tmp_path / "room.scrmap")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_next_write_removes_the_temp_file_of_a_killed_writer(tmp_path):
    target = tmp_path / "room.scrmap"
    script = (
        "import time, sys\n"
        "from scr_localizer.io import atomic\n"
        "from scr_localizer.model import map_file\n"
        "import test.test_bad_input as t\n"
        "def slow(fd):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "atomic.os.fsync = slow\n"
        f"map_file.save_map(t.scene_map(), {str(target)!r})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert child.stdout.readline().strip() == b"writing"
    finally:
        child.kill()
        child.wait(timeout=10)
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".room.scrmap.") and stale[0].endswith(".tmp")
    save_map(scene_map(), target)
    assert [p.name for p in tmp_path.iterdir()] == ["room.scrmap"]
    load_map(target)


def test_zero_width_images_say_so(tmp_path, capsys):
    from scr_localizer.geometry.camera import PinholeCamera
    from test.bag_helpers import info, raw_image, tf, write_bag

    camera, optical = PinholeCamera(16, 12, 20.0, 20.0, 8.0, 6.0), "camera_color_optical_frame"
    stamp = 10**18
    bag = write_bag(tmp_path / "bag", [
        tf(stamp, "map", optical, np.eye(4)),
        (INFO_TOPIC, "sensor_msgs/msg/CameraInfo", stamp, info(stamp, optical, camera)),
        ("/camera/camera/color/image_raw", "sensor_msgs/msg/Image", stamp,
         raw_image(stamp, optical, 12, 0, "rgb8", 0, b"")),
    ])
    code, _, err = run_cli(capsys, "inspect", bag, "--depth-topic", "")
    one_line_error(code, err, "rgb8 image is 0x12; expected a positive width and height")


@pytest.mark.parametrize("option, value, shown", [("--tf-tolerance", "nan", "nan"),
                                                  ("--sync-tolerance", "-1", "-1.0")])
def test_bad_tolerances_name_the_option_not_a_corrupt_bag(mapping_bag, capsys, option, value,
                                                          shown):
    code, _, err = run_cli(capsys, "inspect", mapping_bag, option, value)
    line = one_line_error(code, err, f"({option}) is {shown}", "expected a finite number >= 0")
    assert "corrupt" not in line


def test_free_space_is_checked_against_the_map_size(tmp_path):
    from scr_localizer.io.atomic import check_writable

    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(ScrLocalizerError, match="MB free in"):
        check_writable(tmp_path / "room.scrmap", "map", min_free_bytes=free * 2)
    assert list(tmp_path.iterdir()) == []
