"""Launch arguments that mirror node parameters, shared by launch/*.launch.py.

Plain Python (no `launch` import), so it is tested where the launch library is absent: a
pip-only install has rclpy but not launch/launch_ros.
"""

from __future__ import annotations

from collections.abc import Mapping

from scr_localizer.ros.parameters import ParameterSpec


def argument_default(spec: ParameterSpec) -> str:
    """The launch argument's default text; booleans the way launch users write them."""
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    return str(spec.default)


def typed_value(text: str, default):
    """A launch argument's text as the type of the parameter's default."""
    if isinstance(default, bool):
        return text.strip().lower() in ("true", "1", "yes", "on")
    if isinstance(default, (int, float)):
        return type(default)(text)
    return text


def parameter_overrides(argument_values: Mapping[str, str], argument_parameters: Mapping[str, str],
                        specs: Mapping[str, ParameterSpec]) -> dict:
    """Node parameters whose launch argument differs from the parameter's declared default:
    only those override the params file, so `params_file:=` keeps its values otherwise."""
    overrides = {}
    for argument, parameter in argument_parameters.items():
        default = specs[parameter].default
        value = typed_value(argument_values[argument], default)
        if value != default:
            overrides[parameter] = value
    return overrides
