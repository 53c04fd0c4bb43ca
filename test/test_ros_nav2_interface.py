"""What nav2 needs from the localization node, over real DDS in separate processes (node, player,
probe): an AMCL-like ~/pose (reliable, transient_local, depth 1), initialpose, map->odom stamps
that never decrease, two_d_mode and the odometry-consistency gate."""

import pytest

from test import test_ros_localize_node as localize_tests
from test.test_ros_localize_node import FEW_FRAMES, NODE_READY_S, node_args

pytestmark = [pytest.mark.ros, pytest.mark.slow]
dds_env, map_file, processes = (localize_tests.dds_env, localize_tests.map_file,
                                localize_tests.processes)


def _probe(processes, node, *args, timeout=60.0, ok=True):
    code, got, err = processes.probe(*args, timeout=timeout)
    assert node.poll() is None, f"the node died:\n{processes.log('node')[-3000:]}"
    if ok:
        assert code == 0, (f"probe {args}: {got.get('diagnostics')}\n{err[-2000:]}\n"
                           f"node log:\n{processes.log('node')[-3000:]}")
    return got


def test_initial_pose_gives_map_to_odom_before_any_fix(processes, redkitchen):
    """No map at all, so no fix: map->odom comes from the initial pose and odom->base_link at
    its stamp, future-dated by transform_tolerance; a late transient_local subscriber gets it on
    ~/pose, a late volatile one does not."""
    node = processes.start("node", node_args("tf_publish_rate_hz:=0.0",
                                             "transform_tolerance_s:=0.2"))
    processes.player(redkitchen, "--frames", FEW_FRAMES, "--rate", "5")
    got = _probe(processes, node, "--initial-pose-from-truth", "--map-odom", "1",
                 timeout=NODE_READY_S)
    first = got["map_odom"][0]
    # the player's odometry is the truth seen from MAP_FROM_ODOM, so this is exact
    assert first["t_err_m"] < 0.01 and first["r_err_deg"] < 0.5, first
    assert first["stamp_ns"] == got["initial_pose_stamp_ns"] + 200_000_000

    got = _probe(processes, node, "--pose-qos", "transient_local", "--poses", "1",
                 "--value", "frames_initial_poses=1", timeout=30)
    assert got["pose_count"] == 1
    assert got["diagnostics"]["values"]["frames_localized"] == "0"
    got = _probe(processes, node, "--poses", "1", timeout=5, ok=False)
    assert got["pose_count"] == 0  # volatile: the last pose is not replayed


@pytest.mark.parametrize("rate_hz, two_d_mode", [("10.0", "false"), ("0.0", "true")],
                         ids=["republish-10hz", "fixes-only-2d"])
def test_map_to_odom_stamps_increase_over_a_replay(processes, redkitchen, map_file, rate_hz,
                                                   two_d_mode):
    node = processes.start("node", node_args(f"map_path:={map_file}",
                                             f"tf_publish_rate_hz:={rate_hz}",
                                             f"two_d_mode:={two_d_mode}"))
    player = processes.player(redkitchen, "--rate", "5")
    got = _probe(processes, node, "--fixes", "5", "--localized-more-than", "0",
                 timeout=NODE_READY_S)
    stamps = [m["stamp_ns"] for m in got["map_odom"]]
    assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps
    assert (got["republished"] > 0) == (rate_hz != "0.0"), got["republished"]
    errors = sorted(f["t_err_m"] for f in got["fixes"])
    assert errors[len(errors) // 2] < 0.15, got["fixes"]
    z = [abs(m["z_m"]) for m in got["map_odom"]]
    tilt = [m["tilt_deg"] for m in got["map_odom"]]
    if two_d_mode == "true":
        assert max(z) < 1e-9 and max(tilt) < 1e-6, (z, tilt)
    else:  # 6-DoF fixes carry visual noise in z, roll and pitch
        assert max(tilt) > 1e-3, tilt

    processes.stop(player)
    got = _probe(processes, node, "--pose-qos", "transient_local", "--poses", "1", timeout=30)
    assert got["pose_count"] == 1


def test_a_fix_inconsistent_with_odometry_is_held(processes, redkitchen, map_file):
    """Every 3rd frame's odometry jumps 1.5 m, so its fix would move map->odom by 1.5 m: the
    gate holds it (lone outliers never agree 3 times) and /diagnostics counts it."""
    node = processes.start("node", node_args(f"map_path:={map_file}", "tf_publish_rate_hz:=0.0"))
    processes.player(redkitchen, "--rate", "5", "--odom-glitch-every", "3")
    got = _probe(processes, node, "--fixes", "6", "--localized-more-than", "0",
                 timeout=NODE_READY_S)
    for _ in range(3):
        if int(got["diagnostics"]["values"]["fixes_held"]) > 0:
            break
        got = _probe(processes, node, "--fixes", "1", "--localized-more-than",
                     got["diagnostics"]["values"]["frames_localized"], timeout=60)
    values = got["diagnostics"]["values"]
    assert int(values["fixes_held"]) > 0, values
    assert int(values["fixes_rejected"]) > 0, values
    wrong = [f for f in got["fixes"] if f["t_err_m"] > 1.0]
    # at most the very first fix (nothing to check it against yet) may be a glitch
    assert len(wrong) <= 1, got["fixes"]
