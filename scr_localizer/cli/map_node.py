"""`scr-localizer map-node --ros-args -p bag:=room_bag -p map_path:=room.scrmap`: the mapping node
without colcon (same as `ros2 run scr_localizer map_node --ros-args ...`)."""

from __future__ import annotations

VERB = "map-node"
HELP = "run the ROS 2 mapping node: bag in, map file and latched point cloud out"


def add_arguments(parser) -> None:
    parser.epilog = ("Example: scr-localizer map-node --ros-args -p bag:=room_bag "
                     "-p map_path:=room.scrmap -p preset:=cpu")
    parser.set_defaults(_accepts_ros_args=True)


def run(args) -> int:
    from scr_localizer.ros.map_node import main

    return main(["map_node", *args.ros_args])
