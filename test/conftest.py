"""Shared fixtures: the real redkitchen data and isolated ROS 2 environments."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Shared 2-core machines: OpenMP worker threads that spin while waiting make oversubscribed torch
# runs 10-20x slower (measured: XFeat 640x480 1.9 s vs 0.09 s). libgomp reads this when torch is
# first imported, so it is set here, before any test module imports torch; children inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("SCR_REDKITCHEN", REPO.parent / "shared" / "data" / "redkitchen"))


@pytest.fixture(scope="session")
def redkitchen() -> Path:
    if not (REDKITCHEN / "frame-000000.color.jpg").exists():
        pytest.skip(f"redkitchen data not found at {REDKITCHEN} (set SCR_REDKITCHEN to its folder)")
    return REDKITCHEN


@pytest.fixture
def ros_env(tmp_path) -> dict[str, str]:
    """Environment for child processes: its own DDS domain and log folder, localhost only."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    return env


# Mapping frames for the small real map: every 3rd frame of 0-49 and 100-149. Queries from
# 50-99 are between the two mapped stretches, so a decent map localizes them.
SMALL_MAP_FRAMES = list(range(0, 50, 3)) + list(range(100, 150, 3))


@pytest.fixture(scope="session")
def small_redkitchen_map(redkitchen, tmp_path_factory) -> Path:
    """A small real map (a few dozen redkitchen frames, tens of seconds on a CPU), saved with
    save_map; returns its path. Owned by the mapping engine (test_mapping*.py)."""
    from scr_localizer.io.seven_scenes import iter_frames
    from scr_localizer.mapping.trainer import preset, train_map
    from scr_localizer.model.map_file import save_map

    # float32 on every CPU: the map then does not depend on whether the CI machine computes
    # bfloat16 (model.precision), so what passes on one kind of machine passes on the other.
    config = preset("small", device="cpu", mixed_precision=False)
    scene_map = train_map(
        iter_frames(redkitchen, SMALL_MAP_FRAMES), config, source="redkitchen (test fixture)"
    )
    path = tmp_path_factory.mktemp("small_map") / "redkitchen_small.scrmap"
    save_map(scene_map, path)
    return path
