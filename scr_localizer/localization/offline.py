"""Localize every frame of a bag or a frame sequence: shared by the localize/evaluate verbs,
benchmarks and notebooks."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.metrics import FrameRecord
from scr_localizer.io.frames import RGBDFrame
from scr_localizer.localization.localizer import Localizer

GROUND_TRUTH_TOPIC = defaults.GROUND_TRUTH_TOPIC


def localize_frames(
    localizer: Localizer, frames: Iterable[RGBDFrame], use_depth: bool = True,
    progress: bool = False,
) -> list[FrameRecord]:
    """One FrameRecord per frame. `decode` is the time spent getting the frame out of its
    source (bag reading and image decoding); latency = decode + localization."""
    from tqdm import tqdm

    records = []
    iterator = iter(frames)
    bar = tqdm(disable=not progress, unit="frame", dynamic_ncols=True)
    while True:
        start = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            break
        decode_ms = (time.perf_counter() - start) * 1e3
        result = localizer.localize(frame.color, frame.camera,
                                    frame.depth if use_depth else None)
        timings = {"decode": decode_ms, **result.timings_ms}
        records.append(FrameRecord(
            stamp_ns=frame.stamp_ns,
            success=result.success,
            estimate_world_from_camera=result.world_from_camera if result.success else None,
            truth_world_from_camera=frame.world_from_camera,
            inlier_count=result.inlier_count,
            inlier_ratio=result.inlier_ratio,
            latency_ms=decode_ms + result.timings_ms["total"],
            timings_ms=timings,
            covariance=result.covariance if result.success else None,
            confidence=result.confidence,
            colour_depth_shift_m=result.colour_depth_shift_m,
        ))
        bar.update(1)
    bar.close()
    return records


def open_query_bag(path, fixed_frame: str, ground_truth: str = "auto", color_topic=None,
                   depth_topic=None, camera_info_topic=None, frame_step: int = 1):
    """(RGBDBagReader, where the ground truth comes from or None).

    ground_truth "auto": the /ground_truth/pose topic when the bag has one (query bags), else
    the TF pose of the camera in `fixed_frame` (mapping-style bags), else none. "none" reads no
    poses; any other value names a pose topic.
    """
    from scr_localizer.io.bag_files import open_bag
    from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader

    base = dict(color_topic=color_topic, depth_topic=depth_topic,
                camera_info_topic=camera_info_topic, frame_step=frame_step)
    if ground_truth == "none":
        return RGBDBagReader(path, BagReadConfig(fixed_frame="", **base)), None
    if ground_truth != "auto":
        reader = RGBDBagReader(path, BagReadConfig(fixed_frame=fixed_frame,
                                                   ground_truth_topic=ground_truth, **base))
        return reader, f"topic {ground_truth}"
    bag = open_bag(Path(path))
    try:
        topics = {c.topic for c in bag.connections}
    finally:
        bag.close()
    if GROUND_TRUTH_TOPIC in topics:
        reader = RGBDBagReader(path, BagReadConfig(
            fixed_frame=fixed_frame, ground_truth_topic=GROUND_TRUTH_TOPIC, **base))
        return reader, f"topic {GROUND_TRUTH_TOPIC}"
    reader = RGBDBagReader(path, BagReadConfig(fixed_frame="", **base))
    tree = reader.tf_tree
    if fixed_frame in tree.frames() and reader.camera_frame in tree.frames():
        try:
            tree.check_link(fixed_frame, reader.camera_frame)
        except ScrLocalizerError:
            return reader, None
        try:
            with_truth = RGBDBagReader(path, BagReadConfig(fixed_frame=fixed_frame, **base))
        except ScrLocalizerError:
            return reader, None  # a link exists but not at the image stamps
        return with_truth, f"TF {fixed_frame} -> {reader.camera_frame}"
    return reader, None
