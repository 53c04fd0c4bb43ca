"""Write RGB-D frames as a ROS 2 bag that looks like a RealSense recording (rosbags, no ROS).

Mapping bags carry the pose on /tf (map -> camera_link) so they are complete on their own.
Query bags look like a robot's recording: /tf holds odometry (odom -> camera_link, i.e. ground
truth seen through a fixed, known map_from_odom offset) and the ground truth of the colour optical
frame goes to a separate PoseStamped topic that a localizer never reads, so its output can be
checked afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import PinholeCamera
from scr_localizer.geometry.transforms import (
    invert_pose,
    pose_matrix,
    translation_quaternion_from_pose,
)
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.io.images import encode_compressed, encode_image

# link_from_optical for REP-103 optical frames (z forward, x right, y down) below a body frame
# (x forward, y left, z up).
LINK_FROM_OPTICAL_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def default_map_from_odom() -> np.ndarray:
    """A deliberately non-trivial offset (30 degrees yaw, 1.2 m) so a wrong map->odom shows."""
    yaw = np.radians(30.0)
    rotation = np.array(
        [[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
    )
    return pose_matrix(rotation, [1.0, -0.5, 0.1])


@dataclass
class BagWriteConfig:
    """Topics and frames follow realsense2_camera's defaults (namespace /camera/camera).

    `color_encoding`: "rgb8" / "bgr8" (sensor_msgs/Image) or "jpeg" / "png"
    (sensor_msgs/CompressedImage on `color_topic + "/compressed"`).
    `depth_camera`: None when each frame's depth is registered to colour (written as
    aligned_depth_to_color). Otherwise the frames' depth is in this camera's image (e.g. read
    with SevenScenesConfig(depth_aligned=True)) and is written as an unaligned depth stream in
    `depth_optical_frame`, `color_from_depth` apart from the colour optical frame.
    """

    storage: str = "mcap"
    color_encoding: str = "rgb8"
    jpeg_quality: int = 95
    depth_encoding: str = "16UC1"
    camera_namespace: str = defaults.COLOR_TOPIC.rsplit("/", 2)[0]
    color_topic: str | None = None
    depth_topic: str | None = None
    color_info_topic: str | None = None
    depth_info_topic: str | None = None
    fixed_frame: str = "map"
    odom_frame: str = "odom"
    base_frame: str = "camera_link"
    color_frame: str = "camera_color_frame"
    color_optical_frame: str = "camera_color_optical_frame"
    depth_frame: str = "camera_depth_frame"
    depth_optical_frame: str = "camera_depth_optical_frame"
    # camera_link -> camera_color_frame offset (a RealSense D435 colour imager sits ~15 mm left)
    link_from_color_frame: np.ndarray = field(
        default_factory=lambda: pose_matrix(np.eye(3), [0.0, 0.015, 0.0])
    )
    depth_camera: PinholeCamera | None = None
    color_from_depth: np.ndarray = field(default_factory=lambda: np.eye(4))
    query: bool = False
    map_from_odom: np.ndarray = field(default_factory=default_map_from_odom)
    ground_truth_topic: str = defaults.GROUND_TRUTH_TOPIC
    overwrite: bool = False

    def topics(self) -> dict[str, str]:
        ns = self.camera_namespace.rstrip("/")
        compressed = self.color_encoding in ("jpeg", "png")
        color = self.color_topic or f"{ns}/color/image_raw"
        if compressed and not color.endswith("/compressed"):
            color = f"{color}/compressed"
        depth_ns = f"{ns}/depth" if self.depth_camera else f"{ns}/aligned_depth_to_color"
        depth_image = "image_rect_raw" if self.depth_camera else "image_raw"
        return {
            "color": color,
            "color_info": self.color_info_topic or f"{ns}/color/camera_info",
            "depth": self.depth_topic or f"{depth_ns}/{depth_image}",
            "depth_info": self.depth_info_topic or f"{depth_ns}/camera_info",
        }


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


class _Messages:
    """Builds rosbags message objects and serializes them."""

    def __init__(self):
        self.store = _typestore()
        t = self.store.types
        self.Time = t["builtin_interfaces/msg/Time"]
        self.Header = t["std_msgs/msg/Header"]
        self.Image = t["sensor_msgs/msg/Image"]
        self.CompressedImage = t["sensor_msgs/msg/CompressedImage"]
        self.CameraInfo = t["sensor_msgs/msg/CameraInfo"]
        self.RegionOfInterest = t["sensor_msgs/msg/RegionOfInterest"]
        self.Vector3 = t["geometry_msgs/msg/Vector3"]
        self.Point = t["geometry_msgs/msg/Point"]
        self.Quaternion = t["geometry_msgs/msg/Quaternion"]
        self.Transform = t["geometry_msgs/msg/Transform"]
        self.TransformStamped = t["geometry_msgs/msg/TransformStamped"]
        self.Pose = t["geometry_msgs/msg/Pose"]
        self.PoseStamped = t["geometry_msgs/msg/PoseStamped"]
        self.TFMessage = t["tf2_msgs/msg/TFMessage"]

    def header(self, stamp_ns: int, frame_id: str):
        return self.Header(
            stamp=self.Time(sec=int(stamp_ns // 10**9), nanosec=int(stamp_ns % 10**9)),
            frame_id=frame_id,
        )

    def transform(self, stamp_ns: int, parent: str, child: str, parent_from_child: np.ndarray):
        t, q = translation_quaternion_from_pose(parent_from_child)
        return self.TransformStamped(
            header=self.header(stamp_ns, parent),
            child_frame_id=child,
            transform=self.Transform(
                translation=self.Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                rotation=self.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
            ),
        )

    def tf_message(self, transforms):
        return self.TFMessage(transforms=list(transforms))

    def camera_info(self, stamp_ns: int, frame_id: str, camera: PinholeCamera):
        k = np.array([camera.fx, 0, camera.cx, 0, camera.fy, camera.cy, 0, 0, 1], np.float64)
        p = np.array(
            [camera.fx, 0, camera.cx, 0, 0, camera.fy, camera.cy, 0, 0, 0, 1, 0], np.float64
        )
        model = camera.distortion_model or "plumb_bob"
        coefficients = list(camera.distortion) or [0.0] * (8 if model == "rational_polynomial" else 5)
        return self.CameraInfo(
            header=self.header(stamp_ns, frame_id),
            height=camera.height,
            width=camera.width,
            distortion_model=model,
            d=np.asarray(coefficients, np.float64),
            k=k,
            r=np.eye(3).reshape(-1),
            p=p,
            binning_x=0,
            binning_y=0,
            roi=self.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )

    def image(self, stamp_ns: int, frame_id: str, array: np.ndarray, encoding: str):
        step, data = encode_image(array, encoding)
        return self.Image(
            header=self.header(stamp_ns, frame_id),
            height=array.shape[0],
            width=array.shape[1],
            encoding=encoding,
            is_bigendian=0,
            step=step,
            data=np.frombuffer(data, dtype=np.uint8),
        )

    def compressed(self, stamp_ns: int, frame_id: str, rgb: np.ndarray, fmt: str, quality: int):
        return self.CompressedImage(
            header=self.header(stamp_ns, frame_id),
            format=f"rgb8; {fmt} compressed bgr8",
            data=np.frombuffer(encode_compressed(rgb, fmt, quality), dtype=np.uint8),
        )

    def pose_stamped(self, stamp_ns: int, frame_id: str, pose: np.ndarray):
        t, q = translation_quaternion_from_pose(pose)
        return self.PoseStamped(
            header=self.header(stamp_ns, frame_id),
            pose=self.Pose(
                position=self.Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                orientation=self.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
            ),
        )


def _qos(transient_local: bool, reliable: bool = True):
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    infinite = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=1 if transient_local else 10,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=infinite,
        lifespan=infinite,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=infinite,
        avoid_ros_namespace_conventions=False,
    )


def _check_config(config: BagWriteConfig) -> None:
    if config.storage not in ("mcap", "sqlite3"):
        raise ScrLocalizerError(f"bag storage '{config.storage}' is unknown; expected mcap or sqlite3")
    if config.color_encoding not in ("rgb8", "bgr8", "jpeg", "png"):
        raise ScrLocalizerError(
            f"colour encoding '{config.color_encoding}' cannot be written; expected rgb8, bgr8, "
            "jpeg or png"
        )
    if config.depth_encoding not in ("16UC1", "32FC1"):
        raise ScrLocalizerError(
            f"depth encoding '{config.depth_encoding}' cannot be written; expected 16UC1 or 32FC1"
        )


def write_rgbd_bag(
    path: str | Path, frames: Iterable[RGBDFrame], config: BagWriteConfig | None = None
) -> Path:
    """Write `frames` to a rosbag2 folder at `path` and return it.

    The bag appears only when complete (written into a temporary folder beside it, then renamed);
    an existing `path` is refused unless `config.overwrite`.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    config = config or BagWriteConfig()
    _check_config(config)
    path = Path(path)
    if path.exists() and not config.overwrite:
        raise ScrLocalizerError(f"output bag '{path}' already exists; remove it or pass --overwrite")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp_root = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                          dir=path.parent))
    except OSError as exc:
        raise ScrLocalizerError(
            f"cannot write bag '{path}': {exc.strerror or exc}") from None
    temp_bag = temp_root / path.name
    plugin = StoragePlugin.MCAP if config.storage == "mcap" else StoragePlugin.SQLITE3
    build = _Messages()
    topics = config.topics()
    count = 0
    try:
        with Writer(temp_bag, version=9, storage_plugin=plugin) as writer:
            count = _write_all(writer, build, frames, config, topics)
        if count == 0:
            raise ScrLocalizerError("no frames to write; expected at least one RGB-D frame")
        if path.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, trash / path.name)
            os.replace(temp_bag, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(temp_bag, path)
    except OSError as exc:  # disk full, a folder in the way...: nothing half-written is left
        raise ScrLocalizerError(f"cannot write bag '{path}': {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
    return path


def _write_all(writer, build: _Messages, frames, config: BagWriteConfig, topics) -> int:
    store = build.store
    connections = {}

    def connection(name: str, topic: str, msgtype: str, latched: bool = False):
        if name not in connections:
            connections[name] = writer.add_connection(
                topic, msgtype, typestore=store, offered_qos_profiles=[_qos(latched)]
            )
        return connections[name]

    def write(name, topic, msgtype, stamp_ns, message, latched=False):
        conn = connection(name, topic, msgtype, latched)
        writer.write(conn, stamp_ns, store.serialize_cdr(message, msgtype))

    tf_type = "tf2_msgs/msg/TFMessage"
    color_from_optical = pose_matrix(LINK_FROM_OPTICAL_ROTATION, [0, 0, 0])
    link_from_color_frame = np.asarray(config.link_from_color_frame, np.float64)
    link_from_optical = link_from_color_frame @ color_from_optical
    optical_from_link = invert_pose(link_from_optical)
    odom_from_map = invert_pose(np.asarray(config.map_from_odom, np.float64))
    compressed = config.color_encoding in ("jpeg", "png")
    count = 0
    for frame in frames:
        stamp = int(frame.stamp_ns)
        if count == 0:
            statics = [
                build.transform(stamp, config.base_frame, config.color_frame, link_from_color_frame),
                build.transform(
                    stamp, config.color_frame, config.color_optical_frame, color_from_optical
                ),
            ]
            if config.depth_camera is not None:
                # camera_link -> depth frame -> depth optical, consistent with color_from_depth
                link_from_depth_optical = link_from_optical @ np.asarray(
                    config.color_from_depth, np.float64
                )
                link_from_depth_frame = link_from_depth_optical @ invert_pose(color_from_optical)
                statics += [
                    build.transform(
                        stamp, config.base_frame, config.depth_frame, link_from_depth_frame
                    ),
                    build.transform(
                        stamp, config.depth_frame, config.depth_optical_frame, color_from_optical
                    ),
                ]
            write("tf_static", "/tf_static", tf_type, stamp, build.tf_message(statics), True)
        if frame.world_from_camera is not None:
            map_from_link = np.asarray(frame.world_from_camera, np.float64) @ optical_from_link
            if config.query:
                parent, pose = config.odom_frame, odom_from_map @ map_from_link
            else:
                parent, pose = config.fixed_frame, map_from_link
            tf = build.tf_message([build.transform(stamp, parent, config.base_frame, pose)])
            write("tf", "/tf", tf_type, stamp, tf)
            if config.query:
                gt = build.pose_stamped(stamp, config.fixed_frame, frame.world_from_camera)
                write("gt", config.ground_truth_topic, "geometry_msgs/msg/PoseStamped", stamp, gt)
        write(
            "color_info", topics["color_info"], "sensor_msgs/msg/CameraInfo", stamp,
            build.camera_info(stamp, config.color_optical_frame, frame.camera),
        )
        if compressed:
            message = build.compressed(
                stamp, config.color_optical_frame, frame.color, config.color_encoding,
                config.jpeg_quality,
            )
            write("color", topics["color"], "sensor_msgs/msg/CompressedImage", stamp, message)
        else:
            message = build.image(stamp, config.color_optical_frame, frame.color, config.color_encoding)
            write("color", topics["color"], "sensor_msgs/msg/Image", stamp, message)
        if frame.depth is not None:
            depth_camera = config.depth_camera or frame.camera
            depth_frame = (
                config.depth_optical_frame if config.depth_camera else config.color_optical_frame
            )
            if frame.depth.shape != (depth_camera.height, depth_camera.width):
                raise ScrLocalizerError(
                    f"frame {frame.name or stamp}: depth is {frame.depth.shape[1]}x"
                    f"{frame.depth.shape[0]} but the depth camera is {depth_camera.width}x"
                    f"{depth_camera.height}"
                )
            write(
                "depth_info", topics["depth_info"], "sensor_msgs/msg/CameraInfo", stamp,
                build.camera_info(stamp, depth_frame, depth_camera),
            )
            message = build.image(stamp, depth_frame, frame.depth, config.depth_encoding)
            write("depth", topics["depth"], "sensor_msgs/msg/Image", stamp, message)
        count += 1
    return count
