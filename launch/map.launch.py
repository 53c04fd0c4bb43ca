"""Build a map from a recorded RGB-D bag (no playback needed) and show its points in RViz.

  ros2 launch scr_localizer map.launch.py bag:=/path/room_bag map:=/path/room.scrmap
  ros2 launch scr_localizer map.launch.py bag:=room_bag map:=room.scrmap preset:=gpu \\
      iterations:=25000 cloud_voxel_m:=0.01

The node reads the bag, trains (progress in the log), writes the map atomically, publishes the
mapped points on map_cloud (sensor_msgs/PointCloud2, latched, in the map frame) and exits; the
launch shuts down with it. A failed run is logged as such and `ros2 launch` exits non-zero.
Parameters come from config/map.yaml (or params_file:=..., keyed /**/map_node); every argument
named after a parameter (map:= for map_path) overrides the file when given, with any value.
No use_respawn: the node is meant to exit when the map is written.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from scr_localizer.ros import launch_arguments
from scr_localizer.ros.launch_arguments import (
    FROM_PARAMS_FILE,
    USE_SIM_TIME,
    argument_description,
    mapping_exit_message,
    typed_value,
)
from scr_localizer.ros.parameters import MAP_NODE_PARAMETERS

SPECS = {spec.name: spec for spec in (*MAP_NODE_PARAMETERS, USE_SIM_TIME)}
# launch argument -> node parameter: every parameter (iterations, preset, cloud_voxel_m, ...),
# map_path as the shorter map:=
ARGUMENT_PARAMETERS = {"map": "map_path", **{name: name for name in SPECS if name != "map_path"}}


class MappingFailed(RuntimeError):
    """Raised from the exit handler: launch then logs it and `ros2 launch` exits with 1."""


def parameter_overrides(context) -> dict:
    """Node parameters set by the launch arguments that were given."""
    values = {a: LaunchConfiguration(a).perform(context) for a in ARGUMENT_PARAMETERS}
    return launch_arguments.parameter_overrides(values, ARGUMENT_PARAMETERS, SPECS)


def _on_node_exit(event, context):
    ok, message = mapping_exit_message(event.returncode)
    if not ok:
        raise MappingFailed(message)
    return [EmitEvent(event=Shutdown(reason=message))]


def _launch_node(context):
    text = {name: LaunchConfiguration(name).perform(context)
            for name in ("params_file", "namespace", "log_level")}
    node = Node(
        package="scr_localizer",
        executable="map_node",
        name="map_node",
        namespace=typed_value(text["namespace"], "", "namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[text["params_file"], parameter_overrides(context)],
        ros_arguments=launch_arguments.ros_arguments(text["log_level"]),
    )
    shutdown_with_node = RegisterEventHandler(OnProcessExit(target_action=node,
                                                            on_exit=_on_node_exit))
    return [node, shutdown_with_node]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(
            "params_file", default_value=[FindPackageShare("scr_localizer"), "/config/map.yaml"],
            description="Node parameters (YAML, keyed /**/map_node); arguments given below "
                        "override it"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node (and of map_cloud)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="Log level: debug, info, warn, error or fatal"),
    ]
    for argument, parameter in ARGUMENT_PARAMETERS.items():
        arguments.append(DeclareLaunchArgument(argument, default_value=FROM_PARAMS_FILE,
                                               description=argument_description(SPECS[parameter])))
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_node)])
