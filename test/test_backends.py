"""The encoder backends behind the one inference path: ONNX Runtime gives PyTorch's scene
coordinates on a real frame, and every way of asking for it without the package is handled."""

import sys

import numpy as np
import pytest
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.model.backends import resolve_backend
from scr_localizer.model.map_file import load_map
from scr_localizer.model.regressor import SceneCoordinateRegressor

CPU = torch.device("cpu")


@pytest.fixture
def without_onnxruntime(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError


def test_auto_falls_back_to_torch_and_an_explicit_request_says_why(without_onnxruntime):
    assert resolve_backend("auto", CPU) == "torch"
    with pytest.raises(ScrLocalizerError, match="'onnxruntime' is not installed"):
        resolve_backend("onnxruntime", CPU)
    with pytest.raises(ScrLocalizerError, match="unknown inference backend 'tensorrt'"):
        resolve_backend("tensorrt", CPU)
    assert resolve_backend("auto", torch.device("cuda")) == "torch"


def test_onnxruntime_gives_torchs_scene_coordinates(small_redkitchen_map, redkitchen, tmp_path,
                                                    monkeypatch):
    pytest.importorskip("onnxruntime", reason="the optional onnxruntime package is absent")
    pytest.importorskip("onnx", reason="exporting the graph needs the onnx package")
    monkeypatch.setenv("SCR_LOCALIZER_CACHE", str(tmp_path / "cache"))
    scene_map = load_map(small_redkitchen_map)
    frame = next(iter_frames(redkitchen, [70]))
    # float32 heads: this compares the encoders (test_precision covers the bf16 head).
    reference = SceneCoordinateRegressor(scene_map, "cpu", backend="torch", precision="float32")
    onnx = SceneCoordinateRegressor(scene_map, "cpu", backend="onnxruntime", precision="float32")
    assert onnx.backend == "onnxruntime" and onnx._encode.path.is_file()
    graphs = list((tmp_path / "cache" / "onnx").glob("xfeat-*.onnx"))
    assert len(graphs) == 1  # exported once, named by the encoder's weight hash
    for max_cells in (0, 2400):
        px_torch, xyz_torch = reference.regress(frame.color, max_cells)
        px_onnx, xyz_onnx = onnx.regress(frame.color, max_cells)
        np.testing.assert_array_equal(px_torch, px_onnx)
        # Descriptors agree within ~1e-5; through the head that is well under a millimetre.
        assert np.max(np.linalg.norm(xyz_torch - xyz_onnx, axis=1)) < 1e-3
    # A second regressor reuses the cached graph (no second export).
    again = SceneCoordinateRegressor(scene_map, "cpu", backend="auto", precision="float32")
    assert again.backend == "onnxruntime" and again._encode.path == graphs[0]


def test_auto_falls_back_to_torch_when_the_graph_cannot_be_cached(small_redkitchen_map,
                                                                 tmp_path, monkeypatch):
    """auto is the default: an ONNX Runtime that cannot be set up (here the cache folder sits
    under a file) must leave a working PyTorch regressor, while asking for onnxruntime
    explicitly says why it failed. (float32: with a bfloat16 network auto takes PyTorch
    anyway.)"""
    pytest.importorskip("onnxruntime", reason="the optional onnxruntime package is absent")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("SCR_LOCALIZER_CACHE", str(blocker / "cache"))
    scene_map = load_map(small_redkitchen_map)
    assert SceneCoordinateRegressor(scene_map, "cpu", backend="auto",
                                    precision="float32").backend == "torch"
    with pytest.raises(ScrLocalizerError, match="'onnxruntime' could not be set up"):
        SceneCoordinateRegressor(scene_map, "cpu", backend="onnxruntime")


def test_auto_takes_torch_where_the_encoder_runs_in_bfloat16():
    """On a CPU with native bfloat16, PyTorch with the coarse blocks in bfloat16 beats ONNX
    Runtime's float32 graph (model.backends); elsewhere ONNX Runtime stays the CPU choice."""
    pytest.importorskip("onnxruntime", reason="the optional onnxruntime package is absent")
    assert resolve_backend("auto", CPU, torch.bfloat16) == "torch"
    assert resolve_backend("auto", CPU, None) == "onnxruntime"
    assert resolve_backend("onnxruntime", CPU, torch.bfloat16) == "onnxruntime"


def test_cpu_torch_encoder_gives_the_eager_descriptors(small_redkitchen_map, redkitchen):
    """The CPU PyTorch path runs a channels-last copy of the encoder: in float32 it must give
    the eager module's descriptors; with bfloat16 coarse blocks (precision auto on a CPU with
    native bfloat16) descriptors within ~1 %."""
    from scr_localizer.model.encoder import get_encoder
    from scr_localizer.model.preprocess import prepare_image

    scene_map = load_map(small_redkitchen_map)
    encoder = get_encoder("xfeat", CPU)
    frame = next(iter_frames(redkitchen, [70]))
    gray = torch.from_numpy(prepare_image(frame.color, 480, encoder.stride).gray)[None, None]
    fp32 = SceneCoordinateRegressor(scene_map, "cpu", backend="torch", precision="float32")
    mixed = SceneCoordinateRegressor(scene_map, "cpu", backend="torch", precision="auto")
    with torch.inference_mode():
        eager = encoder(gray)
        fast = fp32._encode(gray.contiguous(memory_format=torch.channels_last))
        low = mixed._encode(gray.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(eager, fast, atol=1e-4)
    assert low.dtype == torch.float32
    relative = (low - eager).norm(dim=1) / eager.norm(dim=1)
    # Measured 0.6 % median, 0.9 % at the 99th percentile with AMX (0 without: float32).
    assert float(relative.median()) < 0.02 and float(relative.flatten().quantile(0.99)) < 0.05


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_mapping_encodes_augmented_sizes_as_the_eager_module(backend, redkitchen, tmp_path,
                                                             monkeypatch):
    """Mapping runs the encoder through encoder_runner too, on images that scale augmentation
    resizes to sizes the exported graph never saw: both backends must give the eager
    module's float32 descriptors there."""
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="the optional onnxruntime package is absent")
        pytest.importorskip("onnx", reason="exporting the graph needs the onnx package")
    monkeypatch.setenv("SCR_LOCALIZER_CACHE", str(tmp_path / "cache"))
    from scr_localizer.model.backends import encoder_runner
    from scr_localizer.model.encoder import get_encoder
    from scr_localizer.model.preprocess import prepare_image

    encoder = get_encoder("xfeat", CPU)
    run, used = encoder_runner(encoder, CPU, backend)
    assert used == backend
    frame = next(iter_frames(redkitchen, [70]))
    for height in (480, 416, 544):
        gray = torch.from_numpy(prepare_image(frame.color, height, encoder.stride).gray)
        with torch.inference_mode():
            eager = encoder(gray[None, None])
            descriptors = run(gray[None, None])
        assert descriptors.shape == eager.shape and descriptors.dtype == torch.float32
        assert float((descriptors - eager).abs().max()) < 1e-3


def test_network_threads_leave_a_core_to_the_solver():
    from scr_localizer.model.backends import set_network_threads, usable_cores

    before = torch.get_num_threads()
    try:
        assert set_network_threads(0) == max(1, usable_cores() - 1) == torch.get_num_threads()
        assert set_network_threads(3) == 3 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
