"""Fit the fix-confidence models on the tuning case only and write them as constants.

    python -m benchmarks.fit_confidence [--target 0.99] [--margin 0.05] [--dry-run]

Reads the cached records of benchmarks/cases.py (collect them with
`python -m benchmarks.cases --collect`), keeps only TUNING_CASES, fits one logistic model per
input kind (localization/confidence.py: rgb; rgbd without a map surface, labelled by the
unrefined pose; rgbd with the surface) and the lowest threshold whose accepted tuning fixes are
still `target` precise, plus a margin. Writes scr_localizer/localization/confidence_models.py.
The evaluation cases are never read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.cases import TUNING_CASES, load_records

OUTPUT = Path(__file__).resolve().parents[1] / "scr_localizer" / "localization" / (
    "confidence_models.py")
KINDS = {"rgb": ("rgb", "correct"), "rgbd": ("rgbd", "old_correct"),
         "rgbd_surface": ("rgbd", "correct")}


def evidence_of(record):
    from scr_localizer.localization.confidence import FixEvidence

    values = {k: (float("nan") if v is None else v) for k, v in record["evidence"].items()}
    return FixEvidence(**values)


def fit(records, target: float, margin: float, l2: float):
    from scr_localizer.localization.confidence import (
        ConfidenceModel,
        features,
        fit_logistic,
        threshold_for_precision,
    )

    models, report = {}, {}
    for kind, (mode, label) in KINDS.items():
        rows = [r for r in records if r["mode"] == mode]
        x = np.stack([features(evidence_of(r), kind) for r in rows])
        y = np.array([bool(r[label]) for r in rows], dtype=float)
        mean, scale, weights, bias = fit_logistic(x, y, l2=l2)
        model = ConfidenceModel(kind, *(tuple(round(float(v), 6) for v in a)
                                        for a in (mean, scale, weights)),
                                round(float(bias), 6), 1.0)
        scores = np.array([model.score(evidence_of(r)) for r in rows])
        threshold = threshold_for_precision(scores, y.astype(bool), target, margin)
        models[kind] = ConfidenceModel(kind, model.mean, model.scale, model.weights, model.bias,
                                       round(float(threshold), 4))
        accepted = scores >= threshold
        wrong = np.flatnonzero(y == 0)
        highest_wrong = wrong[np.argsort(-scores[wrong])][:3]
        prefix = "old_" if label == "old_correct" else ""
        report[kind] = {"samples": len(rows), "positives": int(y.sum()),
                        "accepted": int(accepted.sum()),
                        "precision": float(y[accepted].mean()) if accepted.any() else None,
                        "threshold": threshold,
                        # What bounds the threshold: the wrong fixes the model trusts most.
                        "highest_scoring_wrong": [
                            f"{rows[i]['frame']} ({rows[i]['input']}): "
                            f"{100 * rows[i][prefix + 't_m']:.1f} cm / "
                            f"{rows[i][prefix + 'r_deg']:.1f} deg, score {scores[i]:.3f}"
                            for i in highest_wrong]}
    return models, report


def unusable(report: dict) -> list[str]:
    """Kinds whose threshold accepts none of the tuning fixes: written, they would refuse every
    fix of that kind (a model that ranks one wrong fix above the rest, plus the margin, can end
    at a threshold of 1)."""
    return [kind for kind, item in report.items() if item["accepted"] == 0]


def _wrapped(name: str, values) -> list[str]:
    import textwrap

    text = ", ".join(repr(v) for v in values)
    body = textwrap.wrap(text, 88)
    return [f"        {name}=(", *(f"            {line}" for line in body), "        ),"]


def render(models, target: float, margin: float, samples: dict) -> str:
    lines = [
        '"""Fitted fix-confidence models (written by benchmarks/fit_confidence.py; do not edit).',
        "",
        f"Tuning case(s) only: {', '.join(TUNING_CASES)}; thresholds for {target:.0%} precision "
        f"on them plus {margin}.",
        f"Samples per kind: {samples}.",
        '"""',
        "",
        "FITTED = {",
    ]
    for kind, model in models.items():
        lines += [
            f'    "{kind}": dict(',
            *_wrapped("mean", model.mean),
            *_wrapped("scale", model.scale),
            *_wrapped("weights", model.weights),
            f"        bias={model.bias},",
            f"        threshold={model.threshold},",
            "    ),",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    records = [r for r in load_records() if r["case"] in TUNING_CASES]
    if not records:
        print("no tuning records; run python -m benchmarks.cases --cases tuning --collect")
        return 1
    models, report = fit(records, args.target, args.margin, args.l2)
    for kind, item in report.items():
        print(kind, item)
    refused = unusable(report)
    if refused:
        print(f"error: the fitted threshold for {', '.join(refused)} accepts none of the tuning "
              f"fixes (target {args.target:.0%}, margin {args.margin}); expected a model that "
              f"accepts some; {OUTPUT.name} was not written")
        return 1
    if not args.dry_run:
        from scr_localizer.io.atomic import atomic_write

        with atomic_write(OUTPUT) as stream:
            stream.write(render(models, args.target, args.margin,
                                {k: v["samples"] for k, v in report.items()}))
        print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
