"""`scr-localizer inspect BAG`: what is in a bag and what mapping would read from it."""

from __future__ import annotations

import argparse

VERB = "inspect"
HELP = "show a bag's topics, rates, TF tree and the topics/frames mapping would use"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder or .mcap/.db3 file")
    parser.add_argument("--color-topic", default=None, help="colour image topic (default: auto)")
    parser.add_argument(
        "--depth-topic", default=None, help="depth image topic (default: auto; '' = colour only)"
    )
    parser.add_argument("--camera-info-topic", default=None, help="colour CameraInfo topic")
    parser.add_argument(
        "--fixed-frame", default="map", help="frame poses are expressed in (default map; '' = none)"
    )
    parser.add_argument("--camera-frame", default=None, help="camera frame (default: CameraInfo's)")
    parser.add_argument("--pose-topic", default=None, help="read poses from this pose topic")
    parser.add_argument("--sync-tolerance", type=float, default=0.02, help="seconds (default 0.02)")
    parser.add_argument("--tf-tolerance", type=float, default=0.05, help="seconds (default 0.05)")


def run(args: argparse.Namespace) -> int:
    from scr_localizer.io.bag_inspect import summarize_bag
    from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader

    summary = summarize_bag(args.bag)
    duration = summary.duration_s
    print(f"bag: {summary.path}  ({summary.message_count} messages, {duration:.2f} s)")
    print("topics:")
    width = max((len(t) for t in summary.topics), default=0)
    for topic, (msgtype, count) in sorted(summary.topics.items()):
        rate = f"{(count - 1) / duration:7.2f} Hz" if duration > 0 and count > 1 else "       -  "
        print(f"  {topic:<{width}}  {count:6d} msgs  {rate}  {msgtype}")
    print("TF tree:")
    print("\n".join("  " + line for line in (summary.tf_tree.tree_text() or "(empty)").splitlines()))
    config = BagReadConfig(
        color_topic=args.color_topic,
        depth_topic=args.depth_topic,
        camera_info_topic=args.camera_info_topic,
        fixed_frame=args.fixed_frame,
        camera_frame=args.camera_frame,
        pose_topic=args.pose_topic,
        sync_tolerance_s=args.sync_tolerance,
        tf_tolerance_s=args.tf_tolerance,
    )
    print("mapping would read:")
    reader = RGBDBagReader(args.bag, config)  # raises the one-line error if the bag is unusable
    camera = reader.color_camera
    depth = reader.depth_topic or "(none: colour only)"
    registration = (
        "registered into colour from its own CameraInfo" if reader.registers_depth
        else "aligned with colour" if reader.depth_topic else "-"
    )
    print(f"  colour:      {reader.color_topic} (CameraInfo {reader.color_info_topic})")
    print(f"  camera:      {camera.width}x{camera.height} fx={camera.fx:g} fy={camera.fy:g} "
          f"cx={camera.cx:g} cy={camera.cy:g} distortion={camera.distortion_model or 'none'}")
    print(f"  depth:       {depth} ({registration})")
    poses = (
        f"{config.fixed_frame} <- {reader.camera_frame} via "
        f"{args.pose_topic if args.pose_topic else '/tf + /tf_static'}"
        if config.fixed_frame else "none"
    )
    print(f"  poses:       {poses}")
    print(f"  frames:      {reader.report.summary()}")
    return 0
