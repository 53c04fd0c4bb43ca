"""Where the frozen encoder runs: PyTorch (the default) or ONNX Runtime on the CPU.

ONNX Runtime is an optional dependency (`pip install onnxruntime`). Its graph is exported once per
encoder and input layout from the PyTorch module (TorchScript-based exporter, opset 17) and
cached on disk under the encoder's weight hash, so a map file never changes and a new encoder
version gets a new graph. Measured here (640x480, 2 threads): the exported XFeat backbone gives
descriptors within 1.2e-5 of PyTorch's, and ran in 15.7 ms against 22.9 ms for PyTorch eager.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.log import get_logger

LOG = get_logger(__name__)
BACKENDS = ("torch", "onnxruntime", "auto")
ONNX_OPSET = 17


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - absent or broken: either way not usable
        return False
    return True


def resolve_backend(requested: str, device: torch.device,
                    cpu_dtype: torch.dtype | None = None) -> str:
    """'torch' or 'onnxruntime'. auto: PyTorch on CUDA (fp16 autocast) and on a CPU where the
    network runs in bfloat16 (`cpu_dtype`, model.precision); elsewhere on the CPU ONNX Runtime
    when it is installed.

    Encoder alone on a redkitchen-sized frame, 2 cores with AMX, interleaved medians: PyTorch
    channels-last with bfloat16 coarse blocks 8.7 ms (1 thread: 13.4), ONNX Runtime 13.8 ms
    (20.3), PyTorch channels-last float32 11.4 ms (19.0), PyTorch eager 17.2 ms (24.8). ONNX
    Runtime stays the choice without bfloat16: float32 channels-last was not measured on a
    CPU without AMX, where it may lose (eager did, 22.9 against 15.7 ms). Measured since on a
    CPU without bfloat16 (AMD EPYC, 2 cores, AVX2; best of three runs of 20, 2026-12-07): ONNX
    Runtime 24.1-27.3 ms (1 thread: 36.7), PyTorch channels-last float32 34.2-34.6 ms (49.3),
    PyTorch eager 37.5-39.4 ms (52.4). So ONNX Runtime stays the choice there."""
    if requested not in BACKENDS:
        raise ScrLocalizerError(
            f"unknown inference backend '{requested}'; expected one of {', '.join(BACKENDS)}")
    if requested == "torch":
        return "torch"
    usable = device.type == "cpu" and onnxruntime_available()
    if requested == "onnxruntime" and not usable:
        why = ("runs on the CPU only here" if device.type != "cpu"
               else "is not installed (pip install onnxruntime)")
        raise ScrLocalizerError(f"inference backend 'onnxruntime' {why}; use backend torch "
                                "or auto")
    if requested == "auto" and (not usable or cpu_dtype == torch.bfloat16):
        return "torch"
    return "onnxruntime"


class ChannelsLastEncoder:
    """PyTorch on the CPU: a channels-last copy of the encoder (oneDNN's fast layout; the
    descriptors are the eager module's within 1e-5), with its coarse blocks in `dtype` when the
    CPU computes bfloat16 natively (Encoder.forward_mixed)."""

    def __init__(self, encoder, dtype: torch.dtype | None = None):
        self.module = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
        self.dtype = dtype

    def __call__(self, gray: torch.Tensor) -> torch.Tensor:
        gray = gray.contiguous(memory_format=torch.channels_last)
        return self.module(gray) if self.dtype is None else self.module.forward_mixed(
            gray, self.dtype)


def encoder_runner(encoder, device: torch.device, backend: str = "auto",
                   cpu_dtype: torch.dtype | None = None):
    """(callable 1x1xHxW float gray on `device` -> 1xDxRxC float32 descriptors, the backend
    it uses): the one way mapping and localization run the frozen encoder. ONNX Runtime where
    resolve_backend picks it (auto falls back to PyTorch, with a warning, when it cannot be set
    up), a ChannelsLastEncoder on the CPU otherwise, the module itself on CUDA."""
    chosen = resolve_backend(backend, device, cpu_dtype)
    if chosen == "onnxruntime":
        try:
            return OnnxEncoder(encoder), "onnxruntime"
        except Exception as exc:  # noqa: BLE001 - export or session: either way unusable
            if backend != "auto":
                raise ScrLocalizerError(
                    f"inference backend 'onnxruntime' could not be set up ({exc}); use "
                    "backend torch or auto") from None
            LOG.warning(f"backend auto: ONNX Runtime could not be set up ({exc}); using "
                        "PyTorch")
    if device.type == "cpu":
        return ChannelsLastEncoder(encoder, cpu_dtype), "torch"
    return encoder, "torch"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_network_threads(threads: int = 0) -> int:
    """Set the CPU threads of the network (torch's intra-op threads; ONNX Runtime sessions made
    afterwards use as many). 0: every usable core but one, for a pipeline whose solver stage
    runs beside the network (the node). Returns the number set.

    Measured with bench_ros_node (2 cores, 30 Hz RGB-D, player on the same cores): a 2-thread
    encoder beside the solver thread gave 26.7 fixes/s at p50 91 / p95 118 ms; 1 thread gave
    29.8 fixes/s at p50 53 / p95 66 ms (the two stages stopped preempting each other)."""
    count = int(threads) if threads and threads > 0 else max(1, usable_cores() - 1)
    torch.set_num_threads(count)
    return count


def cache_dir() -> Path:
    """$SCR_LOCALIZER_CACHE, else $XDG_CACHE_HOME/scr_localizer, else ~/.cache/scr_localizer."""
    if os.environ.get("SCR_LOCALIZER_CACHE"):
        return Path(os.environ["SCR_LOCALIZER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scr_localizer"


def export_encoder(encoder, path: Path) -> Path:
    """The encoder's graph as ONNX at `path` (written atomically), dynamic height and width."""
    from scr_localizer.io.atomic import atomic_temp_path

    example = torch.zeros(1, 1, 480, 640)
    with atomic_temp_path(path) as temp, torch.inference_mode(False), torch.no_grad(), \
            warnings.catch_warnings():
        # Tracer notes on shape checks, and instance_norm exported with input statistics,
        # which is what XFeat's InstanceNorm (no running stats) computes anyway.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder.cpu(), (example,), str(temp), input_names=["gray"],
            output_names=["descriptors"], opset_version=ONNX_OPSET, dynamo=False,
            dynamic_axes={"gray": {2: "height", 3: "width"},
                          "descriptors": {2: "rows", 3: "cols"}})
    return path


class OnnxEncoder:
    """Callable like the PyTorch encoder (1x1xHxW float gray -> 1xDxRxC descriptors)."""

    def __init__(self, encoder, threads: int | None = None):
        import onnxruntime

        self.name, self.stride = encoder.name, encoder.stride
        path = cache_dir() / "onnx" / f"{encoder.name}-{encoder.weights_hash[:16]}-op{ONNX_OPSET}.onnx"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            LOG.info(f"exporting the {encoder.name} encoder to ONNX once: {path}")
            export_encoder(encoder, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        # ONNX Runtime's threads spin after each run by default; the head and the solver run
        # right after in PyTorch/OpenCV threads on the same cores. Measured with spinning (2
        # cores): head 4 -> 14-110 ms per frame.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def __call__(self, gray: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(gray.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {"gray": array})[0])
