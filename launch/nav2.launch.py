"""nav2 navigation with scr_localizer in place of AMCL (an example to copy and adapt).

  ros2 launch scr_localizer nav2.launch.py map:=room.scrmap occupancy_map:=room.yaml \\
      nav2_params_file:=/path/nav2_params.yaml

What nav2_bringup's bringup_launch.py starts with AMCL, with the localizer instead:
- nav2_map_server serves the occupancy grid (`occupancy_map:=`, a map_server YAML) for the
  costmaps and planners, as before;
- the localization node (localize.launch.py with use_lifecycle:=true) publishes map->odom and
  ~/pose, remapped to amcl_pose, and takes `initialpose` from RViz's "2D Pose Estimate";
- one lifecycle_manager (lifecycle_manager_localization, as in nav2) configures and activates
  both; bond_timeout:=0.0 unless bondpy is installed (then the node forms the bond itself and
  bond_timeout:=4.0 may be given);
- nav2_bringup's navigation_launch.py starts the planner, controller, behaviours and BT
  navigator with their own lifecycle manager.
Arguments of localize.launch.py (color_topic:=, base_frame:=, two_d_mode:= ...) pass through.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from scr_localizer.ros.launch_arguments import FROM_PARAMS_FILE

# Passed to localize.launch.py when given (its other arguments keep the params file's values).
PASSED_THROUGH = ("color_topic", "depth_topic", "camera_info_topic", "base_frame", "odom_frame",
                  "device")
LOCALIZE_ARGUMENTS = ("map", "params_file", "two_d_mode", "use_sim_time", "log_level",
                      *PASSED_THROUGH)


def generate_launch_description():
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    autostart = LaunchConfiguration("autostart")
    localize_arguments = {name: LaunchConfiguration(name) for name in LOCALIZE_ARGUMENTS}
    # ~/pose as amcl_pose, where nav2 tools (and the simple commander's users) look for it
    localize_arguments.update(namespace="", use_lifecycle="true", autostart="false",
                              pose_topic="amcl_pose")
    return LaunchDescription([
        DeclareLaunchArgument("map", description="scr_localizer map (.scrmap)"),
        DeclareLaunchArgument("occupancy_map",
                              description="Occupancy grid YAML for nav2_map_server"),
        DeclareLaunchArgument("nav2_params_file",
                              default_value=PathJoinSubstitution([
                                  FindPackageShare("nav2_bringup"), "params",
                                  "nav2_params.yaml"]),
                              description="nav2 parameters (navigation servers, map_server)"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([
                                  FindPackageShare("scr_localizer"), "config",
                                  "localize.yaml"]),
                              description="scr_localizer node parameters"),
        DeclareLaunchArgument("namespace", default_value="", description="Robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="Configure and activate the stack at start-up"),
        DeclareLaunchArgument("bond_timeout", default_value="0.0",
                              description="lifecycle_manager bond timeout (0 = no bond; 4.0 "
                                          "with bondpy installed)"),
        DeclareLaunchArgument("two_d_mode", default_value="true",
                              description="Planar map->odom (x, y, yaw), as AMCL's"),
        DeclareLaunchArgument("log_level", default_value="info"),
        *[DeclareLaunchArgument(name, default_value=FROM_PARAMS_FILE,
                                description="Passed to localize.launch.py when given")
          for name in PASSED_THROUGH],
        GroupAction([
            PushRosNamespace(namespace),
            Node(package="nav2_map_server", executable="map_server", name="map_server",
                 output="screen",
                 parameters=[LaunchConfiguration("nav2_params_file"),
                             {"yaml_filename": LaunchConfiguration("occupancy_map"),
                              "use_sim_time": use_sim_time}]),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(PathJoinSubstitution([
                    FindPackageShare("scr_localizer"), "launch", "localize.launch.py"])),
                launch_arguments=localize_arguments.items()),
            Node(package="nav2_lifecycle_manager", executable="lifecycle_manager",
                 name="lifecycle_manager_localization", output="screen",
                 parameters=[{"use_sim_time": use_sim_time, "autostart": autostart,
                              "node_names": ["map_server", "localize_node"],
                              "bond_timeout": LaunchConfiguration("bond_timeout")}]),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(PathJoinSubstitution([
                    FindPackageShare("nav2_bringup"), "launch", "navigation_launch.py"])),
                launch_arguments={"namespace": "", "use_sim_time": use_sim_time,
                                  "autostart": autostart,
                                  "params_file": LaunchConfiguration("nav2_params_file")}.items()),
        ]),
    ])
