"""Map files: round trip, refusal of foreign/damaged files, atomic writes."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io import atomic
from scr_localizer.model.encoder import encoder_hash
from scr_localizer.model.head import HeadConfig, SceneCoordinateHead
from scr_localizer.model.map_file import SceneMap, load_map, save_map


def _scene_map(encoder_name="xfeat", hash_value=None, config=None) -> SceneMap:
    torch.manual_seed(0)
    head = SceneCoordinateHead(config or HeadConfig())
    torch.nn.init.normal_(head.output.weight, std=0.05)
    head.scene_centre.copy_(torch.tensor([1.5, -2.25, 0.75]))
    return SceneMap(
        head=head,
        encoder_name=encoder_name,
        encoder_hash=hash_value or encoder_hash("xfeat"),
        fixed_frame="odom_map",
        training_config={"iterations": 7, "prior": "rgbd"},
        source="kitchen.mcap",
        stats={"frames_used": 3},
    )


def _rewrite_metadata(path, **changes):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"].update(changes)
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_round_trip_keeps_everything(tmp_path):
    original = _scene_map()
    path = save_map(original, tmp_path / "room.scrmap")
    loaded = load_map(path)
    assert loaded.fixed_frame == "odom_map"
    assert loaded.source == "kitchen.mcap"
    assert loaded.training_config["iterations"] == 7
    assert loaded.stats == {"frames_used": 3}
    assert loaded.encoder_name == "xfeat" and loaded.encoder_hash == original.encoder_hash
    np.testing.assert_allclose(loaded.scene_centre, [1.5, -2.25, 0.75])
    descriptors = torch.randn(100, 64)
    with torch.no_grad():
        expected = original.head.forward_cells(descriptors)
        got = loaded.head.forward_cells(descriptors)
    # fp16 weights: millimetre-level agreement on outputs of this scale.
    assert torch.allclose(expected, got, atol=5e-3)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_default_head_map_is_at_most_4_mb(tmp_path):
    path = save_map(_scene_map(), tmp_path / "room.scrmap")
    assert path.stat().st_size <= 4 * 1024 * 1024


def test_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(ScrLocalizerError, match="does not exist"):
        load_map(tmp_path / "nope.scrmap")


def test_wrong_encoder_hash_is_refused(tmp_path):
    path = save_map(_scene_map(hash_value="0" * 64), tmp_path / "room.scrmap")
    with pytest.raises(ScrLocalizerError, match="different 'xfeat' encoder weights") as info:
        load_map(path)
    assert "\n" not in str(info.value)


def test_unknown_encoder_is_refused(tmp_path):
    path = save_map(_scene_map(encoder_name="dinov9"), tmp_path / "room.scrmap")
    with pytest.raises(ScrLocalizerError, match="encoder 'dinov9'.*available: xfeat"):
        load_map(path)


def test_wrong_version_is_refused(tmp_path):
    path = save_map(_scene_map(), tmp_path / "room.scrmap")
    _rewrite_metadata(path, format_version="99")
    with pytest.raises(ScrLocalizerError, match="format version 99; this scr_localizer reads version 1"):
        load_map(path)


def test_other_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ScrLocalizerError, match="is not a scr_localizer.map file"):
        load_map(path)


@pytest.mark.parametrize("keep", [0, 5, 100, -1])
def test_truncated_bytes_are_refused(tmp_path, keep):
    path = save_map(_scene_map(), tmp_path / "room.scrmap")
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-10])
    with pytest.raises(ScrLocalizerError, match="truncated|corrupt") as info:
        load_map(path)
    assert "\n" not in str(info.value)


def test_garbage_header_is_refused(tmp_path):
    path = tmp_path / "room.scrmap"
    path.write_bytes(struct.pack("<Q", 16) + b"\xff" * 16 + b"\x00" * 64)
    with pytest.raises(ScrLocalizerError, match="corrupt"):
        load_map(path)


def test_exception_mid_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "room.scrmap"

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(ScrLocalizerError, match=f"cannot write '{target}': disk full"):
        save_map(_scene_map(), target)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_map(tmp_path, monkeypatch):
    target = save_map(_scene_map(), tmp_path / "room.scrmap")
    before = target.read_bytes()

    def interrupted_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        save_map(_scene_map(config=HeadConfig(width=32)), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["room.scrmap"]


def test_killed_writer_leaves_no_map(tmp_path):
    """A process killed (SIGKILL) while writing never leaves a file at the map path."""
    import subprocess
    import sys
    import time

    target = tmp_path / "room.scrmap"
    script = (
        "import os, time, sys\n"
        "from scr_localizer.io import atomic\n"
        "from scr_localizer.model import map_file\n"
        "import test.test_map_file as t\n"
        "real = os.fsync\n"
        "def slow(fd):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "atomic.os.fsync = slow\n"
        f"map_file.save_map(t._scene_map(), {str(target)!r})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert child.stdout.readline().strip() == b"writing"
        time.sleep(0.2)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not target.exists()
