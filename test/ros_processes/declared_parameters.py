"""Test process: builds a node from the package with a params file and prints, as JSON, the
parameters it declared and their values (then exits without spinning)."""

import json
import sys

import rclpy


def main():
    which, params_file = sys.argv[1], sys.argv[2]
    rclpy.init(args=["declared_parameters", "--ros-args", "--params-file", params_file])
    if which == "localize_node":
        from scr_localizer.ros.localize_node import LocalizeNode as NodeClass
    else:
        from scr_localizer.ros.map_node import MapNode as NodeClass
    node = NodeClass()
    # rclpy declares these itself on every node.
    builtin = {"use_sim_time", "start_type_description_service"}
    names = [n for n in node._parameters if n not in builtin]
    values = {n: node.get_parameter(n).value for n in names}
    read_only = sorted(n for n in names if node.describe_parameter(n).read_only)
    if hasattr(node, "shutdown"):
        node.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    print(json.dumps({"values": values, "read_only": read_only}), flush=True)


if __name__ == "__main__":
    main()
