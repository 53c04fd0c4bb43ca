"""Parameter callbacks on Humble, Jazzy and Kilted.

rclpy has add_pre/post_set_parameters_callback since Iron; Humble's has only
add_on_set_parameters_callback, which runs before the new values are stored and may refuse
them. There the node's "changed" callback runs from that one callback once validation
accepted the values: the nodes' changed callbacks act on the values they are handed, not on
get_parameter, so running them just before the values are stored is equivalent.
"""

from __future__ import annotations

from collections.abc import Callable


def add_parameter_callbacks(node, validate: Callable, changed: Callable) -> str:
    """validate(parameters) -> SetParametersResult before new values are set, changed(parameters)
    after they were accepted. Returns the API used: "post_set" (Iron and later) or "on_set"."""
    if callable(getattr(node, "add_post_set_parameters_callback", None)):
        node.add_on_set_parameters_callback(validate)
        node.add_post_set_parameters_callback(changed)
        return "post_set"

    def validate_then_apply(parameters):
        result = validate(parameters)
        if result.successful:
            changed(parameters)
        return result

    node.add_on_set_parameters_callback(validate_then_apply)
    return "on_set"
