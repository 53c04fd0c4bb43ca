"""ROS-free scoring of what a node published (used by replay and record-poses), on a real
converter query bag: TF composition with the bag's odometry, latency from /clock, drop counts."""

import numpy as np
import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.online import (
    RecordedFix,
    RecordedTransform,
    Recording,
    frame_records,
    online_extras,
)
from scr_localizer.evaluation.query_bag import check_frames, read_query_bag
from scr_localizer.io.bag_writer import BagWriteConfig, default_map_from_odom, write_rgbd_bag
from scr_localizer.io.seven_scenes import iter_frames


@pytest.fixture(scope="module")
def bag(redkitchen, tmp_path_factory):
    path = tmp_path_factory.mktemp("records") / "query"
    write_rgbd_bag(path, iter_frames(redkitchen, range(60, 66)), BagWriteConfig(query=True))
    return read_query_bag(path)


def test_tf_estimate_composes_node_map_to_odom_with_bag_odometry(bag):
    stamps = bag.image_stamps_ns
    assert len(stamps) == 6 and bag.truth_frame == "map" and len(bag.truth) == 6
    map_from_odom = default_map_from_odom()
    recording = Recording()
    start_wall = 100.0
    # /clock reached each image stamp 0.5 s apart; fixes arrive 80 ms later; frame 2 is lost,
    # frame 4 is localized 3 cm off along x.
    for index, stamp in enumerate(stamps):
        recording.clock.append((stamp, start_wall + 0.5 * index))
        if index == 2:
            continue
        truth = bag.truth[stamp].copy()
        if index == 4:
            truth[0, 3] += 0.03
        odom_from_camera = bag.tf.lookup("odom", bag.camera_frame, stamp, 0.0)
        if index == 3:
            # A re-published, future-dated map -> odom of an older fix can carry this exact
            # stamp; it arrives well before this frame's own fix and must not be used.
            recording.transforms.append(RecordedTransform(
                stamp, "map", "odom", np.eye(4), start_wall + 0.5 * index - 0.4))
        recording.transforms.append(RecordedTransform(
            stamp, "map", "odom", truth @ np.linalg.inv(odom_from_camera),
            start_wall + 0.5 * index + 0.08))
        recording.fixes.append(RecordedFix(stamp, truth, np.eye(6) * 1e-4, "map",
                                           start_wall + 0.5 * index + 0.08))
    recording.diagnostics.append((0.0, 0, "ok", {"frames_processed": "5",
                                                 "frames_superseded": "1"}))
    records, gap_cm = frame_records(recording, stamps, bag.truth, bag_tf=bag.tf,
                                    camera_frame=bag.camera_frame, estimate_from="tf")
    assert [r.success for r in records] == [True, True, False, True, True, True]
    errors_cm = [100 * r.translation_error_m for r in records if r.success]
    np.testing.assert_allclose(errors_cm, [0, 0, 0, 3.0, 0], atol=1e-6)
    np.testing.assert_allclose([r.latency_ms for r in records if r.success], 80.0, atol=1e-6)
    assert gap_cm is None  # "tf" mode does not cross-check against ~/pose
    # With ~/pose as the estimate, the TF chain is cross-checked instead.
    _, gap_cm = frame_records(recording, stamps, bag.truth, bag_tf=bag.tf,
                              camera_frame=bag.camera_frame, estimate_from="pose")
    assert gap_cm == pytest.approx(0.0, abs=1e-6)
    extras = online_extras(recording, records, None)
    assert extras["frames_dropped"] == 1 and extras["frames_processed"] == 5
    assert extras["frames_without_fix"] == 1
    assert extras["node_frames_superseded"] == 1
    # 5 frames processed between the first clock tick and the last fix (2.58 s).
    assert extras["sustained_rate_hz"] == pytest.approx(5 / 2.58, rel=1e-6)
    # What a perfect node publishes is the converter's known map_from_odom offset.
    np.testing.assert_allclose(recording.transforms[0].parent_from_child, map_from_odom,
                               atol=1e-6)


def test_bag_that_already_has_the_map_frame_on_tf_is_refused(redkitchen, tmp_path):
    mapping = tmp_path / "mapping"
    write_rgbd_bag(mapping, iter_frames(redkitchen, range(60, 62)), BagWriteConfig())
    summary = read_query_bag(mapping)
    assert summary.truth_frame is None
    with pytest.raises(ScrLocalizerError, match="already has the map frame 'map' on /tf"):
        check_frames("map", summary, "m.scrmap")
