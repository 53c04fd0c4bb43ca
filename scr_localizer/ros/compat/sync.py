"""Stand-in for `message_filters` (Subscriber, ApproximateTimeSynchronizer) where it is missing.

Same constructor signatures and matching rule as message_filters' Python approximate policy, so
node code does not care which one it gets: each input keeps up to `queue_size` messages keyed by
stamp (the oldest is dropped first); when a message arrives, every other input contributes its
messages whose stamp lies within `slop` of it (nearest first), the first combination whose
stamps spread less than `slop` is emitted, and the emitted messages leave their queues.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from scr_localizer.errors import ScrLocalizerError


class SimpleFilter:
    """A message source that calls registered callbacks (message_filters' base class API)."""

    def __init__(self):
        self.callbacks: dict[int, tuple[Callable, tuple]] = {}

    def registerCallback(self, cb, *args):  # noqa: N802 - message_filters' name
        connection = len(self.callbacks)
        self.callbacks[connection] = (cb, args)
        return connection

    def signalMessage(self, *msg):  # noqa: N802 - message_filters' name
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class Subscriber(SimpleFilter):
    """A ROS subscription as a filter source: `Subscriber(node, msg_type, topic, qos_profile=...)`."""

    def __init__(self, node, msg_type, topic, **kwargs):
        super().__init__()
        self.node = node
        self.topic = topic
        kwargs.setdefault("qos_profile", 10)
        self.sub = node.create_subscription(msg_type, topic, self.callback, **kwargs)

    def callback(self, msg):
        self.signalMessage(msg)

    def getTopic(self):  # noqa: N802 - message_filters' name
        return self.topic


def _stamp_ns(stamp) -> int:
    if hasattr(stamp, "nanoseconds"):
        return int(stamp.nanoseconds)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateTimeSynchronizer(SimpleFilter):
    """`ApproximateTimeSynchronizer(filters, queue_size, slop_s)`; callbacks get one message per
    input, in the order of `filters`."""

    def __init__(self, fs, queue_size: int, slop: float, allow_headerless: bool = False,
                 clock_ns: Callable[[], int] = time.time_ns):
        super().__init__()
        if queue_size < 1:
            raise ScrLocalizerError(f"synchronizer queue_size is {queue_size}; expected >= 1")
        if slop < 0:
            raise ScrLocalizerError(f"synchronizer slop is {slop} s; expected >= 0")
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop * 1e9))
        self.allow_headerless = allow_headerless
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self.queues: list[dict[int, object]] = [{} for _ in fs]
        self.input_connections = [
            f.registerCallback(self.add, queue, index)
            for index, (f, queue) in enumerate(zip(fs, self.queues))
        ]

    def add(self, msg, my_queue, my_queue_index=None):
        header = getattr(msg, "header", None)
        if header is None or not hasattr(header, "stamp"):
            if not self.allow_headerless:
                return
            stamp = int(self._clock_ns())
        else:
            stamp = _stamp_ns(header.stamp)
        matched = None
        with self._lock:
            my_queue[stamp] = msg
            while len(my_queue) > self.queue_size:
                del my_queue[min(my_queue)]
            my_index = next(i for i, q in enumerate(self.queues) if q is my_queue)
            candidates = []
            for index, queue in enumerate(self.queues):
                if index == my_index:
                    continue
                near = sorted(
                    (abs(s - stamp), s) for s in queue if abs(s - stamp) <= self.slop_ns
                )
                if not near:
                    return
                candidates.append((index, [s for _, s in near]))
            for combo in itertools.product(*(stamps for _, stamps in candidates)):
                chosen = dict(zip((index for index, _ in candidates), combo))
                chosen[my_index] = stamp
                stamps = list(chosen.values())
                if max(stamps) - min(stamps) < self.slop_ns or (
                    self.slop_ns == 0 and max(stamps) == min(stamps)
                ):
                    matched = [self.queues[i].pop(chosen[i]) for i in range(len(self.queues))]
                    break
        if matched is not None:
            self.signalMessage(*matched)
