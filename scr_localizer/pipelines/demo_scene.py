"""Render the built-in room as a mapping bag and a query bag: `make-scene` and the demo."""

from __future__ import annotations

from pathlib import Path

from scr_localizer.errors import ScrLocalizerError


def make_scene(out_dir: str | Path, seed: int = 0, mapping_frames: int = 300,
               query_frames: int = 100, width: int = 640, height: int = 480,
               texel_mm: float = 4.0, storage: str = "mcap", color_encoding: str = "rgb8",
               overwrite: bool = False, scene: str = "area") -> tuple[Path, Path]:
    """`scene` names the camera paths: area (a compact area mapped densely) or room360 (the
    whole room seen all around, for submaps). Write OUT_DIR/mapping (poses on /tf as map -> camera_link) and OUT_DIR/query (odometry on
    /tf, ground truth on /ground_truth/pose); returns both bag paths."""
    from scr_localizer.demo.scene import DemoScene, DemoSceneConfig
    from scr_localizer.demo.trajectories import SCENES
    from scr_localizer.io.bag_writer import BagWriteConfig, write_rgbd_bag

    if scene not in SCENES:
        raise ScrLocalizerError(f"unknown scene '{scene}'; expected one of {', '.join(SCENES)}")

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
                                      query_frames=query_frames, scene=scene))
    write_rgbd_bag(mapping_path, scene.mapping_frames(),
                   BagWriteConfig(storage=storage, color_encoding=color_encoding,
                                  overwrite=overwrite))
    write_rgbd_bag(query_path, scene.query_frames(),
                   BagWriteConfig(storage=storage, color_encoding=color_encoding,
                                  overwrite=overwrite, query=True))
    return mapping_path, query_path
