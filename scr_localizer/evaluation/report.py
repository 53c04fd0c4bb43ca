"""Human-readable evaluation reports: a Markdown summary, PNG plots and TUM trajectories.

Used by `scr-localizer evaluate --report DIR` and `scr-localizer replay --report DIR` so offline
and online runs of the same bag produce the same kind of folder, and by notebooks. The TUM files
(`gt.txt`, `est.txt`) are what `evo_ape tum gt.txt est.txt` reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.atomic import atomic_temp_path, atomic_write

# Summary keys in the order a reader wants them, with labels and units.
ACCURACY_ROWS = (
    ("median_translation_cm", "Median translation error", "cm"),
    ("median_rotation_deg", "Median rotation error", "deg"),
    ("pct_10cm_5deg", "Within 10 cm / 5 deg", "%"),
    ("pct_5cm_5deg", "Within 5 cm / 5 deg", "%"),
    ("pct_2cm_2deg", "Within 2 cm / 2 deg", "%"),
    ("pct_1cm_1deg", "Within 1 cm / 1 deg", "%"),
)
RATE_ROWS = (
    ("frames", "Frames", ""),
    ("pct_localized", "Localized", "%"),
    ("frames_dropped", "Frames dropped", ""),
    ("latency_ms_p50", "Latency p50", "ms"),
    ("latency_ms_p95", "Latency p95", "ms"),
    ("sustained_rate_hz", "Sustained rate", "Hz"),
)
THRESHOLDS = ((10.0, 5.0), (5.0, 5.0), (2.0, 2.0), (1.0, 1.0))

REPORT_FILES = (
    "report.md",
    "error_cdf.png",
    "trajectory_topview.png",
    "errors_over_time.png",
    "gt.txt",
    "est.txt",
)


def format_value(value, unit: str = "") -> str:
    """One table cell: numbers rounded for reading, None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        text = f"{value:.1f}" if unit == "%" else f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip() if unit and unit != "%" else f"{text}{unit}"


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as stream:
        stream.write(text)


def _save_figure(figure, path: Path) -> None:
    with atomic_temp_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)


def _errors(records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-record (translation cm, rotation deg, has_error) with NaN where unknown."""
    translation = np.full(len(records), np.nan)
    rotation = np.full(len(records), np.nan)
    for index, record in enumerate(records):
        if record.translation_error_m is not None and record.rotation_error_deg is not None:
            translation[index] = 100.0 * record.translation_error_m
            rotation[index] = record.rotation_error_deg
    return translation, rotation, np.isfinite(translation)


def markdown_summary(summary: dict, title: str = "Localization report") -> str:
    lines = [f"# {title}", ""]
    if summary.get("accuracy_available", True) is False:
        lines += ["Accuracy: **unavailable** (the bag has no ground truth).", ""]
    else:
        lines += ["## Accuracy", "", "| Metric | Value |", "| --- | --- |"]
        lines += [
            f"| {label} | {format_value(summary.get(key), unit)} |"
            for key, label, unit in ACCURACY_ROWS
        ]
        lines.append("")
    lines += ["## Frames, rate and latency", "", "| Metric | Value |", "| --- | --- |"]
    lines += [
        f"| {label} | {format_value(summary[key], unit)} |"
        for key, label, unit in RATE_ROWS
        if key in summary
    ]
    lines.append("")
    known = {key for key, _, _ in ACCURACY_ROWS + RATE_ROWS} | {"accuracy_available"}
    other = {
        key: value
        for key, value in summary.items()
        if key not in known and (value is None or isinstance(value, (int, float, str, bool)))
    }
    if other:
        lines += ["## Other", "", "| Key | Value |", "| --- | --- |"]
        lines += [f"| {key} | {format_value(value)} |" for key, value in other.items()]
        lines.append("")
    lines += [
        "## Plots",
        "",
        "![Error CDF](error_cdf.png)",
        "",
        "![Top view](trajectory_topview.png)",
        "",
        "![Errors over time](errors_over_time.png)",
        "",
        "Trajectories in TUM format: `gt.txt` (ground truth), `est.txt` (estimates of localized "
        "frames); compare them with `evo_ape tum gt.txt est.txt`.",
        "",
    ]
    return "\n".join(lines)


def _plain_log_axis(axis) -> None:
    """Log scale with plain decimal labels (no 2x10^-1 clutter)."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _plot_cdf(records, path: Path) -> None:
    import matplotlib.pyplot as plt

    translation, rotation, known = _errors(records)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, values, unit, name in (
        (axes[0], translation[known], "cm", "Translation error"),
        (axes[1], rotation[known], "deg", "Rotation error"),
    ):
        if values.size:
            ordered = np.sort(values)
            # Fraction of ALL frames, so failures and frames without estimate keep the curve low.
            fraction = 100.0 * np.arange(1, ordered.size + 1) / max(len(records), 1)
            axis.step(ordered, fraction, where="post", color="tab:blue")
            axis.set_xscale("log")
            _plain_log_axis(axis.xaxis)
            for threshold in sorted({t[0] if unit == "cm" else t[1] for t in THRESHOLDS}):
                axis.axvline(threshold, color="grey", linestyle=":", linewidth=0.8)
        else:
            axis.text(0.5, 0.5, "accuracy unavailable", ha="center", va="center",
                      transform=axis.transAxes)
        axis.set_xlabel(f"{name} [{unit}]")
        axis.set_ylabel("Frames within error [%]")
        axis.set_ylim(0, 100)
        axis.grid(True, alpha=0.3)
        axis.set_title(f"{name} CDF")
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)


def _topview_axes(positions: np.ndarray) -> tuple[int, int]:
    """The two coordinate axes with the largest spread: the floor plane for any up-axis."""
    if len(positions) < 2:
        return 0, 1
    spread = np.ptp(positions, axis=0)
    first, second = sorted(np.argsort(spread)[::-1][:2])
    return int(first), int(second)


def _plot_topview(records, path: Path) -> None:
    import matplotlib.pyplot as plt

    translation, _, known = _errors(records)
    truth = np.array([r.truth_world_from_camera[:3, 3] for r in records
                      if r.truth_world_from_camera is not None]).reshape(-1, 3)
    estimated_index = [i for i, r in enumerate(records)
                       if r.success and r.estimate_world_from_camera is not None]
    estimate = np.array([records[i].estimate_world_from_camera[:3, 3]
                         for i in estimated_index]).reshape(-1, 3)
    a, b = _topview_axes(truth if len(truth) >= 2 else estimate)
    figure, axis = plt.subplots(figsize=(7, 6))
    if len(truth):
        axis.plot(truth[:, a], truth[:, b], color="black", linewidth=1.2, label="ground truth")
    if len(estimate):
        errors = translation[estimated_index]
        if np.isfinite(errors).any():
            colours = np.where(np.isfinite(errors), errors, np.nanmax(errors))
            scatter = axis.scatter(estimate[:, a], estimate[:, b], c=colours, cmap="viridis",
                                   s=14, label="estimate", vmin=0,
                                   vmax=max(float(np.nanpercentile(errors, 95)), 1e-3))
            figure.colorbar(scatter, ax=axis, label="translation error [cm]")
        else:
            axis.scatter(estimate[:, a], estimate[:, b], color="tab:blue", s=14, label="estimate")
    failed = [r.truth_world_from_camera[:3, 3] for r in records
              if not r.success and r.truth_world_from_camera is not None]
    if failed:
        failed = np.array(failed)
        axis.scatter(failed[:, a], failed[:, b], marker="x", color="tab:red", s=20,
                     label="not localized")
    names = "xyz"
    axis.set_xlabel(f"{names[a]} [m]")
    axis.set_ylabel(f"{names[b]} [m]")
    axis.set_aspect("equal", adjustable="datalim")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="best")
    axis.set_title("Top view: ground truth vs estimate")
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)


def _plot_over_time(records, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    translation, rotation, known = _errors(records)
    if records:
        start = min(r.stamp_ns for r in records)
        seconds = np.array([(r.stamp_ns - start) * 1e-9 for r in records])
    else:
        seconds = np.zeros(0)
    inliers = np.array([r.inlier_count for r in records], dtype=np.float64)
    success = np.array([bool(r.success) for r in records], dtype=bool)
    figure, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for axis, values, label in (
        (axes[0], translation, "translation error [cm]"),
        (axes[1], rotation, "rotation error [deg]"),
    ):
        shown = known & success
        if shown.any():
            axis.plot(seconds[shown], values[shown], ".-", color="tab:blue", markersize=3,
                      linewidth=0.8, label="localized")
            low, high = np.min(values[shown]), np.max(values[shown])
            if low > 0 and high / low > 100:  # several decades: log scale
                axis.set_yscale("log")
                _plain_log_axis(axis.yaxis)
            else:
                axis.set_ylim(bottom=0)
        elif not known.any():
            axis.text(0.5, 0.5, "accuracy unavailable", ha="center", va="center",
                      transform=axis.transAxes)
        if (~success).any():
            # Frames without a fix: a rug along the bottom edge.
            rug = blended_transform_factory(axis.transData, axis.transAxes)
            axis.scatter(seconds[~success], np.full((~success).sum(), 0.04), marker="x",
                         color="tab:red", s=20, transform=rug, label="not localized",
                         clip_on=False)
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(loc="upper right")
    if len(inliers) and not (inliers > 0).any():
        # Online runs see only what the node publishes; per-frame inliers are not among it.
        axes[2].text(0.5, 0.5, "inlier counts not recorded", ha="center", va="center",
                     transform=axes[2].transAxes)
        axes[2].set_yticks([])
    else:
        axes[2].plot(seconds, inliers, ".-", color="tab:green", markersize=3, linewidth=0.8,
                     label="inliers")
        if (~success).any():
            axes[2].scatter(seconds[~success], inliers[~success], marker="x", color="tab:red",
                            s=20, label="not localized", zorder=3)
        axes[2].legend(loc="best")
    axes[2].set_ylabel("inlier count")
    axes[2].set_xlabel("time since first frame [s]")
    axes[2].grid(True, alpha=0.3)
    axes[0].set_title("Errors and inliers over time")
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)


def write_trajectories(directory: Path, records) -> tuple[Path, Path]:
    """gt.txt (frames with ground truth) and est.txt (localized frames), TUM format."""
    from scr_localizer.evaluation.trajectory import write_tum

    truth = [(r.stamp_ns, r.truth_world_from_camera) for r in records
             if r.truth_world_from_camera is not None]
    estimate = [(r.stamp_ns, r.estimate_world_from_camera) for r in records
                if r.success and r.estimate_world_from_camera is not None]
    gt_path, est_path = directory / "gt.txt", directory / "est.txt"
    write_tum(gt_path, [s for s, _ in truth], [p for _, p in truth])
    write_tum(est_path, [s for s, _ in estimate], [p for _, p in estimate])
    return gt_path, est_path


def write_report(directory, records: Sequence, summary: dict,
                 title: str = "Localization report") -> dict[str, Path]:
    """Write the report folder and return {file name: path}.

    `records` are FrameRecords (evaluation/metrics.py) in stamp order; `summary` is
    `metrics.summarize(records, ...)`, optionally with frames_dropped and sustained_rate_hz.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScrLocalizerError(f"cannot create report folder {directory}: {exc}") from exc
    records = sorted(records, key=lambda r: r.stamp_ns)
    paths = {name: directory / name for name in REPORT_FILES}
    _write_text(paths["report.md"], markdown_summary(summary, title))
    _plot_cdf(records, paths["error_cdf.png"])
    _plot_topview(records, paths["trajectory_topview.png"])
    _plot_over_time(records, paths["errors_over_time.png"])
    write_trajectories(directory, records)
    return paths
