"""Shared fixtures: the real redkitchen data and isolated ROS 2 environments."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

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
