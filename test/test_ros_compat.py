"""The stand-ins for message_filters and tf2_ros behave like the real ones."""

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from scr_localizer.geometry.transforms import pose_from_translation_quaternion, pose_matrix
from scr_localizer.ros.compat.sync import ApproximateTimeSynchronizer, SimpleFilter

SCRIPTS = Path(__file__).parent / "ros_processes"


def msg(t_s: float, data=None):
    ns = int(round(t_s * 1e9))
    stamp = SimpleNamespace(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), data=data)


def synced(n_inputs, queue_size, slop):
    filters = [SimpleFilter() for _ in range(n_inputs)]
    sync = ApproximateTimeSynchronizer(filters, queue_size, slop)
    out = []
    sync.registerCallback(lambda *m: out.append(m))
    return filters, out


def test_pairs_with_equal_stamps_are_emitted_when_the_second_arrives():
    (a, b), out = synced(2, 1, 0.1)
    for t in range(10):
        out.clear()
        ma, mb = msg(t), msg(t)
        a.signalMessage(ma)
        assert out == []
        b.signalMessage(mb)
        assert out == [(ma, mb)]


def test_shuffled_sequences_recombine_like_message_filters():
    rng = random.Random(0)
    for n in range(1, 10):
        (a, b), out = synced(2, n, 0.1)
        seq_a = [msg(t, rng.random()) for t in range(n)]
        seq_b = [msg(t, rng.random()) for t in range(n)]
        for m in rng.sample(seq_a, n):
            a.signalMessage(m)
        assert out == []
        for m in rng.sample(seq_b, n):
            b.signalMessage(m)
        assert {(x.data, y.data) for x, y in out} == {(x.data, y.data) for x, y in zip(seq_a, seq_b)}


def test_three_topics_within_slop_match_nearest_and_far_ones_do_not():
    (color, depth, info), out = synced(3, 10, 0.02)
    color.signalMessage(msg(1.000, "c1"))
    depth.signalMessage(msg(1.500, "d_far"))  # outside slop: never pairs with c1
    info.signalMessage(msg(1.000, "i1"))
    assert out == []
    depth.signalMessage(msg(1.030, "d_too_far"))  # 30 ms > 20 ms slop
    assert out == []
    depth.signalMessage(msg(1.012, "d1"))
    assert [tuple(m.data for m in s) for s in out] == [("c1", "d1", "i1")]
    # Matched messages left the queues; the unmatched far depth is still there for later.
    color.signalMessage(msg(1.501, "c2"))
    info.signalMessage(msg(1.501, "i2"))
    assert [m.data for m in out[-1]] == ["c2", "d_far", "i2"]


def test_queue_size_drops_the_oldest_message():
    (a, b), out = synced(2, 2, 0.01)
    for t in (1.0, 2.0, 3.0):
        a.signalMessage(msg(t, t))
    b.signalMessage(msg(1.0))  # 1.0 was pushed out of a's queue of 2
    assert out == []
    b.signalMessage(msg(3.0))
    assert [m.data for m in out[0]][0] == 3.0


def test_headerless_messages_are_ignored_unless_allowed():
    a, b = SimpleFilter(), SimpleFilter()
    sync = ApproximateTimeSynchronizer([a, b], 5, 0.5, allow_headerless=True,
                                       clock_ns=lambda: 7_000_000_000)
    out = []
    sync.registerCallback(lambda *m: out.append(m))
    a.signalMessage(msg(7.1))
    b.signalMessage(SimpleNamespace(data="no header"))
    assert len(out) == 1
    strict = ApproximateTimeSynchronizer([SimpleFilter(), SimpleFilter()], 5, 0.5)
    strict.add(SimpleNamespace(data="x"), strict.queues[0], 0)
    assert strict.queues[0] == {}


def _transform(parent, child, stamp_ns, matrix):
    from scr_localizer.ros.conversions import transform_stamped

    return transform_stamped(parent, child, stamp_ns, matrix)


def test_buffer_chains_interpolates_and_refuses_extrapolation():
    from rclpy.duration import Duration
    from rclpy.time import Time

    from scr_localizer.ros.compat.tf import Buffer, ExtrapolationException, LookupException
    from scr_localizer.ros.conversions import matrix_from_transform

    buffer = Buffer()
    base_from_camera = pose_from_translation_quaternion([0.1, 0.0, 0.5], [0.5, -0.5, 0.5, -0.5])
    buffer.set_transform_static(_transform("base_link", "camera", 0, base_from_camera), "test")
    for i, x in enumerate((0.0, 1.0)):
        stamp_ns = (10 + i) * 1_000_000_000
        buffer.set_transform(_transform("odom", "base_link", stamp_ns,
                                        pose_matrix(np.eye(3), [x, 0.0, 0.0])), "test")
    got = buffer.lookup_transform("odom", "camera", Time(nanoseconds=10_500_000_000))
    expected = pose_matrix(np.eye(3), [0.5, 0, 0]) @ base_from_camera
    np.testing.assert_allclose(matrix_from_transform(got.transform), expected, atol=1e-9)
    assert got.header.frame_id == "odom" and got.child_frame_id == "camera"
    latest = buffer.lookup_transform("odom", "base_link", Time())
    assert latest.transform.translation.x == pytest.approx(1.0)
    assert buffer.can_transform("camera", "odom", Time(nanoseconds=10_000_000_000))
    with pytest.raises(ExtrapolationException):
        buffer.lookup_transform("odom", "camera", Time(nanoseconds=12_000_000_000))
    with pytest.raises(LookupException, match="map"):
        buffer.lookup_transform("map", "camera", Time(), timeout=Duration(seconds=0.05))


@pytest.mark.ros
def test_listener_and_broadcasters_over_dds(ros_env):
    """One process broadcasts (static latched before the listener exists, dynamic at 20 Hz);
    another looks the chain up through its Buffer + TransformListener."""
    publisher = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "compat_tf_broadcaster.py"), "25"], env=ros_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        listener = subprocess.run(
            [sys.executable, str(SCRIPTS / "compat_tf_listener.py"), "20"], env=ros_env,
            capture_output=True, text=True, timeout=60)
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    assert listener.returncode == 0, listener.stdout + listener.stderr
    got = json.loads(listener.stdout.strip().splitlines()[-1])
    assert got["backend"] == "scr_localizer.ros.compat.tf" or got["backend"] == "tf2_ros"
    # odom->base is x = 0.1 * t; base->camera static z = 0.5.
    assert got["odom_camera_z"] == pytest.approx(0.5)
    assert got["interpolation_error"] < 1e-6
    assert got["missing_raises"] is True
