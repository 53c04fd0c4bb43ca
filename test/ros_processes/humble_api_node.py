"""Test process: the localization node on an rclpy without the parameter-callback APIs that
arrived in Iron, standing in for Humble (no Humble wheels exist to test with).

Deletes add/remove_pre_set_parameters_callback and add/remove_post_set_parameters_callback
from rclpy.node.Node, says so on stdout, then runs the node's real main() with the given
arguments (`humble_api_node.py --ros-args ...`)."""

import sys

from rclpy.node import Node

IRON_APIS = ("add_pre_set_parameters_callback", "add_post_set_parameters_callback",
             "remove_pre_set_parameters_callback", "remove_post_set_parameters_callback")


def main() -> int:
    removed = [name for name in IRON_APIS if name in vars(Node)]
    for name in removed:
        delattr(Node, name)
    assert not any(hasattr(Node, name) for name in IRON_APIS)
    print(f"humble stand-in: removed {', '.join(removed) or 'nothing'} from rclpy.node.Node",
          flush=True)
    from scr_localizer.ros.localize_node import main as node_main

    return node_main(["localize_node", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
