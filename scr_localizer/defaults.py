"""Default names shared by the CLI, the nodes, the converters and evaluation: one place.

Topics follow the RealSense ROS 2 wrapper (camera namespace `camera`, node `camera`), the driver
most RGB-D users record with; frames follow REP-105.
"""

COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera/color/camera_info"
# Query bags written by `convert --query` and the demo carry the true camera pose here.
GROUND_TRUTH_TOPIC = "/ground_truth/pose"

MAP_FRAME = "map"
ODOM_FRAME = "odom"

LOCALIZE_NODE_NAME = "localize_node"
MAP_NODE_NAME = "map_node"
