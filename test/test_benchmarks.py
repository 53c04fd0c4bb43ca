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
