"""The built-in synthetic room: determinism, exact depth, non-repeating textures, trajectories,
and the make-scene verb writing real bags."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from scr_localizer.cli import main as cli_main
from scr_localizer.demo.scene import DemoScene, DemoSceneConfig
from scr_localizer.demo.textures import TextureStyle, make_texture
from scr_localizer.demo.trajectories import camera_pose, mapping_poses, query_poses
from scr_localizer.geometry.transforms import pose_error, transform_points
from scr_localizer.io.bag_reader import BagReadConfig, RGBDBagReader

GROUND_TRUTH = "/ground_truth/pose"
SMALL = dict(width=160, height=120, texel_m=0.01)


@pytest.fixture(scope="module")
def small_scene() -> DemoScene:
    return DemoScene(DemoSceneConfig(seed=3, **SMALL))


def test_render_is_deterministic_by_seed(small_scene):
    # Towards the x = 7 m wall above the table: only fixed geometry (walls, a picture) in view.
    pose = camera_pose([3.5, 3.0, 1.8], yaw=0.0, pitch=0.15)
    color, depth = small_scene.render(pose, noise_seed=17)
    again = DemoScene(DemoSceneConfig(seed=3, **SMALL)).render(pose, noise_seed=17)
    assert color.shape == (120, 160, 3) and color.dtype == np.uint8
    assert depth.shape == (120, 160) and depth.dtype == np.float32
    np.testing.assert_array_equal(color, again[0])
    np.testing.assert_array_equal(depth, again[1])
    other_color, other_depth = DemoScene(DemoSceneConfig(seed=4, **SMALL)).render(pose, 17)
    np.testing.assert_array_equal(depth, other_depth)  # same room geometry where it is fixed...
    assert np.mean(np.abs(color.astype(int) - other_color.astype(int))) > 20  # ...new textures


def test_depth_is_exact_on_known_planes(small_scene):
    room_height = small_scene.config.room_size_m[2]
    # Looking straight up from 1.5 m: the ceiling is a plane 1.2 m away along the optical axis.
    up = camera_pose([3.5, 3.0, 1.5], yaw=0.4, pitch=np.pi / 2)
    _, depth = small_scene.render(up)
    np.testing.assert_allclose(depth, room_height - 1.5, atol=1e-4)
    # Looking at the x = 7 m wall above the furniture, yawed: every backprojected pixel of the
    # upper image half lies on the wall or the ceiling.
    pose = camera_pose([3.5, 3.0, 2.4], yaw=0.2, pitch=-0.05)
    _, depth = small_scene.render(pose)
    cam = small_scene.camera
    assert depth[cam.height // 2, cam.width // 2] == pytest.approx(
        (7.0 - 3.5) / (np.cos(0.2) * np.cos(0.05)), abs=1e-3)
    rows, cols = np.mgrid[0:cam.height // 2, 0:cam.width]
    pixels = np.stack([cols.ravel(), rows.ravel()], 1).astype(float)
    points = transform_points(pose, cam.backproject(pixels, depth[rows, cols].ravel()))
    on_wall = np.abs(points[:, 0] - 7.0) < 1e-3
    on_ceiling = np.abs(points[:, 2] - room_height) < 1e-3
    assert np.all(on_wall | on_ceiling) and on_wall.mean() > 0.3


def test_textures_do_not_repeat():
    rng = np.random.default_rng(0)
    texture = make_texture(rng, 2.0, 1.0, 0.005, TextureStyle((120, 100, 90)))
    gray = cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray -= cv2.GaussianBlur(gray, (0, 0), 4)  # local structure, what features describe
    size = 40  # 20 cm patches, roughly what one 8x8 feature cell plus context sees at 2 m
    best_elsewhere = []
    for y, x in zip(*[np.random.default_rng(1).integers(0, n - size, 12) for n in gray.shape]):
        patch = gray[y:y + size, x:x + size]
        scores = cv2.matchTemplate(gray, patch, cv2.TM_CCOEFF_NORMED)
        assert scores[y, x] == pytest.approx(1.0, abs=1e-3)
        ys, xs = np.mgrid[0:scores.shape[0], 0:scores.shape[1]]
        far = (np.abs(ys - y) > size) | (np.abs(xs - x) > size)
        best_elsewhere.append(scores[far].max())
    assert max(best_elsewhere) < 0.9  # no copy anywhere
    assert np.median(best_elsewhere) < 0.5  # and typically nothing alike


def test_trajectories_differ_but_stay_in_the_mapped_room(small_scene):
    mapping, query = mapping_poses(300), query_poses(100)
    mapping_xyz = np.array([p[:3, 3] for p in mapping])
    for pose in query:
        errors = [pose_error(pose, m) for m in mapping]
        assert min(t + r / 100.0 for t, r in errors) > 0.02  # never a mapping view again
        nearest = min(errors, key=lambda e: e[0])
        assert nearest[0] < 0.4  # but close to where the room was mapped from
        assert np.all(pose[:3, 3] > mapping_xyz.min(0) - 0.05)
        assert np.all(pose[:3, 3] < mapping_xyz.max(0) + 0.05)
    for pose in mapping + query:
        assert not any(box.contains(pose[:3, 3], margin=0.3) for box in small_scene.boxes[1:])


def test_make_scene_writes_mapping_and_query_bags(tmp_path, capsys):
    out = tmp_path / "scene"
    code = cli_main(["make-scene", str(out), "--seed", "5", "--mapping-frames", "6",
                     "--query-frames", "4", "--width", "160", "--height", "120", "--texel-mm", "10"])
    assert code == 0, capsys.readouterr().err
    mapping = list(RGBDBagReader(out / "mapping"))
    query = list(RGBDBagReader(out / "query", BagReadConfig(ground_truth_topic=GROUND_TRUTH)))
    assert (len(mapping), len(query)) == (6, 4)
    scene = DemoScene(DemoSceneConfig(seed=5, **SMALL))
    for frames, poses, first in ((mapping, mapping_poses(6), 0),
                                 (query, query_poses(4), scene.query_frames_first_index(6))):
        for i, (frame, pose) in enumerate(zip(frames, poses)):
            np.testing.assert_allclose(frame.world_from_camera, pose, atol=1e-6)
            color, depth = scene.render(pose, noise_seed=first + i)
            np.testing.assert_array_equal(frame.color, color)
            np.testing.assert_allclose(frame.depth, depth, atol=0.0011)
            assert frame.camera.fx == pytest.approx(615.0 / 4)
    with AnyReader([out / "query"]) as reader:
        tf_parents = {c.topic: c.msgcount for c in reader.connections}
    assert tf_parents[GROUND_TRUTH] == 4
    assert cli_main(["make-scene", str(out), "--mapping-frames", "2", "--query-frames", "2"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_room360_scene_looks_all_around_and_is_written_by_make_scene(tmp_path, capsys):
    from scr_localizer.demo.trajectories import room360_mapping_poses, room360_query_poses

    mapping, query = room360_mapping_poses(300), room360_query_poses(100)
    yaws = np.degrees([np.arctan2(p[1, 2], p[0, 2]) for p in mapping]) % 360
    assert np.histogram(yaws, bins=12, range=(0, 360))[0].min() > 0  # every 30° sector
    for pose in query[::10]:
        assert min(pose_error(pose, m)[0] for m in mapping) < 0.5
    out = tmp_path / "room360"
    code = cli_main(["make-scene", str(out), "--scene", "room360", "--mapping-frames", "4",
                     "--query-frames", "2", "--width", "160", "--height", "120",
                     "--texel-mm", "10"])
    assert code == 0, capsys.readouterr().err
    frames = list(RGBDBagReader(out / "mapping"))
    np.testing.assert_allclose(frames[1].world_from_camera[:3, 3],
                               room360_mapping_poses(4)[1][:3, 3], atol=1e-3)
