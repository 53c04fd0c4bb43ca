"""`scr-localizer demo`: the built-in room mapped and relocalized end to end (what `make demo` runs)."""

from __future__ import annotations

VERB = "demo"
HELP = ("render the built-in room, map it, replay a query path through the live localization "
        "node and print the accuracy table (a few minutes on 2 CPU cores)")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo_output",
                        help="folder for the bags, the map and the report (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="scene and training seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="small scene, short mapping, a few query frames (~1 min; a smoke "
                        "test, not representative accuracy)")
    parser.add_argument("--rate", type=float, default=None,
                        help="replay playback rate (default: slow enough for the CPU node to "
                        "drop no frame)")


def run(args) -> int:
    from scr_localizer.pipelines.demo import demo_config, run_demo

    overrides = {"out_dir": args.out, "seed": args.seed}
    if args.rate is not None:
        overrides["replay_rate"] = args.rate
    run_demo(demo_config(args.quick, **overrides), say=lambda text: print(text, flush=True))
    return 0
