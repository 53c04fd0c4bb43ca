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
