"""`scr-localizer make-scene OUT_DIR`: render the built-in room as a mapping and a query bag."""

from __future__ import annotations

import time
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError

VERB = "make-scene"
HELP = "render the built-in synthetic room as a mapping bag and a query bag (no dataset needed)"


def add_arguments(parser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR",
                        help="folder for the bags OUT_DIR/mapping and OUT_DIR/query")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    parser.add_argument("--mapping-frames", type=int, default=300,
                        help="frames in the mapping bag (default 300)")
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


def make_scene(out_dir: str | Path, seed: int = 0, mapping_frames: int = 300,
               query_frames: int = 100, width: int = 640, height: int = 480,
               texel_mm: float = 4.0, storage: str = "mcap", color_encoding: str = "rgb8",
               overwrite: bool = False) -> tuple[Path, Path]:
    """Write OUT_DIR/mapping (poses on /tf as map -> camera_link) and OUT_DIR/query (odometry on
    /tf, ground truth on /ground_truth/pose); returns both bag paths."""
    from scr_localizer.demo.scene import DemoScene, DemoSceneConfig
    from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag

    if mapping_frames < 1 or query_frames < 1:
        raise ScrLocalizerError(
            f"frame counts must be positive (got --mapping-frames {mapping_frames}, "
            f"--query-frames {query_frames})"
        )
    out_dir = Path(out_dir)
    mapping_path, query_path = out_dir / "mapping", out_dir / "query"
    if not overwrite:
        for path in (mapping_path, query_path):
            if path.exists():
                raise ScrLocalizerError(
                    f"output bag '{path}' already exists; remove it or pass --overwrite"
                )
    if texel_mm <= 0:
        raise ScrLocalizerError(f"--texel-mm must be positive (got {texel_mm})")
    scene = DemoScene(DemoSceneConfig(seed=seed, width=width, height=height,
                                      texel_m=texel_mm / 1000.0, mapping_frames=mapping_frames,
                                      query_frames=query_frames))
    write_rgbd_bag(mapping_path, scene.mapping_frames(),
                   BagWriteConfig(storage=storage, color_encoding=color_encoding,
                                  overwrite=overwrite))
    write_rgbd_bag(query_path, scene.query_frames(),
                   BagWriteConfig(storage=storage, color_encoding=color_encoding,
                                  overwrite=overwrite, query=True))
    return mapping_path, query_path


def run(args) -> int:
    start = time.perf_counter()
    mapping_path, query_path = make_scene(
        args.out_dir, seed=args.seed, mapping_frames=args.mapping_frames,
        query_frames=args.query_frames, width=args.width, height=args.height,
        texel_mm=args.texel_mm, storage=args.storage, color_encoding=args.color_encoding,
        overwrite=args.overwrite,
    )
    print(f"mapping bag: {mapping_path} ({args.mapping_frames} frames)")
    print(f"query bag:   {query_path} ({args.query_frames} frames, ground truth on "
          f"/ground_truth/pose)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
