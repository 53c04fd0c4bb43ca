"""Submaps: one head has ACE's capacity, so a whole room or floor is split into spatially
coherent parts, each learned by its own head.

The split clusters the mapping cameras by position and viewing direction (k-means, seeded);
frames near a border also go to the neighbouring parts (overlap), so a query there has a head
that saw it. Each part's region (camera centre, mean viewing direction, radius) is stored with
its head in the map file. The encoder runs once per mapping frame for all parts: a part's
buffer is a re-centred selection of the full buffer's cells.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from scr_localizer.mapping.buffer import CellBuffer

# Viewing directions (unit vectors) are weighted like this many metres of camera position:
# cameras 1 m apart looking the same way are as far apart as cameras at one spot looking
# 60 degrees apart (a unit-vector difference of 1).
VIEW_WEIGHT_M = 1.0


def split_features(world_from_camera: np.ndarray, view_weight_m: float = VIEW_WEIGHT_M
                   ) -> np.ndarray:
    """Fx6: camera position and weighted optical axis (z) of each mapping frame."""
    poses = np.asarray(world_from_camera, dtype=np.float64)
    return np.concatenate([poses[:, :3, 3], view_weight_m * poses[:, :3, 2]], axis=1)


def view_direction_bins(world_from_camera: np.ndarray, min_share: float = 0.02) -> int:
    """In how many of 60 evenly spread directions (~26 degrees apart) the cameras looked,
    counting those that hold at least `min_share` of the frames: how far around the scene
    the mapping run turned (submap_count's `auto`)."""
    axes = np.asarray(world_from_camera, dtype=np.float64)[:, :3, 2]
    if len(axes) == 0:
        return 0
    index = np.arange(60) + 0.5  # a Fibonacci sphere
    polar, azimuth = np.arccos(1 - 2 * index / 60), np.pi * (1 + 5 ** 0.5) * index
    directions = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar),
                           np.cos(polar)], axis=1)
    counts = np.bincount(np.argmax(axes @ directions.T, axis=1), minlength=60)
    return int(np.count_nonzero(counts >= max(1.0, min_share * len(axes))))


def _kmeans(features: np.ndarray, count: int, seed: int, rounds: int = 50) -> np.ndarray:
    """Cluster centres (k-means++ start, Lloyd rounds); deterministic for a seed."""
    rng = np.random.default_rng(seed)
    centres = [features[rng.integers(len(features))]]
    for _ in range(1, count):
        distance = np.min(((features[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        total = distance.sum()
        pick = rng.choice(len(features), p=distance / total) if total > 0 else rng.integers(
            len(features))
        centres.append(features[pick])
    centres = np.asarray(centres)
    for _ in range(rounds):
        nearest = np.argmin(((features[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        moved = np.array([features[nearest == k].mean(axis=0) if np.any(nearest == k)
                          else centres[k] for k in range(count)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres


def split_frames(world_from_camera: np.ndarray, count: int, overlap: float = 0.25,
                 seed: int = 0) -> tuple[list[np.ndarray], list[dict]]:
    """(frame indices of each part, region of each part). A frame belongs to its nearest part
    and to every other part within (1 + overlap) x that distance."""
    poses = np.asarray(world_from_camera, dtype=np.float64)
    features = split_features(poses)
    if count <= 1 or len(poses) <= 1:
        parts = [np.arange(len(poses))]
    else:
        centres = _kmeans(features, min(count, len(poses)), seed)
        distance = np.sqrt(((features[:, None] - centres[None]) ** 2).sum(-1))
        nearest = distance.min(axis=1, keepdims=True)
        member = distance <= (1.0 + overlap) * nearest + 1e-9
        parts = [np.flatnonzero(member[:, k]) for k in range(centres.shape[0])]
        parts = [part for part in parts if len(part)]
    return parts, [region_of(poses[part]) for part in parts]


def region_of(world_from_camera: np.ndarray) -> dict:
    """Where a part's cameras are and where they look (JSON-ready, stored in the map)."""
    positions = world_from_camera[:, :3, 3]
    centre = positions.mean(axis=0)
    direction = world_from_camera[:, :3, 2].mean(axis=0)
    norm = float(np.linalg.norm(direction))
    return {
        "camera_centre": [round(float(v), 4) for v in centre],
        "view_direction": [round(float(v), 4) for v in (direction / norm if norm > 1e-9
                                                        else direction)],
        "radius_m": round(float(np.linalg.norm(positions - centre, axis=1).max()), 4),
        "frames": len(world_from_camera),
    }


def buffer_poses(buffer: CellBuffer) -> np.ndarray:
    """Fx4x4 world_from_camera of the buffer's frames (in the fixed frame)."""
    camera_from_centred = buffer.camera_from_centred.detach().cpu().double().numpy()
    full = np.tile(np.eye(4), (len(camera_from_centred), 1, 1))
    full[:, :3, :] = camera_from_centred
    world = np.linalg.inv(full)
    world[:, :3, 3] += buffer.centre
    return world


def sub_buffer(buffer: CellBuffer, frames: np.ndarray) -> CellBuffer:
    """The cells of these frames, frame ids renumbered and coordinates re-centred on the
    part's own mean camera position (float32 precision stays local to the part)."""
    frames = np.asarray(frames, dtype=np.int64)
    remap = torch.full((buffer.camera_from_centred.shape[0],), -1, dtype=torch.int64)
    remap[torch.from_numpy(frames)] = torch.arange(len(frames))
    frame_cpu = buffer.frame.cpu()
    keep = remap[frame_cpu] >= 0
    world = buffer_poses(buffer)[frames]
    centre = world[:, :3, 3].mean(axis=0)
    centred = world.copy()
    centred[:, :3, 3] -= centre
    camera_from_centred = np.linalg.inv(centred)[:, :3, :]
    device = buffer.descriptors.device
    keep_device = keep.to(device)
    return replace(
        buffer,
        descriptors=buffer.descriptors[keep_device],
        pixels=buffer.pixels[keep_device],
        depth=buffer.depth[keep_device],
        frame=remap[frame_cpu[keep]].to(device),
        colors=buffer.colors[keep.numpy()],
        camera_from_centred=torch.from_numpy(camera_from_centred.astype(np.float32)).to(device),
        intrinsics=buffer.intrinsics[torch.from_numpy(frames).to(buffer.intrinsics.device)],
        centre=centre,
    )
