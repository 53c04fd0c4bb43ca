"""The head's number format (model.precision): bfloat16 only where the CPU computes it natively,
float32 on request, and bfloat16 scene coordinates and poses close to float32's on real frames."""

import numpy as np
import pytest
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.localization.localizer import Localizer, LocalizerConfig
from scr_localizer.model import precision
from scr_localizer.model.map_file import load_map
from scr_localizer.model.regressor import SceneCoordinateRegressor

CPU = torch.device("cpu")


def test_bfloat16_only_where_the_cpu_computes_it(monkeypatch):
    assert precision.autocast_dtype(CPU, "float32") is None
    assert precision.autocast_dtype(torch.device("cuda"), "auto") == torch.float16
    assert precision.autocast_dtype(torch.device("cuda"), "float32") is None
    monkeypatch.setattr(precision, "cpu_computes_bfloat16", lambda: False)
    assert precision.autocast_dtype(CPU, "auto") is None  # emulated bf16 is slower than fp32
    monkeypatch.setattr(precision, "cpu_computes_bfloat16", lambda: True)
    assert precision.autocast_dtype(CPU, "auto") == torch.bfloat16
    with pytest.raises(ScrLocalizerError, match="unknown precision 'fp8'; expected one of auto"):
        precision.autocast_dtype(CPU, "fp8")
    with pytest.raises(ScrLocalizerError, match="unknown precision"):
        LocalizerConfig(precision="half")


def test_the_probe_survives_a_torch_without_it(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert precision.cpu_computes_bfloat16() in (True, False)


def test_bfloat16_head_agrees_with_float32_on_real_frames(small_redkitchen_map, redkitchen):
    if not precision.cpu_computes_bfloat16():
        pytest.skip("this CPU has no native bfloat16 (AMX or AVX512-BF16): auto runs float32")
    scene_map = load_map(small_redkitchen_map)
    fp32 = SceneCoordinateRegressor(scene_map, "cpu", precision="float32")
    bf16 = SceneCoordinateRegressor(scene_map, "cpu", precision="auto")
    assert fp32.head_dtype is None and bf16.head_dtype == torch.bfloat16
    differences = []
    for frame in iter_frames(redkitchen, [20, 70]):
        px_fp32, xyz_fp32 = fp32.regress(frame.color, 2400)
        px_bf16, xyz_bf16 = bf16.regress(frame.color, 2400)
        np.testing.assert_array_equal(px_fp32, px_bf16)
        assert xyz_bf16.dtype == np.float32 and np.isfinite(xyz_bf16).all()
        differences.append(np.linalg.norm(xyz_fp32 - xyz_bf16, axis=1))
    difference = np.concatenate(differences)
    # Measured 1.5 mm median, 20 mm at the 99th percentile on a CPU-preset map.
    assert np.median(difference) < 0.005 and np.percentile(difference, 99) < 0.05
    # The poses from both (RGB-D, the default solver) agree to millimetres.
    frame = next(iter_frames(redkitchen, [70]))
    poses = [Localizer(scene_map, LocalizerConfig(precision=p), device="cpu").localize(
        frame.color, frame.camera, frame.depth) for p in ("float32", "auto")]
    assert all(p.inlier_count > 80 for p in poses)
    shift = np.linalg.norm(poses[0].world_from_camera[:3, 3] - poses[1].world_from_camera[:3, 3])
    assert shift < 0.01
