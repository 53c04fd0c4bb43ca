"""`make demo` in one function: render the built-in room, map it, replay a query path through the
live localization node and print how well it localized.

Each stage is the same code the CLI verbs run (make-scene, map, replay), called as Python; only
the localization node runs in a child process, spawned by replay as in `scr-localizer replay`.
Sizes are chosen so the whole run fits a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from scr_localizer.errors import ScrLocalizerError


@dataclass(frozen=True)
class DemoConfig:
    """Scene size, mapping effort and playback rate of one demo run."""

    out_dir: str = "demo_output"
    seed: int = 0
    width: int = 640
    height: int = 480
    mapping_frames: int = 120
    query_frames: int = 50
    texel_mm: float = 4.0
    # Mapping: the cpu preset (256-wide head, batch 2048) under a shorter time budget (a slow
    # machine shortens the plan to fit it), without augmentation: in 150 s the head has too
    # few steps to gain from it, and the query path stays close to the mapped views.
    mapping_preset: str = "cpu"
    mapping_overrides: dict = field(
        default_factory=lambda: {"time_budget_s": 150.0, "augment": False})
    # The bag runs at 15 Hz; at this rate the node gets 1/(15 * rate) = 1.7 s of wall time per
    # frame, more than its CPU latency (p95 ~1 s) on a busy 2-core machine, so it drops none.
    replay_rate: float = 0.04
    node_parameters: dict = field(default_factory=lambda: {"device": "cpu"})
    startup_timeout_s: float = 120.0


# A small run for tests and smoke checks (~1 min on 2 cores): a fixed iteration count instead
# of a time budget, so the map (and the accuracy a test can expect) does not depend on load.
QUICK = DemoConfig(width=320, height=240, mapping_frames=90, query_frames=16, texel_mm=8.0,
                   mapping_overrides={"time_budget_s": 0.0, "iterations": 1500,
                                      "augment": False, "image_height": 240},
                   replay_rate=0.1)


@dataclass
class DemoResult:
    summary: dict
    report_dir: Path
    summary_json: Path
    map_path: Path
    stage_seconds: dict[str, float]
    table: str


def demo_config(quick: bool = False, **overrides) -> DemoConfig:
    return replace(QUICK if quick else DemoConfig(), **overrides)


class _Clock:
    """Progress lines: '[  12.3 s] stage: text' from the demo's start."""

    def __init__(self, say: Callable[[str], None]):
        self.start = time.perf_counter()
        self.say = say
        self.stages: dict[str, float] = {}

    def line(self, text: str) -> None:
        self.say(f"[{time.perf_counter() - self.start:6.1f} s] {text}")

    def stage(self, name: str):
        clock = self

        class _Stage:
            def __enter__(self):
                self.begin = time.perf_counter()
                clock.line(f"{name} ...")
                return self

            def __exit__(self, kind, value, traceback):
                seconds = time.perf_counter() - self.begin
                if kind is None:
                    clock.stages[name] = seconds
                    clock.line(f"{name} done in {seconds:.1f} s")
                return False

        return _Stage()


def _format(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def accuracy_table(summary: dict) -> str:
    """A compact Markdown table of the replay summary (the report's report.md has all keys)."""
    rows = [
        ("Median translation error", _format(summary.get("median_translation_cm"), "cm", 2)),
        ("Median rotation error", _format(summary.get("median_rotation_deg"), "deg", 2)),
        ("Within 10 cm / 5 deg", _format(summary.get("pct_10cm_5deg"), "%")),
        ("Within 5 cm / 5 deg", _format(summary.get("pct_5cm_5deg"), "%")),
        ("Within 2 cm / 2 deg", _format(summary.get("pct_2cm_2deg"), "%")),
        ("Within 1 cm / 1 deg", _format(summary.get("pct_1cm_1deg"), "%")),
        ("Localized", _format(summary.get("pct_localized"), "%")),
        ("Latency p50 / p95", f"{_format(summary.get('latency_ms_p50'), 'ms', 0)} / "
                              f"{_format(summary.get('latency_ms_p95'), 'ms', 0)}"),
        ("Frames (dropped)", f"{summary.get('frames', 0)} ({summary.get('frames_dropped', 'n/a')})"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"| {'Metric'.ljust(width)} | Value |", f"| {'-' * width} | --- |"]
    lines += [f"| {label.ljust(width)} | {value} |" for label, value in rows]
    return "\n".join(lines)


def run_demo(config: DemoConfig = DemoConfig(), say: Callable[[str], None] = print) -> DemoResult:
    """Scene -> map -> live replay -> report, in config.out_dir (bags, map.scrmap, report/)."""
    from scr_localizer.evaluation.metrics import write_json
    from scr_localizer.evaluation.report import write_report
    from scr_localizer.pipelines.demo_scene import make_scene
    from scr_localizer.pipelines.mapping import MapJob, build_map
    from scr_localizer.ros.replay import ReplayConfig, replay

    out_dir = Path(config.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScrLocalizerError(f"cannot create the demo folder '{out_dir}': {exc}") from exc
    clock = _Clock(say)
    clock.line(f"demo in '{out_dir}' on {os.cpu_count()} CPU cores (seed {config.seed}, "
               f"{config.width}x{config.height})")

    with clock.stage(f"scene: rendering {config.mapping_frames} mapping + "
                     f"{config.query_frames} query frames"):
        mapping_bag, query_bag = make_scene(
            out_dir, seed=config.seed, mapping_frames=config.mapping_frames,
            query_frames=config.query_frames, width=config.width, height=config.height,
            texel_mm=config.texel_mm, overwrite=True)

    map_path = out_dir / "map.scrmap"
    with clock.stage(f"mapping: preset {config.mapping_preset} "
                     f"{config.mapping_overrides or ''}".rstrip()):
        mapped = build_map(MapJob(
            bag=mapping_bag, output=map_path, preset=config.mapping_preset, prior="rgbd",
            device="cpu", seed=config.seed, mapping_overrides=dict(config.mapping_overrides),
            overwrite=True, source="built-in demo room", progress=False))
        stats, mapping_config = mapped.trainer.stats, mapped.trainer.config
        clock.line(f"mapping: {stats.summary(mapping_config)}")
        if not stats.inlier_share >= 0.3:
            clock.line("mapping: WARNING: under 30 % of training cells reproject within "
                       f"{mapping_config.inlier_threshold_px:g} px after "
                       f"{stats.iterations} iterations: expect few fixes (too few "
                       "iterations on a busy machine, or a scene the head cannot fit)")

    replay_config = ReplayConfig(rate=config.replay_rate,
                                 node_parameters=dict(config.node_parameters),
                                 startup_timeout_s=config.startup_timeout_s,
                                 log_dir=str(out_dir / "replay_log"))
    with clock.stage(f"replay: live localization node, {config.query_frames} query frames at "
                     f"rate {config.replay_rate:g}"):
        result = replay(map_path, query_bag, replay_config,
                        progress=lambda text: clock.line(f"replay: {text}"))

    report_dir = out_dir / "report"
    with clock.stage("report"):
        if report_dir.exists():
            shutil.rmtree(report_dir)
        write_report(report_dir, result.records, result.summary,
                     title="scr_localizer demo: built-in room, live replay")
        summary_json = write_json(out_dir / "summary.json", {
            **result.summary, "demo_stage_seconds": dict(clock.stages)})

    table = accuracy_table(result.summary)
    total = time.perf_counter() - clock.start
    say("")
    say(table)
    say("")
    say("stages: " + ", ".join(f"{name.split(':')[0]} {seconds:.0f} s"
                               for name, seconds in clock.stages.items())
        + f"; total {total:.0f} s")
    say(f"report with plots: {report_dir.resolve()}/report.md")
    return DemoResult(summary=result.summary, report_dir=report_dir, summary_json=summary_json,
                      map_path=map_path, stage_seconds=dict(clock.stages), table=table)
