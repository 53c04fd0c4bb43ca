"""Scene coordinate regression localization for ROS 2 RGB-D cameras."""

import os

# OpenMP threads that busy-wait made torch 10-20x slower whenever the cores were shared with
# other processes (DDS, the camera driver). Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
