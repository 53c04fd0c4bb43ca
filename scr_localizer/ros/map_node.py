"""Mapping node: reads an RGB-D bag directly (no playback), trains a map, writes it atomically and
publishes the mapped points as a latched PointCloud2 in the map frame so RViz can show them.

Exit status: 0 when the map was written (a signal while the cloud is kept published still ends
with 0), 2 with a one-line error for input the user can fix (missing bag or topic, no poses...),
1 for anything unexpected, 130 (SIGINT) or 143 (SIGTERM) when interrupted before the map was
written (nothing is written then).
"""

from __future__ import annotations

import sys
import time
import traceback

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2, PointField

from scr_localizer import defaults, log
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.ros.conversions import ns_to_stamp
from scr_localizer.ros.parameters import MAP_NODE_PARAMETERS, declare_parameters
from scr_localizer.ros.shutdown import (
    Interrupted,
    ShutdownSignals,
    init_rclpy,
    shutdown_rclpy,
)

NODE_NAME = defaults.MAP_NODE_NAME
CLOUD_TOPIC = "map_cloud"
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=ReliabilityPolicy.RELIABLE)


def point_cloud_message(xyz: np.ndarray, rgb: np.ndarray, frame_id: str, stamp_ns: int
                        ) -> PointCloud2:
    """x, y, z float32 and rgb packed into a float32 field (the PCL/RViz convention)."""
    n = len(xyz)
    points = np.zeros(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    points["x"], points["y"], points["z"] = (xyz[:, i].astype(np.float32) for i in range(3))
    rgb = np.asarray(rgb, dtype=np.uint32).reshape(n, 3)
    points["rgb"] = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    msg = PointCloud2()
    msg.header.frame_id = frame_id
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.height, msg.width = 1, n
    msg.fields = [
        PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
        for i, name in enumerate(("x", "y", "z", "rgb"))
    ]
    msg.is_bigendian = False
    msg.point_step = 16
    msg.row_step = 16 * n
    msg.is_dense = True
    msg.data = points.tobytes()
    return msg


class MapNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, MAP_NODE_PARAMETERS)
        self.cloud_pub = self.create_publisher(PointCloud2, CLOUD_TOPIC, LATCHED)
        self.map_written = ""

    def build_map(self) -> tuple[str, int]:
        """Train and write the map (the same pipeline as `scr-localizer map`), then publish the
        mapped points; returns (path, number of points published)."""
        from scr_localizer.io.bag_reader import BagReadConfig
        from scr_localizer.pipelines.mapping import MapJob, build_map

        p, log = self.params, self.get_logger()
        if not p["bag"]:
            raise ScrLocalizerError("no input bag: set the parameter bag (launch argument bag:=)")
        if not p["map_path"]:
            raise ScrLocalizerError("no output path: set the parameter map_path")
        job = MapJob(
            bag=p["bag"], output=p["map_path"],
            read=BagReadConfig(
                color_topic=p["color_topic"], depth_topic=p["depth_topic"],
                camera_info_topic=p["camera_info_topic"] or None, fixed_frame=p["map_frame"],
                camera_frame=p["camera_frame"] or None),
            preset=p["preset"], prior=p["prior"], device=p["device"],
            iterations=p["iterations"] or None, time_budget_s=p["time_budget_s"] or None,
            overwrite=True, progress=True,
            submaps=str(p["submaps"]),
        )
        result = build_map(job)
        self.map_written = str(result.path)
        # Imported only now: torch takes seconds to import, bad input has failed by here.
        from scr_localizer.model.point_cloud import voxel_downsample

        xyz, rgb = result.trainer.point_cloud()
        xyz, rgb = voxel_downsample(xyz, rgb, float(p["cloud_voxel_m"]))
        self.cloud_pub.publish(point_cloud_message(
            xyz, rgb, p["map_frame"], self.get_clock().now().nanoseconds))
        log.info(f"published {len(xyz)} map points on {self.cloud_pub.topic_name} "
                 f"(latched, frame '{p['map_frame']}')")
        return str(result.path), len(xyz)

    def linger(self, signals: ShutdownSignals) -> None:
        """Keep the latched cloud available for late subscribers (RViz) for keep_alive_s, or
        until a signal."""
        keep_alive_s = float(self.params["keep_alive_s"])
        end = None if keep_alive_s < 0 else time.monotonic() + keep_alive_s
        while rclpy.ok() and not signals.requested and (end is None or time.monotonic() < end):
            rclpy.spin_once(self, timeout_sec=0.1)


def main(args: list[str] | None = None) -> int:
    signals = init_rclpy(sys.argv if args is None else args)
    node = None
    status = 0
    forward = None
    try:
        # Until the map is written a signal aborts the work at once (Interrupted); after that
        # it only ends linger().
        signals.raising = True
        if signals.requested:  # arrived during start-up
            raise Interrupted(signals.signum)
        node = MapNode()
        forward = log.forward_to(node.get_logger())
        node.build_map()
        signals.raising = False
        node.linger(signals)
    except Interrupted as interrupted:
        signals.raising = False
        if node is not None and node.map_written:
            node.get_logger().info(f"{interrupted} received after the map was written")
        else:
            status = 128 + interrupted.signum
            if node is not None:
                node.get_logger().warning(f"{interrupted}: mapping interrupted, no map written")
    except ScrLocalizerError as exc:
        if node is not None:
            node.get_logger().error(f"error: {exc}")
        else:  # bad parameters: the node never came up
            print(f"error: {exc}", file=sys.stderr)
        status = 2
    except Exception as exc:  # noqa: BLE001 - report, then fail with a non-zero status
        message = f"mapping failed: {type(exc).__name__}: {exc}"
        if node is not None:
            node.get_logger().error(message)
            node.get_logger().debug(traceback.format_exc())
        else:
            print(message, file=sys.stderr)
        status = 1
    finally:
        signals.raising = False
        if forward is not None:
            log.remove(forward)
        if node is not None:
            node.destroy_node()
        shutdown_rclpy()
    return status


if __name__ == "__main__":
    sys.exit(main())
