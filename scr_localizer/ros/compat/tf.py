"""Stand-in for `tf2_ros` (Buffer, TransformListener, broadcasters) where it is missing.

Same names, constructor signatures, topics and QoS as tf2_ros' Python API; the transforms live in
the data layer's `TfTree`, which interpolates along chains and refuses extrapolation as tf2 does.
"""

from __future__ import annotations

import threading
import time

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile
from rclpy.time import Time

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.tf_tree import TfTree
from scr_localizer.ros.conversions import matrix_from_transform, stamp_to_ns, transform_stamped


class TransformException(ScrLocalizerError):
    """Base of the lookup errors, as tf2.TransformException."""


class LookupException(TransformException):
    pass


class ConnectivityException(TransformException):
    pass


class ExtrapolationException(TransformException):
    pass


def _time_ns(time_value) -> int:
    if time_value is None:
        return 0
    return stamp_to_ns(time_value)


class Buffer:
    """Time-stamped transform store with tf2_ros.Buffer's lookup API.

    `lookup_transform(target, source, time, timeout)` returns a TransformStamped target<-source;
    time 0 (`rclpy.time.Time()`) means the latest time at which the whole chain is known.
    """

    def __init__(self, cache_time: Duration | None = None, node=None):
        cache_s = 10.0 if cache_time is None else cache_time.nanoseconds * 1e-9
        self._tree = TfTree(cache_time_s=cache_s)
        self._lock = threading.Lock()
        self._jump_handle = None
        if node is not None:
            from rclpy.clock import JumpThreshold

            threshold = JumpThreshold(min_forward=None, min_backward=Duration(seconds=-1),
                                      on_clock_change=True)
            self._jump_handle = node.get_clock().create_jump_callback(
                threshold, post_callback=lambda _jump: self.clear())

    def clear(self) -> None:
        """Forget everything (a clock jumped back, e.g. a bag restarted)."""
        with self._lock:
            self._tree = TfTree(cache_time_s=self._tree_cache_s())

    def _tree_cache_s(self) -> float:
        return float(getattr(self._tree, "cache_time_s", 10.0))

    def set_transform(self, transform, authority: str) -> None:
        self._add(transform, static=False)

    def set_transform_static(self, transform, authority: str) -> None:
        self._add(transform, static=True)

    def _add(self, transform, static: bool) -> None:
        with self._lock:
            self._tree.add_transform(
                transform.header.frame_id.lstrip("/"), transform.child_frame_id.lstrip("/"),
                stamp_to_ns(transform.header.stamp), matrix_from_transform(transform.transform),
                static=static,
            )

    def _lookup_matrix(self, target_frame: str, source_frame: str, stamp_ns: int):
        with self._lock:
            return self._tree.lookup(target_frame.lstrip("/"), source_frame.lstrip("/"),
                                     stamp_ns, 0.0)

    def _latest_common_ns(self, target_frame: str, source_frame: str) -> int:
        """The stamp a 'latest' (time 0) lookup resolves to, as tf2 reports it."""
        with self._lock:
            chains = []
            for frame in (target_frame.lstrip("/"), source_frame.lstrip("/")):
                chain = [frame]
                while self._tree.parent(chain[-1]) is not None and len(chain) < 1000:
                    chain.append(self._tree.parent(chain[-1]))
                chains.append(chain)
            common = next((f for f in chains[1] if f in set(chains[0])), None)
            ends = []
            for chain in chains:
                for frame in chain[: chain.index(common) if common in chain else len(chain)]:
                    time_range = self._tree.time_range(frame)
                    if time_range is not None:
                        ends.append(time_range[1])
        return min(ends) if ends else 0

    def can_transform(self, target_frame: str, source_frame: str, time_value=None,
                      timeout: Duration | None = None, return_debug_tuple: bool = False):
        wait_s = timeout.nanoseconds * 1e-9 if timeout is not None else 0.0
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._lookup_matrix(target_frame, source_frame, _time_ns(time_value))
                result = (True, "")
            except ScrLocalizerError as exc:
                result = (False, str(exc))
            if result[0] or time.monotonic() >= deadline:
                return result if return_debug_tuple else result[0]
            time.sleep(0.01)

    def lookup_transform(self, target_frame: str, source_frame: str, time_value=None,
                         timeout: Duration | None = None):
        stamp_ns = _time_ns(time_value)
        self.can_transform(target_frame, source_frame, time_value, timeout)
        try:
            matrix = self._lookup_matrix(target_frame, source_frame, stamp_ns)
        except ScrLocalizerError as exc:
            message = str(exc)
            kind = ExtrapolationException if "extrapolat" in message.lower() else LookupException
            raise kind(message) from None
        if stamp_ns == 0:
            stamp_ns = self._latest_common_ns(target_frame, source_frame)
        return transform_stamped(target_frame, source_frame, stamp_ns, matrix)

    def all_frames_as_string(self) -> str:
        with self._lock:
            return ", ".join(sorted(self._tree.frames()))


class TransformListener:
    """Feeds /tf and /tf_static into a Buffer (QoS as tf2_ros: depth 100, static latched)."""

    def __init__(self, buffer: Buffer, node, *, spin_thread: bool = False, qos=None,
                 static_qos=None, tf_topic: str = "/tf", tf_static_topic: str = "/tf_static",
                 static_only: bool = False):
        from tf2_msgs.msg import TFMessage

        if spin_thread:
            raise ScrLocalizerError(
                "TransformListener(spin_thread=True) is not supported by the built-in TF stand-in; "
                "spin the node yourself")
        if static_qos is None:
            static_qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                    history=HistoryPolicy.KEEP_LAST)
        if qos is None:
            qos = QoSProfile(depth=100, durability=DurabilityPolicy.VOLATILE,
                             history=HistoryPolicy.KEEP_LAST)
        self.buffer = buffer
        self.node = node
        self.group = ReentrantCallbackGroup()
        if not static_only:
            self.tf_sub = node.create_subscription(TFMessage, tf_topic, self.callback, qos,
                                                   callback_group=self.group)
        self.tf_static_sub = node.create_subscription(
            TFMessage, tf_static_topic, self.static_callback, static_qos, callback_group=self.group)

    def unregister(self) -> None:
        if hasattr(self, "tf_sub"):
            self.node.destroy_subscription(self.tf_sub)
        self.node.destroy_subscription(self.tf_static_sub)

    def callback(self, data) -> None:
        for transform in data.transforms:
            self.buffer.set_transform(transform, "default_authority")

    def static_callback(self, data) -> None:
        for transform in data.transforms:
            self.buffer.set_transform_static(transform, "default_authority")


def _as_list(transform):
    if isinstance(transform, list):
        return transform
    if hasattr(transform, "__iter__"):
        return list(transform)
    return [transform]


class TransformBroadcaster:
    """Publishes TransformStamped(s) on /tf (QoS depth 100, as tf2_ros)."""

    def __init__(self, node, qos=None):
        from tf2_msgs.msg import TFMessage

        self._msg_type = TFMessage
        self.pub_tf = node.create_publisher(TFMessage, "/tf", qos if qos is not None else
                                            QoSProfile(depth=100))

    def sendTransform(self, transform) -> None:  # noqa: N802 - tf2_ros' name
        self.pub_tf.publish(self._msg_type(transforms=_as_list(transform)))


class StaticTransformBroadcaster:
    """Publishes latched transforms on /tf_static (depth 1, TRANSIENT_LOCAL, as tf2_ros).

    Like tf2_ros, each call replaces what late joiners receive, so send all static transforms
    of a node in one call."""

    def __init__(self, node, qos=None):
        from tf2_msgs.msg import TFMessage

        if qos is None:
            qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             history=HistoryPolicy.KEEP_LAST)
        self._msg_type = TFMessage
        self.pub_tf = node.create_publisher(TFMessage, "/tf_static", qos)

    def sendTransform(self, transform) -> None:  # noqa: N802 - tf2_ros' name
        self.pub_tf.publish(self._msg_type(transforms=_as_list(transform)))


__all__ = [
    "Buffer", "ConnectivityException", "ExtrapolationException", "LookupException",
    "StaticTransformBroadcaster", "Time", "TransformBroadcaster", "TransformException",
    "TransformListener",
]
