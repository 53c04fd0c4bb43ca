"""Every benchmark can be driven by `benchmarks/run.py` (`make benchmark`): main(argv)."""

import importlib

import pytest

from benchmarks.run import discover


@pytest.mark.parametrize("topic", discover())
def test_benchmark_main_takes_argv(topic, capsys):
    module = importlib.import_module(f"benchmarks.bench_{topic}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_gpu_check_runs_its_steps_on_the_cpu(tmp_path, capsys):
    """The prepared GPU script (issue 18) runs nowhere in CI with a GPU: its steps (demo scene,
    mapping, network timing, localization in both modes) run here on the CPU instead, and
    without --device it skips cleanly where there is no CUDA."""
    import json

    import torch

    from benchmarks import bench_gpu

    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--device", "cpu", "--quick", "--iterations", "100",
                           "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["mapping_frames"] == 60 and result["query_frames"] == 20
    assert result["mapping_iterations"] == 100 and result["network_ms"] > 0
    for mode in ("rgbd", "rgb"):
        assert result[mode]["frames_per_s"] > 0 and "encoder" in result[mode]["stage_ms_mean"]
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert bench_gpu.main(["--out", str(tmp_path / "none.json")]) == 0
        assert "no CUDA device here" in capsys.readouterr().out
        assert not (tmp_path / "none.json").exists()


def test_fixes_are_scored_against_the_depth_reference_too():
    """benchmarks.cases scores each fix against the recorded pose and against the depth
    reference (the query's depth aligned to the map from that pose): a fix 15 cm from a drifted
    recorded pose but 1 cm from where the depth puts the camera is wrong by the first and right
    by the second, and each gate's precision follows its reference."""
    import numpy as np

    from benchmarks.cases import _against_depth_reference

    def shifted(x: float) -> list:
        pose = np.eye(4)
        pose[0, 3] = x
        return pose.tolist()

    rows = [  # recorded pose at x = 0 for both queries
        {"pose": shifted(0.16), "depth_reference": shifted(0.15), "peer_pose": shifted(0.0),
         "peer_success": True, "recorded_pose": shifted(0.0)},
        {"pose": shifted(0.01), "depth_reference": shifted(0.0), "peer_pose": shifted(0.4),
         "peer_success": True, "recorded_pose": shifted(0.0)},
    ]
    item = _against_depth_reference(rows, [True, False])
    assert item["right_pct"] == 100.0
    # The first query's recorded pose is 15 cm from where its depth puts the camera.
    assert item["recorded_within_pct"] == 50.0
    assert item["confidence_gate"]["precision_pct"] == 100.0
    assert item["confidence_gate"]["recall_pct"] == 50.0
    assert item["sift_peer"]["precision_pct"] == 0.0 and item["sift_peer"]["wrong_accepted"] == 2


def test_published_covariances_are_scored_per_axis_against_the_recorded_pose():
    """The share of per-axis position errors inside 2 sigma: a fix 5 cm off along x with a
    1 cm sigma misses on that axis only; with a 3 cm sigma every axis is inside."""
    import numpy as np

    from benchmarks.cases import _covariance_coverage

    pose = np.eye(4)
    pose[0, 3] = 0.05

    def row(sigma_m: float) -> dict:
        return {"pose": pose.tolist(), "recorded_pose": np.eye(4).tolist(),
                "covariance": np.diag([sigma_m**2] * 3 + [1e-4] * 3).tolist()}

    assert _covariance_coverage([row(0.01)]) == pytest.approx(100 * 2 / 3)
    assert _covariance_coverage([row(0.03)]) == 100.0
    assert _covariance_coverage([row(0.01), row(0.03)]) == pytest.approx(100 * 5 / 6)


def test_mapping_variants_take_typed_overrides_and_only_with_variant(capsys):
    """`benchmarks.cases --variant --set FIELD=VALUE` is how the mapping preset was chosen (on
    the tuning case); the overrides keep their types, and --set alone is refused."""
    from benchmarks.bench_mapping import parse_overrides
    from benchmarks.cases import main

    assert parse_overrides(["seed=1", "augment=false", "passes=2.5", "submaps=auto"]) == {
        "seed": 1, "augment": False, "passes": 2.5, "submaps": "auto"}
    with pytest.raises(SystemExit) as exit_info:
        main(["--cases", "tuning", "--set", "seed=1"])
    assert exit_info.value.code == 2
    assert "--set needs --variant" in capsys.readouterr().err


def test_localizer_variants_are_checked_before_any_map_is_loaded(capsys):
    """`benchmarks.cases --localizer JSON` compares localizer defaults on a cached case map;
    a field LocalizerConfig does not have is refused at once, naming it."""
    from benchmarks.cases import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--cases", "tuning", "--localizer", '{"depth_refinement": {"prior": 5}}'])
    assert exit_info.value.code == 2
    assert "prior" in capsys.readouterr().err


def test_confidence_refit_refuses_a_threshold_that_accepts_no_fix():
    """benchmarks.fit_confidence: when the tuning fixes put one wrong fix above every right one,
    99 % precision plus the margin ends at a threshold of 1; such a model would refuse every
    fix of its kind, so the tool names the kind and the wrong fix instead of writing it."""
    import numpy as np

    from benchmarks.fit_confidence import fit, unusable

    rng = np.random.default_rng(0)

    def record(mode: str, index: int, right: bool, strength: float) -> dict:
        inliers = int(200 + 600 * strength + 20 * rng.random())
        evidence = {"inliers": inliers, "inlier_ratio": 0.1 + 0.3 * strength,
                    "coverage": 0.3 + 0.6 * strength, "second_ratio": 0.8 - 0.6 * strength,
                    "position_std_m": 0.02 / (1 + 9 * strength),
                    "rotation_std_deg": 0.5 / (1 + 9 * strength)}
        if mode == "rgbd":
            evidence |= {"depth_agreement": 0.2 + 0.7 * strength,
                         "surface_agreement": 0.2 + 0.7 * strength,
                         "surface_residual_m": 0.02 / (1 + 9 * strength),
                         "refinement_shift_m": 0.01}
        error_m = 0.02 if right else 0.5
        return {"mode": mode, "frame": f"frame-{index:06d}", "input": "real",
                "evidence": evidence, "correct": right, "old_correct": right,
                "t_m": error_m, "r_deg": 1.0, "old_t_m": error_m, "old_r_deg": 1.0}

    def records(trusted_wrong: bool) -> list[dict]:
        rows = []
        for mode in ("rgb", "rgbd"):
            rows += [record(mode, i, True, 0.5 + 0.5 * rng.random()) for i in range(40)]
            rows += [record(mode, 100 + i, False, 0.4 * rng.random()) for i in range(30)]
        if trusted_wrong:
            rows.append(record("rgb", 999, False, 1.2))
        return rows

    _, report = fit(records(False), target=0.99, margin=0.05, l2=1.0)
    assert unusable(report) == []
    assert report["rgb"]["accepted"] >= 20 and report["rgb"]["precision"] == 1.0
    _, report = fit(records(True), target=0.99, margin=0.05, l2=1.0)
    assert unusable(report) == ["rgb"]
    assert report["rgb"]["highest_scoring_wrong"][0].startswith("frame-000999 (real): 50.0 cm")
