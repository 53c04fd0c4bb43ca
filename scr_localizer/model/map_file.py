"""The map file: one safetensors file holding everything needed to relocalize in a scene.

Tensors: the head's weights in fp16 (`head.*`) and the scene centre in float64. Metadata (all
strings): format name and version, encoder name and weights hash, head shape, fixed frame id,
training config, source name and mapping statistics (JSON). Loading parses the header ourselves
first so that a wrong file, a wrong version or truncated bytes give one clear line, and never
executes code (no pickle).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import atomic_write
from scr_localizer.model.head import HeadConfig, SceneCoordinateHead

MAP_FORMAT = "scr_localizer.map"
MAP_FORMAT_VERSION = 1
MAP_SUFFIX = ".scrmap"


@dataclass
class SceneMap:
    """A trained scene: the head plus what is needed to trust and use it."""

    head: SceneCoordinateHead
    encoder_name: str
    encoder_hash: str
    fixed_frame: str = "map"
    training_config: dict = field(default_factory=dict)
    source: str = ""
    stats: dict = field(default_factory=dict)
    format_version: int = MAP_FORMAT_VERSION

    @property
    def scene_centre(self) -> np.ndarray:
        return self.head.scene_centre.detach().cpu().double().numpy()

    @property
    def head_config(self) -> HeadConfig:
        return self.head.config


def _tensors(scene_map: SceneMap) -> dict[str, torch.Tensor]:
    tensors = {
        f"head.{name}": value.detach().to("cpu", torch.float16).contiguous()
        for name, value in scene_map.head.state_dict().items()
        if name != "scene_centre"
    }
    tensors["scene_centre"] = torch.from_numpy(np.asarray(scene_map.scene_centre, np.float64))
    return tensors


def map_to_bytes(scene_map: SceneMap) -> bytes:
    from safetensors.torch import save

    metadata = {
        "format": MAP_FORMAT,
        "format_version": str(MAP_FORMAT_VERSION),
        "encoder_name": scene_map.encoder_name,
        "encoder_hash": scene_map.encoder_hash,
        "head_config": json.dumps(scene_map.head.config.to_dict()),
        "fixed_frame": scene_map.fixed_frame,
        "training_config": json.dumps(scene_map.training_config, sort_keys=True, default=str),
        "source": scene_map.source,
        "stats": json.dumps(scene_map.stats, sort_keys=True, default=str),
    }
    return save(_tensors(scene_map), metadata=metadata)


def save_map(scene_map: SceneMap, path: str | Path) -> Path:
    """Write atomically: a temp file in the same folder, fsync, then os.replace."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ScrLocalizerError(f"output folder '{path.parent}' does not exist")
    data = map_to_bytes(scene_map)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path


def _read_header(data: bytes, path: Path) -> tuple[dict, int]:
    if len(data) < 8:
        raise ScrLocalizerError(
            f"map '{path}' is truncated or not a map ({len(data)} bytes); expected a "
            f"{MAP_FORMAT} file written by `scr-localizer map`"
        )
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise ScrLocalizerError(
            f"map '{path}' is truncated or corrupt (header of {header_len} bytes, file of "
            f"{len(data)}); re-create it with `scr-localizer map`"
        )
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (UnicodeDecodeError, ValueError):
        raise ScrLocalizerError(
            f"map '{path}' is corrupt or not a {MAP_FORMAT} file (unreadable header)"
        ) from None
    return header, 8 + header_len


def load_map(path: str | Path, check_encoder: bool = True) -> SceneMap:
    """Read a map; refuse wrong formats, versions, damaged bytes and (by default) maps made with
    an encoder whose weights differ from the installed one."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise ScrLocalizerError(f"map file '{path}' does not exist; create one with `scr-localizer map`")
    data = path.read_bytes()
    header, data_start = _read_header(data, path)
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != MAP_FORMAT:
        raise ScrLocalizerError(
            f"'{path}' is not a {MAP_FORMAT} file (format '{metadata.get('format')}')"
        )
    version = metadata.get("format_version")
    if version != str(MAP_FORMAT_VERSION):
        raise ScrLocalizerError(
            f"map '{path}' has format version {version}; this scr_localizer reads version "
            f"{MAP_FORMAT_VERSION} (re-create the map with this version)"
        )
    payload = len(data) - data_start
    needed = max(
        (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0
    )
    if needed != payload:
        raise ScrLocalizerError(
            f"map '{path}' is truncated or corrupt ({payload} data bytes, expected {needed}); "
            f"re-create it with `scr-localizer map`"
        )
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ScrLocalizerError(f"map '{path}' is corrupt ({exc})") from None

    encoder_name = metadata.get("encoder_name", "")
    encoder_hash = metadata.get("encoder_hash", "")
    if check_encoder:
        from scr_localizer.model.encoder import available_encoders
        from scr_localizer.model.encoder import encoder_hash as installed_hash

        if encoder_name not in available_encoders():
            raise ScrLocalizerError(
                f"map '{path}' was made with encoder '{encoder_name}', which is not installed; "
                f"available: {', '.join(available_encoders())}"
            )
        if installed_hash(encoder_name) != encoder_hash:
            raise ScrLocalizerError(
                f"map '{path}' was made with different '{encoder_name}' encoder weights (hash "
                f"{encoder_hash[:12]}, installed {installed_hash(encoder_name)[:12]}); "
                f"re-create the map with the installed encoder"
            )
    try:
        head_config = HeadConfig.from_dict(json.loads(metadata["head_config"]))
        head = SceneCoordinateHead(head_config)
        state = {k[len("head."):]: v.float() for k, v in tensors.items() if k.startswith("head.")}
        state["scene_centre"] = tensors["scene_centre"].float()
        head.load_state_dict(state)
        training_config = json.loads(metadata.get("training_config", "{}"))
        stats = json.loads(metadata.get("stats", "{}"))
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise ScrLocalizerError(f"map '{path}' is corrupt or incomplete ({exc})") from None
    head.eval()
    return SceneMap(
        head=head,
        encoder_name=encoder_name,
        encoder_hash=encoder_hash,
        fixed_frame=metadata.get("fixed_frame", "map"),
        training_config=training_config,
        source=metadata.get("source", ""),
        stats=stats,
        format_version=int(version),
    )
