"""The classical keypoint peer on real redkitchen frames (SIFT and ORB)."""

from __future__ import annotations

import numpy as np
import pytest

from scr_localizer.baselines.keypoint_localizer import (
    KeypointConfig,
    KeypointLocalizer,
    KeypointMap,
)
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.transforms import pose_error
from scr_localizer.io.seven_scenes import iter_frames


@pytest.mark.parametrize("feature", ["sift", "orb"])
def test_localizes_a_nearby_real_frame(redkitchen, feature):
    config = KeypointConfig(feature=feature)
    keypoint_map = KeypointMap.build(iter_frames(redkitchen, [0, 10, 20, 30, 40]), config)
    assert len(keypoint_map) > 1000
    assert set(np.unique(keypoint_map.frame_of_point)) == {0, 1, 2, 3, 4}
    localizer = KeypointLocalizer(keypoint_map)
    for query in iter_frames(redkitchen, [25, 45]):
        success, world_from_camera, inliers, time_ms = localizer.localize(
            query.color, query.camera)
        assert success and inliers >= 50
        translation_m, rotation_deg = pose_error(world_from_camera, query.world_from_camera)
        assert translation_m < 0.05 and rotation_deg < 3.0
        assert time_ms > 0
        assert set(localizer.last_timings_ms) == {"features", "matching", "ransac"}
    # A textureless image has nothing to match: a failure, not an exception or a wild pose.
    blank = np.full_like(query.color, 128)
    result = localizer.localize(blank, query.camera)
    assert not result.success
    np.testing.assert_array_equal(result.world_from_camera, np.eye(4))


def test_map_needs_depth_and_pose(redkitchen):
    frame = next(iter_frames(redkitchen, [0]))
    frame.depth = None
    with pytest.raises(ScrLocalizerError, match="no depth"):
        KeypointMap.build([frame])
    with pytest.raises(ScrLocalizerError, match="unknown"):
        KeypointConfig(feature="surf")


def test_matches_do_not_depend_on_what_the_process_drew_before(redkitchen):
    """FLANN's KD-trees are randomised from OpenCV's global generator: the peer seeds it, so a
    benchmark's numbers do not move with the order its cases run in."""
    import cv2

    keypoint_map = KeypointMap.build(iter_frames(redkitchen, [0, 10, 20, 30, 40]))
    query = next(iter_frames(redkitchen, [25]))
    descriptors = cv2.SIFT_create(nfeatures=2000).detectAndCompute(
        cv2.cvtColor(query.color, cv2.COLOR_RGB2GRAY), None)[1]
    first = KeypointLocalizer(keypoint_map).match(descriptors)
    cv2.randu(np.zeros((64, 64)), 0.0, 1.0)  # another user of the generator in between
    second = KeypointLocalizer(keypoint_map).match(descriptors)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
