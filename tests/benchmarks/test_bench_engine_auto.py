"""bench_engine_auto: the last full run's tables are read back, and a report compares
rows with them (means per degradation, tuning and held-out)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine_auto as A  # noqa: E402


def test_previous_reads_every_clip_of_both_degradations() -> None:
    prev = A.previous(A.DOC.read_text())
    for deg in ("ours", "realesrgan"):
        clips = [c for d, c in prev if d == deg]
        assert len(clips) == 20 and "sintel_frames" in clips
    row = prev[("ours", "sintel_frames")]
    assert len(row["degraded"]) == 2 and row["ff_psnr"] > row["degraded"][0] - 5


def test_report_compares_rows_with_the_last_full_run(tmp_path: Path) -> None:
    prev = A.previous(A.DOC.read_text())
    rows = []
    for clip in ("sintel_frames", "astronaut"):
        p = prev[("ours", clip)]
        rows.append({"clip": clip, "degradation": "ours",
                     "degraded": {"psnr": p["degraded"][0], "ssim": p["degraded"][1]},
                     "engine_auto": {"psnr": p["ff_psnr"] + 1.0, "ssim": p["ff_ssim"] + 0.01},
                     "colour": {"fade_confidence": 1.0, "lift_confidence": 1.0,
                                "shadow_mass": 0.1}})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = A.report([tmp_path])
    assert "INPUT DIFFERS" not in text
    means = {line.split("|")[2].strip(): line for line in text.splitlines()
             if line.startswith("| ours |")}
    assert set(means) == {"2 all", "1 tuning", "1 held-out"}
    assert "+1.00 dB / +0.010" in means["2 all"]
    rows[0]["degraded"]["psnr"] += 1.0
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "INPUT DIFFERS" in A.report([tmp_path])
    with pytest.raises(KeyError):
        A.previous("")[("ours", "sintel_frames")]
