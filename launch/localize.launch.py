"""Relocalize a live (or replayed) RGB-D camera against a map and publish map->odom.

  ros2 launch scr_localizer localize.launch.py map:=/path/room.scrmap
  ros2 launch scr_localizer localize.launch.py namespace:=robot1 params_file:=robot1.yaml \\
      tf_topic:=tf tf_static_topic:=tf_static odom_frame:="''"

Parameters come from config/localize.yaml (or params_file:=..., keyed /**/localize_node). Every
argument named after a parameter (map:= for map_path) overrides the file when it is given, with
any value; the ones not given keep the file's. Empty strings are written `''`. Defaults fit a
RealSense driver (realsense2_camera with align_depth.enable:=true) in the same namespace, on a
robot publishing odom->base_link.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from scr_localizer.ros import launch_arguments
from scr_localizer.ros.launch_arguments import (
    FROM_PARAMS_FILE,
    USE_SIM_TIME,
    argument_description,
    typed_value,
)
from scr_localizer.ros.parameters import LOCALIZE_NODE_PARAMETERS

# use_sim_time is declared by rclpy itself, the others by the node
SPECS = {spec.name: spec for spec in (*LOCALIZE_NODE_PARAMETERS, USE_SIM_TIME)}
# launch argument -> node parameter: every parameter, map_path as the shorter map:=
ARGUMENT_PARAMETERS = {"map": "map_path", **{name: name for name in SPECS if name != "map_path"}}


def parameter_overrides(context) -> dict:
    """Node parameters set by the launch arguments that were given."""
    values = {a: LaunchConfiguration(a).perform(context) for a in ARGUMENT_PARAMETERS}
    overrides = launch_arguments.parameter_overrides(values, ARGUMENT_PARAMETERS, SPECS)
    if typed_value(LaunchConfiguration("rgb_only").perform(context), False, "rgb_only"):
        overrides["depth_topic"] = ""
    return overrides


def _launch_node(context):
    text = {name: LaunchConfiguration(name).perform(context)
            for name in ("params_file", "namespace", "log_level", "use_respawn", "tf_topic",
                         "tf_static_topic", "pose_topic")}
    return [Node(
        package="scr_localizer",
        executable="localize_node",
        name="localize_node",
        namespace=typed_value(text["namespace"], "", "namespace"),
        output="screen",
        emulate_tty=True,
        respawn=typed_value(text["use_respawn"], False, "use_respawn"),
        respawn_delay=2.0,
        parameters=[text["params_file"], parameter_overrides(context)],
        # nav2-style namespaced TF: tf_topic:=tf tf_static_topic:=tf_static
        remappings=[("/tf", text["tf_topic"]), ("/tf_static", text["tf_static_topic"]),
                    ("~/pose", text["pose_topic"])],
        ros_arguments=launch_arguments.ros_arguments(text["log_level"]),
    )]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=[FindPackageShare("scr_localizer"), "/config/localize.yaml"],
            description="Node parameters (YAML, keyed /**/localize_node); arguments given "
                        "below override it"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node (relative topics resolve in it)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="Log level: debug, info, warn, error or fatal"),
        DeclareLaunchArgument("use_respawn", default_value="false",
                              description="Restart the node if it dies"),
        DeclareLaunchArgument("tf_topic", default_value="/tf",
                              description="Topic /tf is remapped to (tf: the namespace's own)"),
        DeclareLaunchArgument("tf_static_topic", default_value="/tf_static",
                              description="Topic /tf_static is remapped to"),
        DeclareLaunchArgument("pose_topic", default_value="~/pose",
                              description="Topic ~/pose is remapped to (amcl_pose for nav2)"),
        DeclareLaunchArgument("rgb_only", default_value="false",
                              description="Ignore depth (same as depth_topic:=\"''\")"),
    ]
    for argument, parameter in ARGUMENT_PARAMETERS.items():
        arguments.append(DeclareLaunchArgument(argument, default_value=FROM_PARAMS_FILE,
                                               description=argument_description(SPECS[parameter])))
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_node)])
