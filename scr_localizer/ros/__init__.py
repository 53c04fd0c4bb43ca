"""ROS 2 nodes: thin translation between messages/parameters and the ROS-free core."""
