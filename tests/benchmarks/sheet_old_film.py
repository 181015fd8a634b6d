"""Before/after sheet of real old film: each clip of ../shared/media/old_film restored
by the `auto` preset (analysis → suggest_spec) and by `faithful`, one row per clip.

    .venv/bin/python tests/benchmarks/sheet_old_film.py [--out docs/images/old-film-sheet.jpg]

Real damage has no clean original, so there is no score here: the sheet is for the
eye. The middle frame of each clip is shown at the clip's own size, with the
operators `auto` chose printed under its column.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gpu_worker.engine import analysis, io, pipeline, presets  # noqa: E402

MEDIA = Path(os.environ.get("REEL_ARENA_SHARED_MEDIA", REPO.parent / "shared" / "media"))
LOSSLESS = {"codec": "h264", "crf": 0, "preset": "ultrafast", "pix_fmt": "yuv444p"}
PANEL_WIDTH = 420


def _label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((26, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text[:70], (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([img, bar])


def _panel(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.resize(frame, (PANEL_WIDTH, round(h * PANEL_WIDTH / w)),
                      interpolation=cv2.INTER_AREA)


def row(path: Path, work: Path, max_frames: int) -> np.ndarray:
    info = io.probe(path)
    end = min(info.frame_count, max_frames)
    middle = end // 2
    report = analysis.analyze(path)
    auto = presets.get_preset("auto", analysis=report)
    panels = [_label(_panel(next(io.read_frames(path, start=middle, end=middle + 1))),
                     f"{path.stem}: as scanned")]
    for name, spec in (("auto", auto), ("faithful", presets.get_preset("faithful"))):
        spec["encode"] = dict(LOSSLESS)
        out = work / f"{path.stem}_{name}.mkv"
        pipeline.render(path, out, spec, start=0, end=end)
        frame = list(io.read_frames(out))[middle]
        ops = ", ".join(o["op"] for o in spec["ops"]) if name == "auto" else "preset"
        panels.append(_label(_panel(frame), f"{name}: {ops}"))
    height = max(p.shape[0] for p in panels)
    panels = [np.vstack([p, np.full((height - p.shape[0], p.shape[1], 3), 255, np.uint8)])
              for p in panels]
    return np.hstack(panels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "old-film-sheet.jpg")
    ap.add_argument("--frames", type=int, default=48, help="frames of each clip to restore")
    args = ap.parse_args()
    clips = sorted((MEDIA / "old_film").glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no old film under {MEDIA / 'old_film'}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(p, Path(tmp), args.frames) for p in clips]
    sheet = np.vstack(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"written {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
