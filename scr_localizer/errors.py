"""User-facing errors.

Every problem a user can fix (a missing file, a wrong topic, a corrupt map) is raised as
`ScrLocalizerError` with a one-line message that names the thing and what was expected. The CLI
prints only that line (traceback with --debug); nodes log it and report it in diagnostics.
"""


class ScrLocalizerError(Exception):
    """An error caused by input the user can fix; the message is a complete one-line sentence."""
