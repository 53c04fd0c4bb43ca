"""`scr-localizer compare A.json B.json ...`: evaluate/replay results side by side."""

from __future__ import annotations

import json
import math
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.evaluation.report import ACCURACY_ROWS, RATE_ROWS

VERB = "compare"
HELP = "print evaluate/replay JSON results side by side (rows = metrics, columns = runs)"

UNITS = {key: unit for key, _, unit in ACCURACY_ROWS + RATE_ROWS}


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT.json",
                        help="JSON files written by `evaluate --json` or `replay --json`")


def load_result(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ScrLocalizerError(f"result file not found: {path} (expected a JSON file written by "
                                "`scr-localizer evaluate --json` or `replay --json`)")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScrLocalizerError(f"{path} is not valid JSON ({exc}); expected the output of "
                                "`scr-localizer evaluate --json` or `replay --json`") from exc
    if not isinstance(data, dict):
        raise ScrLocalizerError(f"{path} holds a JSON {type(data).__name__}, expected an object "
                                "of metrics (the output of `evaluate --json` or `replay --json`)")
    return data


def _flatten(data: dict, prefix: str = "") -> dict:
    """Scalars only; nested objects become dotted keys (e.g. timings_ms.encoder)."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = value
    return flat


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _run_names(paths: list[Path]) -> list[str]:
    """File stems; parent folders are added where stems collide."""
    names = [p.stem for p in paths]
    for index, name in enumerate(names):
        if names.count(name) > 1:
            names[index] = f"{paths[index].parent.name}/{paths[index].stem}"
    return [f"{n}#{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def comparison_table(results: dict[str, dict]) -> str:
    """Markdown table: known metrics first (paper order), then any other key once."""
    flat = {name: _flatten(data) for name, data in results.items()}
    preferred = [key for key, _, _ in ACCURACY_ROWS + RATE_ROWS]
    keys = [key for key in preferred if any(key in f for f in flat.values())]
    for values in flat.values():
        keys += [key for key in values if key not in keys]
    header = ["metric", *results]
    rows = []
    for key in keys:
        unit = UNITS.get(key)
        label = f"{key} [{unit}]" if unit else key
        rows.append([label, *(_cell(flat[name].get(key)) if key in flat[name] else "-"
                              for name in results)])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        padded = [cells[0].ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "| " + " | ".join(padded) + " |"

    separator = "| " + " | ".join(["-" * widths[0]] + ["-" * w for w in widths[1:]]) + " |"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])


def run(args) -> int:
    paths = [Path(p) for p in args.results]
    data = [load_result(p) for p in paths]
    print(comparison_table(dict(zip(_run_names(paths), data))))
    return 0
