"""Each node parameter is declared once (scr_localizer/ros/parameters.py); config/*.yaml mirror
the declarations exactly, and the running nodes declare exactly what the files set."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scr_localizer.ros.parameters import NODE_PARAMETERS, params_file_key, render_yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"localize_node": REPO / "config" / "localize.yaml",
           "map_node": REPO / "config" / "map.yaml"}


def _file_parameters(node_name):
    document = yaml.safe_load(CONFIGS[node_name].read_text())
    # /**/name: the file applies to the node in any namespace
    key = params_file_key(node_name)
    assert list(document) == [key], f"{CONFIGS[node_name].name} must configure {key}"
    return document[key]["ros__parameters"]


@pytest.mark.parametrize("node_name", sorted(NODE_PARAMETERS))
def test_yaml_mirrors_declarations_both_ways(node_name):
    in_file = _file_parameters(node_name)
    declared = {spec.name: spec for spec in NODE_PARAMETERS[node_name]}
    assert sorted(set(in_file) - set(declared)) == [], "in the yaml but not declared by the node"
    assert sorted(set(declared) - set(in_file)) == [], "declared by the node but not in the yaml"
    for name, spec in declared.items():
        assert type(in_file[name]) is type(spec.default), f"{name}: type differs"
        assert in_file[name] == spec.default, f"{name}: default differs from the yaml"
        assert spec.description, f"{name} has no description"


@pytest.mark.parametrize("node_name", sorted(NODE_PARAMETERS))
def test_yaml_is_what_render_yaml_writes(node_name):
    text = CONFIGS[node_name].read_text()
    header = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert text == render_yaml(node_name, header)


def test_every_config_file_belongs_to_a_node():
    assert sorted(p.name for p in (REPO / "config").glob("*.yaml")) == sorted(
        p.name for p in CONFIGS.values())


@pytest.mark.ros
@pytest.mark.parametrize("node_name", sorted(NODE_PARAMETERS))
def test_running_node_declares_exactly_the_yaml(node_name, ros_env):
    result = subprocess.run(
        [sys.executable, str(REPO / "test" / "ros_processes" / "declared_parameters.py"),
         node_name, str(CONFIGS[node_name])],
        env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["values"] == _file_parameters(node_name)
    expected_read_only = sorted(s.name for s in NODE_PARAMETERS[node_name] if s.read_only)
    assert got["read_only"] == expected_read_only


@pytest.mark.parametrize("name, value, expected", [
    ("backend", "tensorrt", "parameter backend is 'tensorrt'; expected one of torch, "
                            "onnxruntime, auto"),
    ("color_transport", "theora", "expected one of raw, compressed"),
    ("map_to_odom_smoothing", 1.0, "parameter map_to_odom_smoothing is 1.0; expected"),
    ("input_qos_depth", 0, "parameter input_qos_depth is 0; expected"),
])
def test_choices_and_ranges_are_checked_with_one_line(name, value, expected):
    from scr_localizer.ros.parameters import LOCALIZE_NODE_PARAMETERS, parameter_problem

    spec = {s.name: s for s in LOCALIZE_NODE_PARAMETERS}[name]
    problem = parameter_problem(spec, value)
    assert expected in problem and "\n" not in problem, problem
    assert parameter_problem(spec, spec.default) == ""


def test_localize_node_defaults_are_the_localizers():
    """The node's localizer parameters start where LocalizerConfig does (one default each)."""
    from scr_localizer.localization.localizer import LocalizerConfig

    node = {spec.name: spec.default for spec in NODE_PARAMETERS["localize_node"]}
    config = LocalizerConfig()
    for name in ("min_inliers", "backend", "precision", "max_solved_heads"):
        assert node[name] == getattr(config, name), name
