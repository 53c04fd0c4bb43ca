"""The launch files build a launch description with the documented arguments.

launch / launch_ros exist only on a ROS 2 install (not on PyPI), so these tests skip elsewhere."""

import importlib.util
from pathlib import Path

import pytest

from scr_localizer.ros.parameters import (
    REALSENSE_CAMERA_INFO_TOPIC,
    REALSENSE_COLOR_TOPIC,
    REALSENSE_DEPTH_TOPIC,
)

LAUNCH = Path(__file__).resolve().parents[1] / "launch"


def _require_launch_ros():
    try:
        import launch  # noqa: F401
        import launch_ros  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"launch_ros cannot be imported here ({exc}); it comes with a ROS 2 install, "
                    "not with the pip-only setup")


def _load(name):
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arguments(description):
    from launch.actions import DeclareLaunchArgument

    return {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}


def _default_text(argument):
    from launch import LaunchContext
    from launch.utilities import perform_substitutions

    return perform_substitutions(LaunchContext(), argument.default_value)


@pytest.mark.parametrize("name, required", [
    ("localize.launch.py", {"map", "color_topic", "depth_topic", "camera_info_topic", "map_frame",
                            "odom_frame", "base_frame", "device", "use_sim_time", "params_file"}),
    ("map.launch.py", {"bag", "map", "color_topic", "depth_topic", "camera_info_topic",
                       "map_frame", "preset", "device", "params_file"}),
])
def test_launch_description_declares_the_arguments(name, required):
    _require_launch_ros()
    arguments = _arguments(_load(name).generate_launch_description())
    assert required <= set(arguments), sorted(required - set(arguments))
    assert _default_text(arguments["color_topic"]) == REALSENSE_COLOR_TOPIC
    assert _default_text(arguments["depth_topic"]) == REALSENSE_DEPTH_TOPIC
    assert _default_text(arguments["camera_info_topic"]) == REALSENSE_CAMERA_INFO_TOPIC
    assert _default_text(arguments["map_frame"]) == "map"


def test_localize_launch_overrides_only_changed_arguments():
    _require_launch_ros()
    from launch import LaunchContext

    module = _load("localize.launch.py")
    context = LaunchContext()
    for name, argument in _arguments(module.generate_launch_description()).items():
        if name == "params_file":
            continue  # its default needs the installed package share folder
        context.launch_configurations[name] = _default_text(argument)
    context.launch_configurations["map"] = "/maps/room.scrmap"
    context.launch_configurations["rgb_only"] = "true"
    assert module.parameter_overrides(context) == {"map_path": "/maps/room.scrmap", "depth_topic": "",
                         "use_sim_time": False}
