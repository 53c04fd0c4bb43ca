"""Launch arguments -> node parameters (the part of the launch files that runs without the
launch library): only arguments changed from the parameter's default override the YAML."""

import pytest

from scr_localizer.ros.launch_arguments import argument_default, parameter_overrides, typed_value
from scr_localizer.ros.parameters import LOCALIZE_NODE_PARAMETERS, MAP_NODE_PARAMETERS

SPECS = {spec.name: spec for spec in (*LOCALIZE_NODE_PARAMETERS, *MAP_NODE_PARAMETERS)}


def test_defaults_round_trip_to_no_override():
    arguments = {name: name for name in SPECS}
    values = {name: argument_default(spec) for name, spec in SPECS.items()}
    assert parameter_overrides(values, arguments, SPECS) == {}


def test_changed_arguments_override_with_the_parameter_type():
    arguments = {"map": "map_path", "publish_tf": "publish_tf", "transform_tolerance_s":
                 "transform_tolerance_s", "color_topic": "color_topic"}
    values = {"map": "/maps/room.scrmap", "publish_tf": "False",
              "transform_tolerance_s": "0.5",
              "color_topic": argument_default(SPECS["color_topic"])}
    assert parameter_overrides(values, arguments, SPECS) == {
        "map_path": "/maps/room.scrmap", "publish_tf": False, "transform_tolerance_s": 0.5}


@pytest.mark.parametrize("text, default, expected", [
    ("true", False, True), ("1", False, True), ("off", True, False), ("7", 0, 7),
    ("0.25", 1.0, 0.25), ("cpu", "auto", "cpu"),
])
def test_typed_value(text, default, expected):
    value = typed_value(text, default)
    assert value == expected and type(value) is type(expected)


def test_bool_defaults_are_written_as_launch_users_write_them():
    assert argument_default(SPECS["publish_tf"]) == ("true" if SPECS["publish_tf"].default
                                                     else "false")
