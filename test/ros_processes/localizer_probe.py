"""Test process: watches the localization node from outside, over DDS.

Optionally sets a node parameter or calls ~/enable first, then collects /tf, ~/pose,
/ground_truth/pose and /diagnostics until the requested condition holds (or the timeout), and
prints one JSON line:
  fixes: [{stamp_ns, t_err_m, r_err_deg}] map->odom messages with a new value (a fix or an
         initial pose; they are future-dated, so not at an image stamp) against the player's
         map_from_odom (MAP_FROM_ODOM: its odometry is the ground truth seen from it, so this is
         map->odom composed with odom->base_link against the true map->base_link);
  republished: count of map->odom messages repeating the previous value (between fixes);
  map_odom: [{stamp_ns, t_err_m, r_err_deg, z_m, tilt_deg}] every map->odom, in arrival order;
  poses: [{stamp_ns, t_err_m, r_err_deg, cov_diag}] from ~/pose (those with a ground truth);
  pose_count: every ~/pose received (with --pose-qos transient_local a late probe gets the last);
  diagnostics: the last status (level, message, values);
  history (with --history): every status seen, [{stamp_ns, level, message}], stamped by the
         node's clock, so a test can time when the node's verdict changed.
  parameters: {name: value} read with --get over the node's get_parameters service;
  set: [successful, reason] of --set-string; enable: [success, message] of --enable;
  lifecycle: [[transition, success, state after], ...] of --lifecycle (lifecycle_msgs services,
         as nav2's lifecycle_manager calls them); state: the node's lifecycle state at the end;
  relocalize: [success, message] of --relocalize (std_srvs/Trigger, called once the node runs).
ROS arguments (`--ros-args -r __ns:=/robot1 -r /tf:=tf`) apply to the probe's own topics; --node
names the node to watch.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, PoseWithCovarianceStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import parameter_value_to_python
from rclpy.utilities import remove_ros_args
from std_srvs.srv import SetBool, Trigger
from tf2_msgs.msg import TFMessage

from scr_localizer.geometry.transforms import pose_error
from scr_localizer.ros.conversions import (
    fill_pose,
    matrix_from_pose,
    matrix_from_transform,
    ns_to_stamp,
    stamp_to_ns,
)

sys.path.insert(0, str(Path(__file__).parent))
from rgbd_player import MAP_FROM_ODOM  # noqa: E402


def _call(node, client, request, timeout_s=10.0):
    if not client.wait_for_service(timeout_sec=timeout_s):
        raise SystemExit(f"service {client.srv_name} not available")
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
    if future.result() is None:
        raise SystemExit(f"service {client.srv_name} did not answer")
    return future.result()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--fixes", type=int, default=0, help="wait for this many matched fixes")
    parser.add_argument("--expect", default="", help="wait for a diagnostics message with this")
    parser.add_argument("--level", type=int, default=-1, help="... and this level (0 OK, 1, 2)")
    parser.add_argument("--localized-more-than", type=int, default=-1,
                        help="... and frames_localized above this")
    parser.add_argument("--value", default="", help="... and diagnostics value KEY=VALUE")
    parser.add_argument("--set-string", default="", help="NAME=VALUE string parameter to set")
    parser.add_argument("--enable", choices=("true", "false"), default="")
    parser.add_argument("--history", action="store_true", help="output every status seen")
    parser.add_argument("--announce", action="store_true",
                        help="print 'listening' once the first diagnostics arrived")
    parser.add_argument("--node", default="/localize_node", help="fully qualified node name")
    parser.add_argument("--get", default="", help="comma-separated parameters to read first")
    parser.add_argument("--pose-qos", choices=("volatile", "transient_local"), default="volatile")
    parser.add_argument("--poses", type=int, default=0, help="wait for this many ~/pose")
    parser.add_argument("--map-odom", type=int, default=0, help="wait for this many map->odom")
    parser.add_argument("--lifecycle", default="",
                        help="comma-separated transitions to request first: configure, "
                             "activate, deactivate, cleanup, shutdown")
    parser.add_argument("--relocalize", action="store_true", help="call ~/relocalize")
    parser.add_argument("--initial-pose-from-truth", action="store_true",
                        help="publish the next ground truth pose on initialpose, at its stamp")
    args = parser.parse_args(remove_ros_args(sys.argv)[1:])
    node_name = args.node

    rclpy.init(args=sys.argv)
    node = rclpy.create_node("localizer_probe")
    out = {"fixes": [], "republished": 0, "poses": [], "diagnostics": None, "set": None,
           "history": [], "parameters": None}
    odom_base, truth, map_odom = {}, {}, []

    def on_tf(msg):
        for t in msg.transforms:
            stamp = stamp_to_ns(t.header.stamp)
            if (t.header.frame_id, t.child_frame_id) == ("odom", "base_link"):
                odom_base[stamp] = matrix_from_transform(t.transform)
            elif (t.header.frame_id, t.child_frame_id) == ("map", "odom"):
                map_odom.append((stamp, matrix_from_transform(t.transform)))

    def on_truth(msg):
        truth[stamp_to_ns(msg.header.stamp)] = matrix_from_pose(msg.pose)

    def on_pose(msg):
        stamp = stamp_to_ns(msg.header.stamp)
        out["poses"].append({"stamp_ns": stamp, "pose": matrix_from_pose(msg.pose.pose),
                             "cov_diag": [msg.pose.covariance[i * 7] for i in range(6)]})

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.startswith(node_name.rsplit("/", 1)[-1] + ":"):
                if args.announce and out["diagnostics"] is None:
                    print("listening", flush=True)
                out["diagnostics"] = {
                    "level": int.from_bytes(status.level, "little")
                    if isinstance(status.level, bytes) else int(status.level),
                    "message": status.message,
                    "values": {kv.key: kv.value for kv in status.values},
                }
                if args.history:
                    out["history"].append({"stamp_ns": stamp_to_ns(msg.header.stamp),
                                           "level": out["diagnostics"]["level"],
                                           "message": status.message})

    node.create_subscription(TFMessage, "/tf", on_tf, 100)
    node.create_subscription(PoseStamped, "/ground_truth/pose", on_truth, 100)
    pose_qos = 10
    if args.pose_qos == "transient_local":
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        pose_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(PoseWithCovarianceStamped, f"{node_name}/pose", on_pose, pose_qos)
    initial_pose_pub = (node.create_publisher(PoseWithCovarianceStamped, "initialpose", 10)
                        if args.initial_pose_from_truth else None)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    if args.get:
        names = args.get.split(",")
        result = _call(node, node.create_client(GetParameters, f"{node_name}/get_parameters"),
                       GetParameters.Request(names=names))
        out["parameters"] = {n: parameter_value_to_python(v)
                             for n, v in zip(names, result.values)}
    def lifecycle_state():
        result = _call(node, node.create_client(GetState, f"{node_name}/get_state"),
                       GetState.Request(), timeout_s=5.0)
        return result.current_state.label

    transitions = {"configure": Transition.TRANSITION_CONFIGURE,
                   "activate": Transition.TRANSITION_ACTIVATE,
                   "deactivate": Transition.TRANSITION_DEACTIVATE,
                   "cleanup": Transition.TRANSITION_CLEANUP,
                   "shutdown": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN}
    out["lifecycle"] = []
    for name in filter(None, args.lifecycle.split(",")):
        request = ChangeState.Request()
        request.transition.id = transitions[name]
        result = _call(node, node.create_client(ChangeState, f"{node_name}/change_state"),
                       request, timeout_s=60.0)
        out["lifecycle"].append([name, bool(result.success), lifecycle_state()])
    if args.relocalize:
        result = _call(node, node.create_client(Trigger, f"{node_name}/relocalize"),
                       Trigger.Request(), timeout_s=60.0)
        out["relocalize"] = [result.success, result.message]
    if args.set_string:
        name, value = args.set_string.split("=", 1)
        request = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                            string_value=value))])
        result = _call(node, node.create_client(SetParameters, f"{node_name}/set_parameters"), request)
        out["set"] = [result.results[0].successful, result.results[0].reason]
    if args.enable:
        result = _call(node, node.create_client(SetBool, f"{node_name}/enable"),
                       SetBool.Request(data=args.enable == "true"))
        out["enable"] = [result.success, result.message]

    def matched():
        fixes, previous = [], None
        for stamp, map_from_odom in map_odom:
            if previous is None or not np.array_equal(previous, map_from_odom):
                t_err, r_err = pose_error(map_from_odom, MAP_FROM_ODOM)
                fixes.append({"stamp_ns": stamp, "t_err_m": t_err, "r_err_deg": r_err})
            previous = map_from_odom
        return fixes

    def send_initial_pose():
        """Once the node listens, receives the player's frames and has had 1 s of odometry (5
        frames matched after that):
        the latest ground truth pose at its stamp."""
        if initial_pose_pub.get_subscription_count() == 0:
            return False
        # ... and once the node receives the player (discovery differs per pair of processes)
        d = out["diagnostics"]
        if d is None or int(d["values"].get("frames_synchronized", "0")) == 0:
            return False
        if "initial_pose_after" not in out:
            out["initial_pose_after"] = len(truth)
        if len(truth) < out["initial_pose_after"] + 5:
            return False
        stamp = max(truth)
        msg = PoseWithCovarianceStamped()
        msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp), "map"
        fill_pose(msg.pose.pose, truth[stamp])
        msg.pose.covariance = [0.25 if i in (0, 7) else 0.07 if i == 35 else 0.0
                               for i in range(36)]
        initial_pose_pub.publish(msg)
        out["initial_pose_stamp_ns"] = stamp
        return True

    sent_initial_pose = False

    def done():
        if args.poses and len(out["poses"]) < args.poses:
            return False
        if args.map_odom and len(map_odom) < args.map_odom:
            return False
        if args.fixes and len(matched()) < args.fixes:
            return False
        if args.fixes and not any(p["stamp_ns"] in truth for p in out["poses"]):
            return False
        if args.expect or args.level >= 0 or args.localized_more_than >= 0 or args.value:
            d = out["diagnostics"]
            if d is None or args.expect not in d["message"]:
                return False
            if args.level >= 0 and d["level"] != args.level:
                return False
            if args.value:
                key, value = args.value.split("=", 1)
                if d["values"].get(key) != value:
                    return False
            localized = int(d["values"].get("frames_localized", "0"))
            if localized <= args.localized_more_than:
                return False
        return True

    deadline = time.monotonic() + args.timeout
    ok = False
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if initial_pose_pub is not None and not sent_initial_pose:
            sent_initial_pose = send_initial_pose()
            continue
        if done():
            ok = True
            break
    try:  # (spins the node: callbacks still append until here)
        out["state"] = lifecycle_state()
    except SystemExit:
        out["state"] = None
    out["fixes"] = matched()
    out["republished"] = len(map_odom) - len(out["fixes"])
    out["map_odom_count"] = len(map_odom)
    out["map_odom"] = []
    for stamp, map_from_odom in map_odom:
        t_err, r_err = pose_error(map_from_odom, MAP_FROM_ODOM)
        tilt = float(np.degrees(np.arccos(np.clip(map_from_odom[2, 2], -1.0, 1.0))))
        out["map_odom"].append({"stamp_ns": stamp, "t_err_m": t_err, "r_err_deg": r_err,
                                "z_m": float(map_from_odom[2, 3]), "tilt_deg": tilt})
    out["pose_count"] = len(out["poses"])
    poses = []
    for p in out["poses"]:
        if p["stamp_ns"] in truth:
            t_err, r_err = pose_error(p["pose"], truth[p["stamp_ns"]])
            poses.append({"stamp_ns": p["stamp_ns"], "t_err_m": t_err, "r_err_deg": r_err,
                          "cov_diag": p["cov_diag"], "has_fix": True})
    out["poses"] = poses
    out["ok"] = ok
    print(json.dumps(out), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
