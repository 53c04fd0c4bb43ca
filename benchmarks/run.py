"""Run every benchmark: `python -m benchmarks.run [--quick] [--only TOPIC ...]` (`make benchmark`).

Each `benchmarks/bench_<topic>.py` defines `main(argv) -> int`, prints its own Markdown tables
and writes `benchmarks/results/<topic>.json`. This runner calls them one after another (a failing
one does not stop the rest), then gathers every JSON into `benchmarks/results/summary.json`
with the machine it ran on.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"


def discover() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in BENCHMARKS.glob("bench_*.py"))


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def _write_json(path: Path, data: dict) -> None:
    from scr_localizer.io.atomic import atomic_write

    with atomic_write(path) as stream:
        stream.write(json.dumps(data, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of every benchmark")
    parser.add_argument("--only", nargs="+", metavar="TOPIC",
                        help=f"run only these (available: {', '.join(discover())})")
    args = parser.parse_args(argv)
    topics = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(topics))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: "
                         f"{', '.join(topics)}")
        topics = [t for t in topics if t in args.only]
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {"quick": args.quick, "machine": machine(), "benchmarks": {}}
    failed = []
    for topic in topics:
        print(f"\n## {topic}{' (quick)' if args.quick else ''}\n", flush=True)
        result_path = RESULTS / f"{topic}.json"
        started = time.time()
        try:
            module = importlib.import_module(f"benchmarks.bench_{topic}")
            code = module.main(["--quick"] if args.quick else [])
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            code = 1
        elapsed = time.time() - started
        entry = {"exit_code": int(code or 0), "wall_s": round(elapsed, 1)}
        if result_path.exists() and result_path.stat().st_mtime >= started - 1:
            entry["results"] = json.loads(result_path.read_text())
        elif not code:
            entry["note"] = f"wrote no {result_path.name}"
        if code:
            failed.append(topic)
        summary["benchmarks"][topic] = entry
        print(f"\n({topic}: {elapsed:.0f} s, exit {entry['exit_code']})", flush=True)
    _write_json(RESULTS / "summary.json", summary)
    print(f"\nwrote {RESULTS / 'summary.json'}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
