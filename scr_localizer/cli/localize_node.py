"""`scr-localizer localize-node --ros-args -p map_path:=room.scrmap ...`: the localization node
without colcon (same as `ros2 run scr_localizer localize_node --ros-args ...`)."""

from __future__ import annotations

VERB = "localize-node"
HELP = "run the ROS 2 localization node (parameters via --ros-args -p name:=value)"


def add_arguments(parser) -> None:
    parser.epilog = ("Example: scr-localizer localize-node --ros-args -p map_path:=room.scrmap "
                     "--params-file config/localize.yaml")
    parser.set_defaults(_accepts_ros_args=True)


def run(args) -> int:
    from scr_localizer.ros.localize_node import main

    return main(["localize_node", *args.ros_args])
