"""Opening ROS 2 bags (rosbag2 folders, .mcap and .db3 files) with rosbags, without ROS: the one
opener every verb uses, and the message type names the readers look for."""

from __future__ import annotations

from pathlib import Path

from scr_localizer.errors import ScrLocalizerError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
POSE_TYPES = (
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseWithCovarianceStamped",
    "nav_msgs/msg/Odometry",
)


def open_bag(path: Path):
    """An open rosbags AnyReader, or a one-line error saying what is wrong with `path`."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    if not path.exists():
        raise ScrLocalizerError(f"bag '{path}' does not exist; expected a rosbag2 folder or .mcap/.db3 file")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        files = sorted(path.glob("*.mcap")) + sorted(path.glob("*.db3"))
        if len(files) == 1:
            path = files[0]
        else:
            raise ScrLocalizerError(
                f"'{path}' is not a ROS 2 bag: it has no metadata.yaml; expected a rosbag2 "
                "folder (as written by ros2 bag record) or a .mcap/.db3 file"
            )
    if path.is_file() and path.suffix == ".bag":
        raise ScrLocalizerError(
            f"'{path}' is a ROS 1 bag; expected a ROS 2 bag (convert it with `rosbags-convert "
            f"--src {path.name} --dst OUT`)"
        )
    if path.is_file() and path.suffix not in (".mcap", ".db3"):
        raise ScrLocalizerError(
            f"'{path}' is not a ROS 2 bag; expected a rosbag2 folder or a .mcap/.db3 file"
        )
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED))
        reader.open()
    except ScrLocalizerError:
        raise
    except Exception as exc:  # rosbags raises several types for broken files
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ScrLocalizerError(
            f"cannot open bag '{path}': it is truncated, corrupt or not a bag ({detail[:200]}); "
            "an interrupted recording can be repaired with `mcap recover` or `ros2 bag reindex`"
        ) from None
    return reader


def corrupt_bag_error(path: Path, exc: Exception) -> ScrLocalizerError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return ScrLocalizerError(
        f"cannot read bag '{path}': it is truncated or corrupt ({detail[:200]})"
    )
