"""The interpolation benchmark's clip listing and its per-clip verdicts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.benchmarks import bench_interp


def _png(path: Path) -> None:
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))


def test_clean_clips_lists_videos_and_frame_folders_but_not_stills(tmp_path, monkeypatch):
    for sub in ("clean", "clean_more"):
        (tmp_path / sub).mkdir()
    _png(tmp_path / "clean" / "still.png")
    (tmp_path / "clean" / "film.mp4").write_bytes(b"")
    (tmp_path / "clean_more" / "talk.mpg").write_bytes(b"")
    (tmp_path / "clean_more" / "MANIFEST.tsv").write_text("file\n")
    seq = tmp_path / "clean_more" / "seq_png"
    pair = tmp_path / "clean_more" / "pair"
    for folder, n in ((seq, 3), (pair, 2)):
        folder.mkdir()
        for k in range(n):
            _png(folder / f"{k:03d}.png")
    monkeypatch.setattr(bench_interp, "MEDIA", tmp_path)
    names = [name for name, _ in bench_interp.clean_clips()]
    # A pair has no frame between two kept ones to rebuild.
    assert names == ["film.mp4", "seq_png", "talk.mpg"]


def _rows(clip: str, mci: float, ours: float, speed: float) -> list[dict]:
    rows = []
    for method, psnr, ratio in (
        ("ffmpeg minterpolate blend", mci - 3, 9.0),
        ("ffmpeg minterpolate mci", mci, 1.0),
        ("interpolate (default)", ours, speed),
    ):
        rows.append(
            {
                "clip": clip,
                "method": method,
                "psnr": psnr,
                "d_psnr": psnr - mci,
                "speed_ratio": ratio,
            }
        )
    return rows


def test_summary_names_the_clips_that_miss_each_target():
    rows = _rows("a", 30.0, 32.0, 3.0) + _rows("b", 30.0, 29.5, 1.5)
    text = "\n".join(bench_interp.summary(rows))
    assert "| a | 27.00 | 30.00 | 32.00 (+2.00, 3.0x) |" in text
    assert "29.50 (-0.50 **worse**, 1.5x)" in text
    verdict = next(line for line in text.splitlines() if line.startswith("* interpolate"))
    assert "average +0.75 dB over mci (missed)" in verdict
    assert "below mci on b;" in verdict
    assert "under 2x on b (1.5x)" in verdict
    assert "speed 2.1x mci" in verdict  # geometric mean of 3.0 and 1.5


@pytest.mark.parametrize("ours", [31.0, 31.5])
def test_summary_reports_a_met_average(ours):
    text = "\n".join(bench_interp.summary(_rows("a", 30.0, ours, 2.5)))
    assert "over mci (met); below mci on no clip" in text
    assert "under 2x on no clip" in text
