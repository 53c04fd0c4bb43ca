"""A TF buffer without ROS: a tree of frames whose edges are static or time-stamped.

The bag reader fills it from /tf and /tf_static, the live node from its subscriptions, so both
answer "where is the camera in the map at this image's stamp" the same way tf2 would: chain
through the common ancestor, interpolate each moving edge (lerp + slerp) and refuse to
extrapolate beyond a tolerance.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import interpolate_pose, invert_pose


def _seconds(stamp_ns: int) -> str:
    return f"{stamp_ns * 1e-9:.3f}"


@dataclass
class _Edge:
    parent: str
    static: bool
    pose: np.ndarray | None = None  # static: parent_from_child
    stamps: list[int] = field(default_factory=list)  # dynamic: sorted stamps ...
    poses: list[np.ndarray] = field(default_factory=list)  # ... and parent_from_child at each

    def time_range(self) -> tuple[int, int]:
        return self.stamps[0], self.stamps[-1]


class TfTree:
    """Frames and transforms; `lookup` returns `target_from_source` 4x4 matrices.

    `cache_time_s` bounds how long dynamic samples are kept behind the newest one (tf2 keeps
    10 s); None keeps everything, which is what reading a whole bag wants.
    """

    def __init__(self, cache_time_s: float | None = 10.0):
        self.cache_time_s = cache_time_s
        self._edges: dict[str, _Edge] = {}  # child -> edge to its parent
        self._lock = threading.Lock()

    # -- filling -------------------------------------------------------------------------------
    def add_transform(
        self,
        parent: str,
        child: str,
        stamp_ns: int,
        parent_from_child: np.ndarray,
        static: bool = False,
    ) -> None:
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ScrLocalizerError(
                f"invalid transform '{parent}' -> '{child}'; expected two different, non-empty "
                "frame ids"
            )
        pose = np.asarray(parent_from_child, dtype=np.float64).reshape(4, 4)
        if not np.all(np.isfinite(pose)):
            raise ScrLocalizerError(f"transform '{parent}' -> '{child}' has non-finite values")
        with self._lock:
            self._check_no_cycle(parent, child)
            edge = self._edges.get(child)
            if edge is None or edge.static != static or edge.parent != parent:
                # A frame has one parent; a re-parented frame starts a fresh history (as tf2).
                edge = _Edge(parent=parent, static=static)
                self._edges[child] = edge
            if static:
                edge.pose = pose
                return
            stamp_ns = int(stamp_ns)
            if not edge.stamps or stamp_ns > edge.stamps[-1]:
                edge.stamps.append(stamp_ns)
                edge.poses.append(pose)
            else:
                index = bisect.bisect_left(edge.stamps, stamp_ns)
                if index < len(edge.stamps) and edge.stamps[index] == stamp_ns:
                    edge.poses[index] = pose
                else:
                    edge.stamps.insert(index, stamp_ns)
                    edge.poses.insert(index, pose)
            if self.cache_time_s is not None:
                oldest = edge.stamps[-1] - int(self.cache_time_s * 1e9)
                drop = bisect.bisect_left(edge.stamps, oldest)
                if drop > 0:
                    del edge.stamps[:drop]
                    del edge.poses[:drop]

    def _check_no_cycle(self, parent: str, child: str) -> None:
        frame, seen = parent, 0
        while frame in self._edges and seen <= len(self._edges):
            if frame == child:
                raise ScrLocalizerError(
                    f"transform '{parent}' -> '{child}' would make a loop in the TF tree; "
                    "expected every frame to have a single chain to its root"
                )
            frame = self._edges[frame].parent
            seen += 1
        if frame == child:
            raise ScrLocalizerError(
                f"transform '{parent}' -> '{child}' would make a loop in the TF tree; "
                "expected every frame to have a single chain to its root"
            )

    # -- queries -------------------------------------------------------------------------------
    def frames(self) -> list[str]:
        with self._lock:
            names = set(self._edges)
            names.update(edge.parent for edge in self._edges.values())
        return sorted(names)

    def parent(self, frame: str) -> str | None:
        edge = self._edges.get(frame.lstrip("/"))
        return edge.parent if edge else None

    def is_static(self, frame: str) -> bool:
        edge = self._edges.get(frame.lstrip("/"))
        return bool(edge and edge.static)

    def edges(self) -> list[tuple[str, str, bool, int]]:
        """(parent, child, static, sample count) for every edge, sorted by child."""
        with self._lock:
            return [
                (e.parent, child, e.static, 1 if e.static else len(e.stamps))
                for child, e in sorted(self._edges.items())
            ]

    def time_range(self, frame: str) -> tuple[int, int] | None:
        """Stamps covered by the dynamic edge from `frame` to its parent (None if static)."""
        edge = self._edges.get(frame.lstrip("/"))
        if edge is None or edge.static or not edge.stamps:
            return None
        return edge.time_range()

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
        return chain

    def _path(self, target: str, source: str) -> tuple[list[str], list[str]]:
        """Frames walked from source up to the common ancestor, and from target up to it."""
        known = set(self._edges) | {e.parent for e in self._edges.values()}
        missing = [f for f in (target, source) if f not in known]
        if missing or self._chain(target)[-1] != self._chain(source)[-1]:
            reason = (
                f"frame {' and '.join(repr(m) for m in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not in the tree"
                if missing
                else "they are in separate trees"
            )
            names = sorted(known)
            listed = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")
            raise ScrLocalizerError(
                f"no TF link between '{target}' and '{source}' ({reason}); known frames: "
                f"{listed or 'none'}"
            )
        source_chain, target_chain = self._chain(source), self._chain(target)
        in_target = set(target_chain)
        ancestor = next(f for f in source_chain if f in in_target)
        return (
            source_chain[: source_chain.index(ancestor) + 1],
            target_chain[: target_chain.index(ancestor) + 1],
        )

    def check_link(self, target_frame: str, source_frame: str) -> None:
        """Raise the 'no TF link' error unless both frames are in one tree (any time)."""
        with self._lock:
            self._path(target_frame.lstrip("/"), source_frame.lstrip("/"))

    def _edge_pose(
        self, child: str, stamp_ns: int, tolerance_ns: int, target: str, source: str
    ) -> np.ndarray:
        edge = self._edges[child]
        if edge.static:
            return edge.pose
        stamps = edge.stamps
        first, last = stamps[0], stamps[-1]
        if stamp_ns < first - tolerance_ns or stamp_ns > last + tolerance_ns:
            raise ScrLocalizerError(
                f"cannot look up '{target}' <- '{source}' at t={_seconds(stamp_ns)} s: "
                f"'{edge.parent}' -> '{child}' is known only for t={_seconds(first)}.."
                f"{_seconds(last)} s and extrapolating beyond {tolerance_ns * 1e-9:g} s is refused"
            )
        if stamp_ns <= first:
            return edge.poses[0]
        if stamp_ns >= last:
            return edge.poses[-1]
        index = bisect.bisect_right(stamps, stamp_ns)
        t0, t1 = stamps[index - 1], stamps[index]
        if t0 == stamp_ns:
            return edge.poses[index - 1]
        return interpolate_pose(
            edge.poses[index - 1], edge.poses[index], (stamp_ns - t0) / (t1 - t0)
        )

    def _latest_common_stamp(self, up: list[str], down: list[str]) -> int:
        ends = [
            self._edges[f].stamps[-1]
            for f in up[:-1] + down[:-1]
            if not self._edges[f].static and self._edges[f].stamps
        ]
        return min(ends) if ends else 0

    def lookup(
        self,
        target_frame: str,
        source_frame: str,
        stamp_ns: int | None = None,
        tolerance_s: float = 0.0,
    ) -> np.ndarray:
        """`target_from_source` at `stamp_ns` (None or 0: the latest time every edge knows).

        Each moving edge is interpolated at the stamp; a stamp outside an edge's samples by more
        than `tolerance_s` is refused rather than extrapolated (the nearest sample is used within
        the tolerance).
        """
        target, source = target_frame.lstrip("/"), source_frame.lstrip("/")
        with self._lock:
            if target == source and (target in self._edges or self._has_child(target)):
                return np.eye(4)
            up, down = self._path(target, source)
            if not stamp_ns:
                stamp_ns = self._latest_common_stamp(up, down)
            tolerance_ns = int(round(max(tolerance_s, 0.0) * 1e9))
            ancestor_from_source = np.eye(4)
            for child in up[:-1]:
                ancestor_from_source = (
                    self._edge_pose(child, stamp_ns, tolerance_ns, target, source)
                    @ ancestor_from_source
                )
            ancestor_from_target = np.eye(4)
            for child in down[:-1]:
                ancestor_from_target = (
                    self._edge_pose(child, stamp_ns, tolerance_ns, target, source)
                    @ ancestor_from_target
                )
        return invert_pose(ancestor_from_target) @ ancestor_from_source

    def _has_child(self, frame: str) -> bool:
        return any(e.parent == frame for e in self._edges.values())

    def can_transform(
        self,
        target_frame: str,
        source_frame: str,
        stamp_ns: int | None = None,
        tolerance_s: float = 0.0,
    ) -> bool:
        try:
            self.lookup(target_frame, source_frame, stamp_ns, tolerance_s)
        except ScrLocalizerError:
            return False
        return True

    def tree_text(self) -> str:
        """The tree as indented lines (for `scr-localizer inspect`)."""
        with self._lock:
            children: dict[str, list[str]] = {}
            for child, edge in self._edges.items():
                children.setdefault(edge.parent, []).append(child)
            roots = sorted({e.parent for e in self._edges.values()} - set(self._edges))
            lines: list[str] = []

            def walk(frame: str, depth: int) -> None:
                edge = self._edges.get(frame)
                if edge is None:
                    note = ""
                elif edge.static:
                    note = "  [static]"
                else:
                    first, last = edge.time_range()
                    rate = (len(edge.stamps) - 1) / max((last - first) * 1e-9, 1e-9)
                    note = (
                        f"  [{len(edge.stamps)} samples, {_seconds(first)}..{_seconds(last)} s"
                        f"{f', {rate:.1f} Hz' if len(edge.stamps) > 1 else ''}]"
                    )
                lines.append("  " * depth + frame + note)
                for child in sorted(children.get(frame, [])):
                    walk(child, depth + 1)

            for root in roots:
                walk(root, 0)
        return "\n".join(lines)
