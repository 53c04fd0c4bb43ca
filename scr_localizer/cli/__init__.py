"""`scr-localizer <verb>`: one command for users without ROS.

Each verb lives in its own module in this package and defines `VERB` (the name users type,
e.g. "convert"), `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. Modules are
discovered, so adding a verb never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from scr_localizer import __version__
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.log import log_to_stdout


def _verb_modules():
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "VERB"):
            modules.append(module)
    return sorted(modules, key=lambda m: m.VERB)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scr-localizer",
        description="Map a room from an RGB-D bag and relocalize a camera in it "
        "(scene coordinate regression).",
    )
    parser.add_argument("--version", action="version", version=f"scr-localizer {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in _verb_modules():
        sub = subparsers.add_parser(module.VERB, help=module.HELP, description=module.HELP)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show full tracebacks instead of one-line errors")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Node verbs pass everything after them to rclpy untouched (`--ros-args ...`).
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "verb", None) is None:
        parser.print_help()
        return 2
    if extra and not getattr(args, "_accepts_ros_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.ros_args = extra
    log_to_stdout(logging.DEBUG if args.debug else logging.INFO)
    try:
        return int(args._run(args) or 0)
    except ScrLocalizerError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
