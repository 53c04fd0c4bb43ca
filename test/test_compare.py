"""`scr-localizer compare`: side-by-side table from real evaluate/replay-style JSON files."""

import json

from scr_localizer.cli import main


def _write(path, **values):
    path.write_text(json.dumps(values))
    return path


def test_compare_prints_runs_side_by_side(tmp_path, capsys):
    offline = _write(tmp_path / "offline.json", median_translation_cm=1.234, median_rotation_deg=0.5,
                     pct_5cm_5deg=98.0, latency_ms_p50=80.0, frames=50, accuracy_available=True,
                     timings_ms={"encoder": 12.5})
    replay = _write(tmp_path / "replay.json", median_translation_cm=1.5, median_rotation_deg=0.61,
                    pct_5cm_5deg=96.0, latency_ms_p50=120.0, frames=50, frames_dropped=3,
                    sustained_rate_hz=8.25, accuracy_available=True)
    assert main(["compare", str(offline), str(replay)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["metric", "offline", "replay"]
    rows = {c[0]: c[1:] for c in ([x.strip() for x in line.strip("|").split("|")]
                                  for line in lines[2:])}
    assert rows["median_translation_cm [cm]"] == ["1.23", "1.5"]
    assert rows["pct_5cm_5deg [%]"] == ["98", "96"]
    assert rows["frames_dropped"] == ["-", "3"]
    assert rows["sustained_rate_hz [Hz]"] == ["-", "8.25"]
    assert rows["timings_ms.encoder"] == ["12.5", "-"]
    # Paper metrics come first, in a fixed order.
    assert list(rows)[:2] == ["median_translation_cm [cm]", "median_rotation_deg [deg]"]


def test_compare_missing_or_invalid_json_is_one_line_error(tmp_path, capsys):
    good = _write(tmp_path / "good.json", frames=3)
    assert main(["compare", str(good), str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: result file not found") and "absent.json" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["compare", str(good), str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.json is not valid JSON" in err and len(err.splitlines()) == 1
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    assert main(["compare", str(listed)]) == 2
    assert "expected an object" in capsys.readouterr().err
