"""The map file: one safetensors file holding everything needed to relocalize in a scene.

Tensors: the head's weights in fp16 (`head.*`), the scene centre in float64 and, optionally, the
depth keyframes of the measured surface (`keyframes.*`, geometry.surface; maps written before
they existed load without them). Metadata (all
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
from scr_localizer.geometry.surface import DepthKeyframes
from scr_localizer.io.atomic import atomic_write
from scr_localizer.model.head import HeadConfig, SceneCoordinateHead

MAP_FORMAT = "scr_localizer.map"
MAP_FORMAT_VERSION = 1
# Maps with several heads (submaps) are version 2: older readers then refuse them by version
# with a clear line instead of misreading them; single-head maps stay version 1, byte for byte.
SUBMAP_FORMAT_VERSION = 2
READ_VERSIONS = (MAP_FORMAT_VERSION, SUBMAP_FORMAT_VERSION)
MAX_SUBMAPS = 256
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
    # Submaps: heads over further parts of the scene (same shape as `head`), and one region per
    # head in `heads` order (mapping.submaps.region_of), empty for a single-head map.
    extra_heads: list[SceneCoordinateHead] = field(default_factory=list)
    regions: list[dict] = field(default_factory=list)

    @property
    def heads(self) -> list[SceneCoordinateHead]:
        """Every head: the first is `head`, the one a single-head map has."""
        return [self.head, *self.extra_heads]
    keyframes: DepthKeyframes | None = None  # measured surface for the RGB-D refinement

    @property
    def scene_centre(self) -> np.ndarray:
        return self.head.scene_centre.detach().cpu().double().numpy()

    @property
    def head_config(self) -> HeadConfig:
        return self.head.config


def _head_prefix(index: int) -> str:
    """Tensor name prefix of head `index`: '' for the first (the version 1 names)."""
    return "" if index == 0 else f"submap{index}."


def _tensors(scene_map: SceneMap) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, head in enumerate(scene_map.heads):
        prefix = _head_prefix(index)
        tensors.update({
            f"{prefix}head.{name}": value.detach().to("cpu", torch.float16).contiguous()
            for name, value in head.state_dict().items() if name != "scene_centre"})
        tensors[f"{prefix}scene_centre"] = head.scene_centre.detach().cpu().double().contiguous()
    keyframes = scene_map.keyframes
    if keyframes is not None and len(keyframes):
        tensors["keyframes.world_from_camera"] = torch.from_numpy(
            np.ascontiguousarray(keyframes.world_from_camera, np.float64))
        tensors["keyframes.intrinsics"] = torch.from_numpy(
            np.ascontiguousarray(keyframes.intrinsics, np.float32))
        tensors["keyframes.depth"] = torch.from_numpy(
            np.ascontiguousarray(keyframes.depth, np.float32)).to(torch.float16)
    return tensors


KEYFRAME_TENSORS = ("keyframes.world_from_camera", "keyframes.intrinsics", "keyframes.depth")


def _non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of tensors holding NaN or inf (in the stored dtype: fp16 overflows past 65504)."""
    return sorted(name for name, value in tensors.items()
                  if not bool(torch.isfinite(value).all()))


def map_to_bytes(scene_map: SceneMap) -> bytes:
    """The file's bytes; refuses a map whose weights or centre are not finite (a diverged
    training run), so no such map is ever written."""
    from safetensors.torch import save

    tensors = _tensors(scene_map)
    bad = _non_finite(tensors)
    if bad:
        loss = scene_map.stats.get("final_loss", "unknown")
        raise ScrLocalizerError(
            f"the trained map is not finite (NaN/inf in {', '.join(bad[:3])}"
            f"{'...' if len(bad) > 3 else ''}; final loss {loss}), so it was not written; "
            "expected finite camera intrinsics, poses and depth in the mapping data")
    submaps = len(scene_map.heads) > 1
    if submaps and (len(scene_map.regions) != len(scene_map.heads)
                    or any(h.config != scene_map.head.config for h in scene_map.extra_heads)):
        raise ScrLocalizerError(
            f"a map with {len(scene_map.heads)} heads needs one region per head and heads of "
            f"one shape (got {len(scene_map.regions)} regions)")
    metadata = {
        "format": MAP_FORMAT,
        "format_version": str(SUBMAP_FORMAT_VERSION if submaps else MAP_FORMAT_VERSION),
        "encoder_name": scene_map.encoder_name,
        "encoder_hash": scene_map.encoder_hash,
        "head_config": json.dumps(scene_map.head.config.to_dict()),
        "fixed_frame": scene_map.fixed_frame,
        "training_config": json.dumps(scene_map.training_config, sort_keys=True, default=str),
        "source": scene_map.source,
        "stats": json.dumps(scene_map.stats, sort_keys=True, default=str),
    }
    if submaps:
        metadata["submaps"] = json.dumps(scene_map.regions, sort_keys=True)
    return save(tensors, metadata=metadata)


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


# Bounds on a head a map file may describe (the presets use input 64, width <= 512, 3 layers):
# checked against the header before anything is allocated.
_HEAD_LIMITS = {"input_dim": (1, 4096), "width": (1, 16384), "hidden_layers": (0, 32)}
_FLOAT_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}


def _corrupt(path: Path, detail: str) -> ScrLocalizerError:
    return ScrLocalizerError(f"map '{path}' is corrupt or incomplete ({detail}); re-create it "
                             "with `scr-localizer map`")


def _check_metadata(metadata, path: Path) -> dict:
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _corrupt(path, "__metadata__ is not a table of strings")
    return metadata


def _check_entries(entries: dict, payload: int, path: Path) -> None:
    """Every tensor entry well-typed, its byte range matching dtype x shape, the ranges tiling
    the payload exactly: after this, loading allocates no more than the file holds."""
    spans = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise _corrupt(path, f"tensor entry '{name}' is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _FLOAT_DTYPES:
            raise _corrupt(path, f"tensor '{name}' has dtype {dtype!r}; expected one of "
                           f"{', '.join(_FLOAT_DTYPES)}")
        if not (isinstance(shape, list) and all(_is_int(n) and n >= 0 for n in shape)):
            raise _corrupt(path, f"tensor '{name}' has shape {shape!r}; expected a list of "
                           "sizes >= 0")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
                and 0 <= offsets[0] <= offsets[1]):
            raise _corrupt(path, f"tensor '{name}' has data_offsets {offsets!r}; expected "
                           "[begin, end] byte offsets")
        size = int(np.prod(shape, dtype=np.float64)) * _FLOAT_DTYPES[dtype]
        if offsets[1] - offsets[0] != size:
            raise _corrupt(path, f"tensor '{name}' of shape {shape} needs {size} bytes but "
                           f"its data_offsets span {offsets[1] - offsets[0]}")
        spans.append(offsets)
    needed = max((end for _, end in spans), default=0)
    if needed != payload:
        raise ScrLocalizerError(
            f"map '{path}' is truncated or corrupt ({payload} data bytes, expected {needed}); "
            f"re-create it with `scr-localizer map`"
        )
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise _corrupt(path, "tensor data ranges overlap")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _head_config(metadata: dict, path: Path) -> HeadConfig:
    try:
        values = json.loads(metadata["head_config"])
    except KeyError:
        raise _corrupt(path, "no head_config in the metadata") from None
    except ValueError as exc:
        raise _corrupt(path, f"head_config is not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise _corrupt(path, "head_config is not an object")
    for key, (low, high) in _HEAD_LIMITS.items():
        value = values.get(key)
        if not (_is_int(value) and low <= value <= high):
            raise _corrupt(path, f"head_config {key} is {value!r}; expected an integer in "
                           f"[{low}, {high}]")
    min_w = values.get("min_w", HeadConfig.min_w)
    if not (isinstance(min_w, (int, float)) and not isinstance(min_w, bool)
            and 0.0 < min_w <= 1.0):
        raise _corrupt(path, f"head_config min_w is {min_w!r}; expected a number in (0, 1]")
    return HeadConfig.from_dict(values)


def _expected_shapes(config: HeadConfig, heads: int = 1) -> dict[str, list[int]]:
    dims = [config.input_dim] + [config.width] * config.hidden_layers
    shapes = {}
    for index in range(heads):
        prefix = _head_prefix(index)
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            shapes[f"{prefix}head.layers.{i}.weight"] = [b, a, 1, 1]
            shapes[f"{prefix}head.layers.{i}.bias"] = [b]
        shapes[f"{prefix}head.output.weight"] = [4, dims[-1], 1, 1]
        shapes[f"{prefix}head.output.bias"] = [4]
        shapes[f"{prefix}scene_centre"] = [3]
    return shapes


def _regions(metadata: dict, version: int, path: Path) -> list[dict]:
    """The submaps' regions of a version 2 map ([] for version 1), checked before any head is
    allocated."""
    if version == MAP_FORMAT_VERSION:
        return []
    try:
        regions = json.loads(metadata["submaps"])
    except KeyError:
        raise _corrupt(path, "a version 2 map without its submaps metadata") from None
    except ValueError as exc:
        raise _corrupt(path, f"submaps is not JSON: {exc}") from None
    if not (isinstance(regions, list) and 2 <= len(regions) <= MAX_SUBMAPS
            and all(isinstance(r, dict) for r in regions)):
        raise _corrupt(path, f"submaps is not a list of 2 to {MAX_SUBMAPS} regions")
    return regions


def estimated_map_bytes(config: HeadConfig, heads: int = 1) -> int:
    """Size of a map file with this head (fp16 weights, float64 centre, ~16 KB of metadata),
    for the free-space check before a mapping run."""
    shapes = _expected_shapes(config)
    weights = sum(int(np.prod(shape)) for name, shape in shapes.items() if name != "scene_centre")
    return heads * (2 * weights + 8 * 3) + 16_384


def _check_keyframe_shapes(entries: dict, path: Path) -> None:
    """The optional keyframe tensors: all three or none, with agreeing shapes."""
    present = [name for name in KEYFRAME_TENSORS if name in entries]
    if not present:
        return
    if len(present) != len(KEYFRAME_TENSORS):
        raise _corrupt(path, f"keyframe tensors incomplete (only {', '.join(present)})")
    poses, intrinsics, depth = (entries[name]["shape"] for name in KEYFRAME_TENSORS)
    count = poses[0] if poses else -1
    if (poses[1:] != [4, 4] or intrinsics != [count, 4] or len(depth) != 3
            or depth[0] != count):
        raise _corrupt(path, f"keyframe tensors disagree (poses {poses}, intrinsics "
                       f"{intrinsics}, depth {depth}); expected Kx4x4, Kx4 and KxHxW")


def _check_shapes(entries: dict, config: HeadConfig, path: Path, heads: int = 1) -> None:
    expected = _expected_shapes(config, heads)
    _check_keyframe_shapes(entries, path)
    entries = {k: v for k, v in entries.items() if k not in KEYFRAME_TENSORS}
    missing = sorted(set(expected) - set(entries))
    extra = sorted(set(entries) - set(expected))
    if missing or extra:
        raise _corrupt(path, f"tensors do not match head_config: missing {missing[:3]}, "
                       f"unexpected {extra[:3]}")
    for name, shape in expected.items():
        if entries[name]["shape"] != shape:
            raise _corrupt(path, f"tensor '{name}' has shape {entries[name]['shape']}, "
                           f"head_config says {shape}")


def load_map(path: str | Path, check_encoder: bool = True) -> SceneMap:
    """Read a map; refuse wrong formats, versions, damaged bytes and (by default) maps made with
    an encoder whose weights differ from the installed one."""
    from safetensors.torch import load

    path = Path(path)
    if path.is_dir():
        raise ScrLocalizerError(
            f"map path '{path}' is a folder; expected a map file written by `scr-localizer map`")
    if not path.is_file():
        raise ScrLocalizerError(f"map file '{path}' does not exist; create one with `scr-localizer map`")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScrLocalizerError(f"cannot read map '{path}': {exc.strerror or exc}") from None
    header, data_start = _read_header(data, path)
    metadata = _check_metadata(header.get("__metadata__", {}), path)
    if metadata.get("format") != MAP_FORMAT:
        raise ScrLocalizerError(
            f"'{path}' is not a {MAP_FORMAT} file (format '{metadata.get('format')}')"
        )
    version = metadata.get("format_version")
    if version not in [str(v) for v in READ_VERSIONS]:
        raise ScrLocalizerError(
            f"map '{path}' has format version {version}; this scr_localizer reads version "
            f"{' or '.join(map(str, READ_VERSIONS))} (re-create the map with this version)"
        )
    regions = _regions(metadata, int(version), path)
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    _check_entries(entries, len(data) - data_start, path)
    head_config = _head_config(metadata, path)
    _check_shapes(entries, head_config, path, max(1, len(regions)))
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ScrLocalizerError(f"map '{path}' is corrupt ({exc})") from None
    bad = _non_finite(tensors)
    if bad:
        raise ScrLocalizerError(
            f"map '{path}' has non-finite values (NaN/inf) in {', '.join(bad[:3])}"
            f"{'...' if len(bad) > 3 else ''}; it cannot localize (re-create it with "
            "`scr-localizer map`)")

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
        heads = []
        for index in range(max(1, len(regions))):
            prefix = f"{_head_prefix(index)}head."
            head = SceneCoordinateHead(head_config)
            state = {k[len(prefix):]: v.float() for k, v in tensors.items()
                     if k.startswith(prefix)}
            state["scene_centre"] = tensors[f"{_head_prefix(index)}scene_centre"].float()
            head.load_state_dict(state)
            heads.append(head.eval())
        head = heads[0]
        keyframes = None
        if KEYFRAME_TENSORS[0] in tensors:
            keyframes = DepthKeyframes(*(tensors[name].double().numpy() if i == 0 else
                                         tensors[name].float().numpy()
                                         for i, name in enumerate(KEYFRAME_TENSORS)))
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
        extra_heads=heads[1:],
        regions=regions,
        keyframes=keyframes,
    )
