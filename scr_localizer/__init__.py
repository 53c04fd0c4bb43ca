"""Scene coordinate regression localization for ROS 2 RGB-D cameras."""

__version__ = "0.1.0"
