"""Relocalize a live (or replayed) RGB-D camera against a map and publish map->odom.

  ros2 launch scr_localizer localize.launch.py map:=/path/room.scrmap

Parameters come from config/localize.yaml (or params_file:=...); a launch argument that differs
from its declared default overrides the file. Defaults fit a RealSense driver
(realsense2_camera with align_depth.enable:=true) on a robot publishing odom->base_link.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from scr_localizer.ros import launch_arguments
from scr_localizer.ros.launch_arguments import argument_default, typed_value
from scr_localizer.ros.parameters import LOCALIZE_NODE_PARAMETERS

# launch argument -> node parameter
ARGUMENT_PARAMETERS = {
    "map": "map_path",
    "color_topic": "color_topic",
    "depth_topic": "depth_topic",
    "camera_info_topic": "camera_info_topic",
    "map_frame": "map_frame",
    "odom_frame": "odom_frame",
    "base_frame": "base_frame",
    "camera_frame": "camera_frame",
    "publish_tf": "publish_tf",
    "device": "device",
}
SPECS = {spec.name: spec for spec in LOCALIZE_NODE_PARAMETERS}


def parameter_overrides(context) -> dict:
    """Node parameters set by launch arguments that differ from their declared defaults."""
    values = {a: LaunchConfiguration(a).perform(context) for a in ARGUMENT_PARAMETERS}
    overrides = launch_arguments.parameter_overrides(values, ARGUMENT_PARAMETERS, SPECS)
    if typed_value(LaunchConfiguration("rgb_only").perform(context), False):
        overrides["depth_topic"] = ""
    overrides["use_sim_time"] = typed_value(LaunchConfiguration("use_sim_time").perform(context),
                                            False)
    return overrides


def _launch_node(context):
    overrides = parameter_overrides(context)
    return [Node(
        package="scr_localizer",
        executable="localize_node",
        name="localize_node",
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
    )]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=[FindPackageShare("scr_localizer"), "/config/localize.yaml"],
            description="Node parameters (YAML); the arguments below override it"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (bag replay, simulation)"),
        DeclareLaunchArgument("rgb_only", default_value="false",
                              description="Ignore depth (same as depth_topic:='')"),
    ]
    for argument, parameter in ARGUMENT_PARAMETERS.items():
        spec = SPECS[parameter]
        arguments.append(DeclareLaunchArgument(argument, default_value=argument_default(spec),
                                               description=spec.description))
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_node)])
