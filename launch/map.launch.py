"""Build a map from a recorded RGB-D bag (no playback needed) and show its points in RViz.

  ros2 launch scr_localizer map.launch.py bag:=/path/room_bag map:=/path/room.scrmap

The node reads the bag, trains (progress in the log), writes the map atomically, publishes the
mapped points on /map_cloud (sensor_msgs/PointCloud2, latched, in the map frame) and exits; the
launch shuts down with it. Parameters come from config/map.yaml (or params_file:=...); a launch
argument that differs from its declared default overrides the file.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from scr_localizer.ros import launch_arguments
from scr_localizer.ros.launch_arguments import argument_default
from scr_localizer.ros.parameters import MAP_NODE_PARAMETERS

ARGUMENT_PARAMETERS = {
    "bag": "bag",
    "map": "map_path",
    "color_topic": "color_topic",
    "depth_topic": "depth_topic",
    "camera_info_topic": "camera_info_topic",
    "map_frame": "map_frame",
    "camera_frame": "camera_frame",
    "preset": "preset",
    "device": "device",
    "keep_alive_s": "keep_alive_s",
}
SPECS = {spec.name: spec for spec in MAP_NODE_PARAMETERS}


def parameter_overrides(context) -> dict:
    """Node parameters set by launch arguments that differ from their declared defaults."""
    values = {a: LaunchConfiguration(a).perform(context) for a in ARGUMENT_PARAMETERS}
    return launch_arguments.parameter_overrides(values, ARGUMENT_PARAMETERS, SPECS)


def _launch_node(context):
    overrides = parameter_overrides(context)
    node = Node(
        package="scr_localizer",
        executable="map_node",
        name="map_node",
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
    )
    shutdown_with_node = RegisterEventHandler(OnProcessExit(
        target_action=node, on_exit=[EmitEvent(event=Shutdown(reason="map_node finished"))]))
    return [node, shutdown_with_node]


def generate_launch_description():
    arguments = [DeclareLaunchArgument(
        "params_file", default_value=[FindPackageShare("scr_localizer"), "/config/map.yaml"],
        description="Node parameters (YAML); the arguments below override it")]
    for argument, parameter in ARGUMENT_PARAMETERS.items():
        spec = SPECS[parameter]
        arguments.append(DeclareLaunchArgument(argument, default_value=argument_default(spec),
                                               description=spec.description))
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_node)])
