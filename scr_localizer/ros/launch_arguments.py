"""The plain-Python part of launch/*.launch.py: launch arguments that mirror node parameters,
and what a mapping node's exit status means.

Every argument given to `ros2 launch` (or by an including launch file) overrides the params
file, whatever its value: an empty string, or the parameter's shipped default, too. An argument
not given keeps the file's value; its declared default is the sentinel FROM_PARAMS_FILE, since
launch cannot otherwise tell "not given" from "given the default".

`ros2 launch` refuses `name:=` with nothing after it, so an empty string is written as YAML
quotes, `odom_frame:="''"` in a shell (the text `''`), as launch_ros does for parameters.

Plain Python (no `launch` import), so it is tested where the launch library is absent: a
pip-only install has rclpy but not launch/launch_ros.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.ros.parameters import ParameterSpec

FROM_PARAMS_FILE = "<params_file>"
# rclpy declares use_sim_time on every node; as a launch argument it works like the others.
USE_SIM_TIME = ParameterSpec("use_sim_time", False, "Use /clock (bag replay, simulation)")
TRUE_TEXTS, FALSE_TEXTS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def argument_default(spec: ParameterSpec) -> str:
    """The parameter's shipped default as launch text; booleans the way launch users write them."""
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    if spec.default == "":
        return "''"
    return str(spec.default)


def argument_description(spec: ParameterSpec) -> str:
    return (f"{spec.description}. Not given: the params file's value (shipped: "
            f"{argument_default(spec)})")


def typed_value(text: str, default, name: str = "value"):
    """A launch argument's text as the type of the parameter's default; ScrLocalizerError naming
    the argument when it is not one. Strings in YAML quotes lose them (`''` is the empty
    string)."""
    text = str(text)
    if isinstance(default, bool):
        word = text.strip().lower()
        if word in TRUE_TEXTS or word in FALSE_TEXTS:
            return word in TRUE_TEXTS
        raise ScrLocalizerError(f"launch argument {name}:={text!r}: expected true or false")
    if isinstance(default, (int, float)):
        try:
            return type(default)(text.strip())
        except ValueError:
            kind = "an integer" if isinstance(default, int) else "a number"
            raise ScrLocalizerError(
                f"launch argument {name}:={text!r}: expected {kind}") from None
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        try:
            unquoted = yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
        if isinstance(unquoted, str):
            return unquoted
    return text


def given(text: str) -> bool:
    return text != FROM_PARAMS_FILE


def parameter_overrides(argument_values: Mapping[str, str], argument_parameters: Mapping[str, str],
                        specs: Mapping[str, ParameterSpec]) -> dict:
    """Node parameters for every launch argument that was given, typed like the parameter."""
    overrides = {}
    for argument, parameter in argument_parameters.items():
        text = argument_values.get(argument, FROM_PARAMS_FILE)
        if given(text):
            overrides[parameter] = typed_value(text, specs[parameter].default, argument)
    return overrides


def ros_arguments(log_level: str) -> list[str]:
    """launch_ros Node(ros_arguments=...) (it adds --ros-args); an empty log level leaves rcl's
    default (info)."""
    level = typed_value(log_level, "", "log_level").strip()
    return ["--log-level", level] if level else []


def mapping_exit_message(returncode: int | None) -> tuple[bool, str]:
    """(map written?, one log line) for the mapping node's exit status (see map_node.main)."""
    if returncode == 0:
        return True, "map_node finished: map written"
    if returncode == 2:
        why = "the input was refused (its error is above)"
    elif returncode in (130, 143, -2, -15):
        why = "it was interrupted"
    elif returncode is not None and returncode < 0:
        why = f"it was killed by signal {-returncode}"
    else:
        why = f"it failed with exit status {returncode} (its error is above)"
    return False, f"mapping failed: {why}; no map was written"
