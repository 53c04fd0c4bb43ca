"""Which number format the head's hidden layers run in, for training and inference alike.

On CUDA: float16 autocast (tensor cores). On a CPU that computes bfloat16 natively (Intel AMX or
AVX512-BF16; oneDNN runs the matmuls there): bfloat16 autocast. Elsewhere: float32, because
emulated bfloat16 is slower than float32. The head's last layer, the division by w and the scene
offset stay float32 in every case (`SceneCoordinateHead.forward_cells`).

Measured on the 2-core development machine (Xeon with AMX), head 64-512-512-512-4: inference on
2400 cells 4.6 -> 1.1 ms; a training step on 5120 cells (forward, backward, AdamW) 66.6 ->
23.4 ms. Scene coordinates of a redkitchen map moved by 1.5 mm median (p99 20 mm) against
float32.
"""

from __future__ import annotations

import torch

from scr_localizer.errors import ScrLocalizerError

PRECISIONS = ("auto", "float32")


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has bfloat16 matmul instructions (AMX tiles or AVX512-BF16)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # noqa: BLE001 - private probes: absent in a torch version means no
        return False


def check_precision(precision: str) -> None:
    """One-line error for a precision that is not one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ScrLocalizerError(
            f"unknown precision '{precision}'; expected one of {', '.join(PRECISIONS)}")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for the head on `device`, or None for plain float32.

    precision 'auto': float16 on CUDA, bfloat16 on a CPU that computes it natively, float32
    otherwise; 'float32': always float32 (bit-for-bit the reference)."""
    check_precision(precision)
    if precision == "float32":
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_computes_bfloat16():
        return torch.bfloat16
    return None


def float32_cpu_steps(device: torch.device, mixed_precision: bool = True) -> bool:
    """Whether the head's training steps run in float32 on a CPU (about three times the cost
    of bfloat16 ones; MappingConfig.passes_float32 plans for it)."""
    return device.type == "cpu" and autocast_dtype(
        device, "auto" if mixed_precision else "float32") is None
