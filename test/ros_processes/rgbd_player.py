"""Test process: plays redkitchen frames like a robot with a RealSense would publish them.

Colour (rgb8), depth registered to colour (16UC1 mm), CameraInfo, /tf odom->base_link and latched
/tf_static base_link->camera_color_optical_frame, all stamped with the node clock at publish time,
plus the ground truth map->base_link on /ground_truth/pose (which the localizer never reads).
Odometry is the ground truth seen from a fixed, known map_from_odom (MAP_FROM_ODOM below).
Flags break one input at a time for the wrong-input tests.
"""

import argparse
import sys
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.qos import qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from scr_localizer.geometry.transforms import invert_pose, pose_from_translation_quaternion
from scr_localizer.io.images import encode_compressed, encode_compressed_depth, encode_image
from scr_localizer.io.seven_scenes import iter_frames
from scr_localizer.ros.compat import StaticTransformBroadcaster, TransformBroadcaster
from scr_localizer.ros.conversions import fill_pose, ns_to_stamp, transform_stamped

# Relative, as the node's defaults: `--ros-args -r __ns:=/robot1` plays a namespaced robot's
# camera (and `-r /tf:=tf -r /tf_static:=tf_static` its namespaced TF).
COLOR, DEPTH, INFO = ("camera/camera/color/image_raw",
                      "camera/camera/aligned_depth_to_color/image_raw",
                      "camera/camera/color/camera_info")
CAMERA_FRAME = "camera_color_optical_frame"
# Camera 0.1 m ahead of and 0.3 m above the base, looking forward (REP-103 optical axes).
BASE_FROM_CAMERA = np.array([[0.0, 0.0, 1.0, 0.1], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.3],
                             [0.0, 0.0, 0.0, 1.0]])
# Odometry drifted by 0.5 m, -0.3 m and 20 degrees of yaw from the map.
MAP_FROM_ODOM = pose_from_translation_quaternion(
    [0.5, -0.3, 0.0], [0.0, 0.0, np.sin(np.radians(10.0)), np.cos(np.radians(10.0))])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--frames", default="50:100")
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--no-camera-info", action="store_true")
    parser.add_argument("--no-static-tf", action="store_true")
    parser.add_argument("--color-encoding", default="rgb8")
    parser.add_argument("--depth-half-size", action="store_true")
    parser.add_argument("--camera-info-fx", type=float, default=None,
                        help="publish this fx in CameraInfo K and P (e.g. nan)")
    parser.add_argument("--odom-glitch-pattern", default="",
                        help="PERIOD:I,J,..: frames whose index modulo PERIOD is listed get "
                             "odometry off in x (for that stamp only) by --odom-glitch-m, "
                             "0.6 m more at each glitch, so their fixes move map->odom by as "
                             "much and no two glitched fixes agree with each other")
    parser.add_argument("--odom-glitch-m", type=float, default=1.5)
    parser.add_argument("--compressed", action="store_true",
                        help="publish colour as a PNG CompressedImage on COLOR/compressed and "
                             "depth as compressedDepth PNG on DEPTH/compressedDepth (lossless, "
                             "so fixes equal the raw ones)")
    parser.add_argument("--sim-time", action="store_true",
                        help="publish /clock from t=1000 s and stamp everything with it")
    args = parser.parse_args(remove_ros_args(sys.argv)[1:])

    first, last = (int(v) for v in args.frames.split(":"))
    glitch_period, glitch_phases, glitches = 0, set(), 0
    if args.odom_glitch_pattern:
        period, phases = args.odom_glitch_pattern.split(":")
        glitch_period, glitch_phases = int(period), {int(v) for v in phases.split(",")}
    frames = []
    for frame in iter_frames(args.data, range(first, last)):
        step, color_bytes = encode_image(frame.color, "rgb8")
        depth = frame.depth if not args.depth_half_size else frame.depth[::2, ::2].copy()
        depth_step, depth_bytes = encode_image(depth, "16UC1")
        if args.compressed:
            color_bytes, depth_bytes = encode_compressed(frame.color, "png"), \
                encode_compressed_depth(depth)
        map_from_base = frame.world_from_camera @ invert_pose(BASE_FROM_CAMERA)
        frames.append((frame, step, color_bytes, depth.shape, depth_step, depth_bytes,
                       map_from_base))

    rclpy.init(args=sys.argv)
    node = rclpy.create_node("rgbd_player")
    if args.compressed:
        color_pub = node.create_publisher(CompressedImage, COLOR + "/compressed",
                                          qos_profile_sensor_data)
        depth_pub = node.create_publisher(CompressedImage, DEPTH + "/compressedDepth",
                                          qos_profile_sensor_data)
    else:
        color_pub = node.create_publisher(Image, COLOR, qos_profile_sensor_data)
        depth_pub = node.create_publisher(Image, DEPTH, qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, INFO, qos_profile_sensor_data)
    truth_pub = node.create_publisher(PoseStamped, "/ground_truth/pose", 10)
    tf = TransformBroadcaster(node)
    clock_pub = node.create_publisher(Clock, "/clock", 10) if args.sim_time else None
    sim_start_ns = 1000 * 10**9

    def now_ns(index):
        if clock_pub is None:
            return node.get_clock().now().nanoseconds
        stamp_ns = sim_start_ns + int(index * 1e9 / args.rate)
        clock_pub.publish(Clock(clock=ns_to_stamp(stamp_ns)))
        return stamp_ns

    if not args.no_static_tf:
        StaticTransformBroadcaster(node).sendTransform(transform_stamped(
            "base_link", CAMERA_FRAME, now_ns(0), BASE_FROM_CAMERA))
    odom_from_map = invert_pose(MAP_FROM_ODOM)
    end = time.monotonic() + args.duration
    index = 0
    while rclpy.ok() and time.monotonic() < end:
        tick = time.monotonic()
        frame, step, color_bytes, depth_shape, depth_step, depth_bytes, map_from_base = \
            frames[index % len(frames)]
        index += 1
        stamp_ns = now_ns(index)
        stamp = ns_to_stamp(stamp_ns)
        odom_from_base = odom_from_map @ map_from_base
        if glitch_period and index % glitch_period in glitch_phases:
            odom_from_base = odom_from_base.copy()
            glitches += 1
            # each glitch 0.6 m further than the last (above the gate's 0.5 m): no two agree
            odom_from_base[0, 3] += args.odom_glitch_m + 0.6 * glitches
        tf.sendTransform(transform_stamped("odom", "base_link", stamp_ns, odom_from_base))
        truth = PoseStamped()
        truth.header.stamp, truth.header.frame_id = stamp, "map"
        fill_pose(truth.pose, map_from_base)
        truth_pub.publish(truth)
        if args.compressed:
            color = CompressedImage(format="rgb8; png compressed bgr8")
            depth = CompressedImage(format="16UC1; compressedDepth png")
        else:
            color = Image(height=frame.color.shape[0], width=frame.color.shape[1],
                          encoding=args.color_encoding, is_bigendian=0, step=step)
            depth = Image(height=depth_shape[0], width=depth_shape[1], encoding="16UC1",
                          is_bigendian=0, step=depth_step)
        color.header.stamp, color.header.frame_id = stamp, CAMERA_FRAME
        color.data = color_bytes
        depth.header.stamp, depth.header.frame_id = stamp, CAMERA_FRAME
        depth.data = depth_bytes
        camera = frame.camera
        info = CameraInfo(width=camera.width, height=camera.height, distortion_model="plumb_bob")
        info.header.stamp, info.header.frame_id = stamp, CAMERA_FRAME
        info.k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
        info.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.d = [0.0] * 5
        if args.camera_info_fx is not None:
            info.k[0] = info.p[0] = args.camera_info_fx
        color_pub.publish(color)
        depth_pub.publish(depth)
        if not args.no_camera_info:
            info_pub.publish(info)
        rclpy.spin_once(node, timeout_sec=0.0)
        time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - tick)))
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
