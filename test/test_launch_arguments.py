"""Launch arguments -> node parameters (the part of the launch files that runs without the
launch library): every argument given overrides the params file, whatever its value; the ones
not given (still the FROM_PARAMS_FILE sentinel) keep the file's."""

import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.ros.launch_arguments import (
    FROM_PARAMS_FILE,
    USE_SIM_TIME,
    argument_default,
    mapping_exit_message,
    parameter_overrides,
    ros_arguments,
    typed_value,
)
from scr_localizer.ros.parameters import LOCALIZE_NODE_PARAMETERS, MAP_NODE_PARAMETERS

SPECS = {spec.name: spec for spec in (*LOCALIZE_NODE_PARAMETERS, *MAP_NODE_PARAMETERS,
                                      USE_SIM_TIME)}
ARGUMENTS = {"map": "map_path", "map_frame": "map_frame", "odom_frame": "odom_frame",
             "depth_topic": "depth_topic", "publish_tf": "publish_tf",
             "use_sim_time": "use_sim_time", "iterations": "iterations",
             "transform_tolerance_s": "transform_tolerance_s"}


def test_arguments_not_given_keep_the_params_file():
    values = dict.fromkeys(ARGUMENTS, FROM_PARAMS_FILE)
    assert parameter_overrides(values, ARGUMENTS, SPECS) == {}
    assert parameter_overrides({}, ARGUMENTS, SPECS) == {}


def test_given_arguments_override_even_when_equal_to_the_default_or_empty():
    values = dict.fromkeys(ARGUMENTS, FROM_PARAMS_FILE)
    values.update({
        "map_frame": "map",          # the shipped default: still undoes a file's `world`
        "odom_frame": "''",          # odom_frame:="''" on the command line
        "depth_topic": "",           # an including launch file's launch_arguments={...: ""}
        "use_sim_time": "false",     # only when given, so a file's use_sim_time: true stays
        "iterations": "4000",
        "publish_tf": "False",
        "transform_tolerance_s": "0.5",
    })
    assert parameter_overrides(values, ARGUMENTS, SPECS) == {
        "map_frame": "map", "odom_frame": "", "depth_topic": "", "use_sim_time": False,
        "iterations": 4000, "publish_tf": False, "transform_tolerance_s": 0.5}


@pytest.mark.parametrize("text, default, expected", [
    ("true", False, True), ("1", False, True), ("off", True, False), ("False", True, False),
    ("7", 0, 7), ("0.25", 1.0, 0.25), ("3", 1.0, 3.0), ("cpu", "auto", "cpu"),
    ("''", "odom", ""), ('""', "odom", ""), ("'world'", "map", "world"), ("", "odom", ""),
    ("robot1/camera", "", "robot1/camera"), ("it's", "", "it's"),
])
def test_typed_value(text, default, expected):
    value = typed_value(text, default)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text, default, said", [
    ("maybe", False, "expected true or false"), ("many", 0, "expected an integer"),
    ("1.5", 0, "expected an integer"), ("fast", 1.0, "expected a number"),
])
def test_wrong_argument_types_name_the_argument(text, default, said):
    with pytest.raises(ScrLocalizerError, match=said) as caught:
        typed_value(text, default, "iterations")
    assert f"iterations:={text!r}" in str(caught.value)


def test_shipped_defaults_are_written_as_launch_users_write_them():
    assert argument_default(SPECS["publish_tf"]) == "true"
    assert argument_default(SPECS["camera_frame"]) == "''"
    for spec in SPECS.values():
        assert typed_value(argument_default(spec), spec.default) == spec.default, spec.name


def test_log_level_becomes_ros_arguments():
    assert ros_arguments("debug") == ["--log-level", "debug"]
    assert ros_arguments("''") == []


@pytest.mark.parametrize("status, ok, said", [
    (0, True, "map written"), (2, False, "input was refused"), (1, False, "exit status 1"),
    (130, False, "interrupted"), (-9, False, "killed by signal 9"),
])
def test_mapping_exit_status_is_reported(status, ok, said):
    written, message = mapping_exit_message(status)
    assert written is ok and said in message
    assert ok or "no map was written" in message
