"""`scr-localizer make-scene OUT_DIR`: render the built-in room as a mapping and a query bag."""

from __future__ import annotations

import time

from scr_localizer.pipelines.demo_scene import make_scene

VERB = "make-scene"
HELP = "render the built-in synthetic room as a mapping bag and a query bag (no dataset needed)"


def add_arguments(parser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR",
                        help="folder for the bags OUT_DIR/mapping and OUT_DIR/query")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    parser.add_argument("--scene", choices=("area", "room360"), default="area",
                        help="camera paths: area (loops facing one wall, what one CPU head "
                        "learns in minutes; default) or room360 (two loops looking all around "
                        "the 7 m x 6 m room; map it with --submaps auto)")
    parser.add_argument("--mapping-frames", type=int, default=None,
                        help="frames in the mapping bag (default 300; room360: 600, two loops "
                        "at ~1.2 deg of turn per frame: with 240 frames a third of the query "
                        "views had no mapped view close enough)")
    parser.add_argument("--query-frames", type=int, default=100,
                        help="frames in the query bag (default 100)")
    parser.add_argument("--width", type=int, default=640, help="image width (default 640)")
    parser.add_argument("--height", type=int, default=480, help="image height (default 480)")
    parser.add_argument("--texel-mm", type=float, default=4.0,
                        help="texture resolution in millimetres (default 4; coarser is faster)")
    parser.add_argument("--color-encoding", choices=("rgb8", "jpeg", "png"), default="rgb8",
                        help="colour messages: raw rgb8 like the RealSense driver (default; "
                             "~1.5 MB per frame with depth) or compressed")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="bag storage format (default mcap)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing bags")


def run(args) -> int:
    start = time.perf_counter()
    mapping_frames = args.mapping_frames or (600 if args.scene == "room360" else 300)
    mapping_path, query_path = make_scene(
        args.out_dir, seed=args.seed, mapping_frames=mapping_frames,
        query_frames=args.query_frames, width=args.width, height=args.height,
        texel_mm=args.texel_mm, storage=args.storage, color_encoding=args.color_encoding,
        overwrite=args.overwrite, scene=args.scene,
    )
    print(f"mapping bag: {mapping_path} ({mapping_frames} frames)")
    print(f"query bag:   {query_path} ({args.query_frames} frames, ground truth on "
          f"/ground_truth/pose)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
