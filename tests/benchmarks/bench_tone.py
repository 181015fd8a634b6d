"""What `auto`'s tone decisions are worth: its colour_correct against alternatives.

    .venv/bin/python tests/benchmarks/bench_tone.py [--clips a,b] [--degradations ours]
        [--variants "auto,no tone"] [--workdir DIR] [--rows rows.jsonl[,more.jsonl]]
        [--about TEXT] [--out docs/benchmarks-tone.md]

Every clean clip of bench_engine (same frames, width, damage model and seeds), aged
both ways. For each aged clip the analysis is run once and `auto`'s spec is split at
its colour_correct: the operators before it (deflicker, dust, scratch, denoise) are
rendered once, losslessly, and every tone variant then renders only colour_correct and
what follows it (sharpen) from that file, so the variants differ in tone alone.
Variants:

- auto: the spec `auto` builds;
- no tone: colour_correct left out;
- levels ×0.6: auto's levels stretched part-way (contrast 0.6, as `clean` does);
- lift ×0.7: the analysis removes 70 % of the measured black lift (FADE_REMOVE);
- white balance ≥ 0.5: at least half of any measured cast removed, even where the
  analysis found no tint on the greys;
- clean's tone: the `clean` preset's colour_correct in place of auto's (inserted
  where auto has none);
- white balance >= 0.5 unless toned: as above, except on a toned or monochrome print;
- warm cast removed: a colour film's warm cast removed fully (auto removes 0.7);
- and combinations of these (names joined by " + ").

PSNR / SSIM on all 20 clips, per degradation, on the tone-tuning clips and the rest
(bench_engine.TUNING_CLIPS). An ablation, not a baseline comparison: the best
variant is chosen after scoring, on every clip, so a change it suggests is tuned on
all 20 and must say so.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as B  # noqa: E402

from gpu_worker.engine import analysis, pipeline, presets  # noqa: E402

CLEAN_TONE = next(op for op in presets.PRESETS["clean"].spec["ops"]
                  if op["op"] == "colour_correct")


def split_at_tone(spec: dict) -> tuple[list[dict], dict | None, list[dict]]:
    """(operators before colour_correct, colour_correct or None, operators after)."""
    ops = spec["ops"]
    for i, op in enumerate(ops):
        if op["op"] == "colour_correct":
            return ops[:i], op, ops[i + 1:]
    # No colour_correct: it would go before sharpen, where auto puts it.
    cut = next((i for i, op in enumerate(ops) if op["op"] == "sharpen"), len(ops))
    return ops[:cut], None, ops[cut:]


def _scaled_levels(tone: dict | None) -> dict | None:
    if tone is None:
        return None
    out = copy.deepcopy(tone)
    out["params"]["contrast"] = round(0.6 * float(out["params"].get("contrast", 0.0)), 3)
    return out


def _wb_floor(tone: dict | None) -> dict | None:
    if tone is None:
        return None
    out = copy.deepcopy(tone)
    out["params"]["white_balance"] = max(0.5, float(out["params"].get("white_balance", 0.0)))
    return out


def _wb_floor_untoned(tone: dict | None, report: dict) -> dict | None:
    """_wb_floor, except on a toned or monochrome print, whose toning auto keeps."""
    c = report["summary"]["colour"]
    warm = c["cast"] in ("sepia", "orange")
    if bool(c["monochrome"]) or (warm and bool(c.get("toned", True))):
        return tone
    return _wb_floor(tone)


def _auto_tone_with(report: dict, fade_remove: float) -> dict | None:
    saved = analysis.FADE_REMOVE
    analysis.FADE_REMOVE = fade_remove
    try:
        return split_at_tone(presets.get_preset("auto", analysis=report))[1]
    finally:
        analysis.FADE_REMOVE = saved


def _warm_cast_removed(tone: dict | None, report: dict) -> dict | None:
    """A colour film's warm cast removed fully (auto removes 0.7 of it)."""
    if tone is None:
        return None
    c = report["summary"]["colour"]
    warm = c["cast"] in ("sepia", "orange")
    toned = bool(c["monochrome"]) or (warm and bool(c.get("toned", True)))
    out = copy.deepcopy(tone)
    if warm and not toned:
        out["params"]["white_balance"] = round(float(c.get("cast_confidence", 0.0)), 2)
    return out


def _combined(*steps: Callable[[dict | None, dict], dict | None]
              ) -> Callable[[dict | None, dict], dict | None]:
    def apply(tone: dict | None, report: dict) -> dict | None:
        for step in steps:
            tone = step(tone, report)
        return tone
    return apply


VARIANTS: dict[str, Callable[[dict | None, dict], dict | None]] = {
    "auto": lambda tone, report: tone,
    "no tone": lambda tone, report: None,
    "levels x0.6": lambda tone, report: _scaled_levels(tone),
    "lift x0.7": lambda tone, report: _auto_tone_with(report, 0.7),
    "white balance >= 0.5": lambda tone, report: _wb_floor(tone),
    "clean's tone": lambda tone, report: copy.deepcopy(CLEAN_TONE),
    "white balance >= 0.5 unless toned": _wb_floor_untoned,
    "warm cast removed": _warm_cast_removed,
    "white balance >= 0.5 + warm cast removed": _combined(
        lambda tone, report: _wb_floor(tone), _warm_cast_removed),
    "white balance >= 0.5 + lift x0.7": _combined(
        lambda tone, report: _auto_tone_with(report, 0.7), lambda tone, report: _wb_floor(tone)),
    "white balance >= 0.5 + warm cast removed + lift x0.7": _combined(
        lambda tone, report: _auto_tone_with(report, 0.7), lambda tone, report: _wb_floor(tone),
        _warm_cast_removed),
}


def run_clip(clip: B.Clip, degradation: str, work: Path, variants: list[str]) -> dict:
    src = B.age(clip, degradation, work)
    report = analysis.analyze(src)
    spec = presets.get_preset("auto", analysis=report)
    before, tone, after = split_at_tone(spec)
    stem = f"{clip.name}_{degradation}"
    mid = work / f"{stem}_before_tone.mkv"
    if not mid.exists():  # a rerun in the same work folder reuses it: same input, same ops
        pipeline.render(src, mid, {"ops": before, "encode": dict(B.LOSSLESS)})
    row: dict = {"clip": clip.name, "degradation": degradation,
                 "tone": tone["params"] if tone else None, "variants": {}}
    for name in variants:
        make = VARIANTS[name]
        variant = make(tone, report)
        ops = ([variant] if variant else []) + after
        dst = work / f"{stem}_{name.replace(' ', '_').replace('>=', 'ge')}.mkv"
        pipeline.render(mid, dst, {"ops": ops, "encode": dict(B.LOSSLESS)})
        p, s, _ = B.score(dst, clip.frames)
        row["variants"][name] = {"psnr": p, "ssim": s}
    return row


def _means(rows: list[dict], name: str) -> tuple[float, float]:
    return (float(np.mean([r["variants"][name]["psnr"] for r in rows])),
            float(np.mean([r["variants"][name]["ssim"] for r in rows])))


def markdown(rows: list[dict], meta: str) -> str:
    names = [n for n in VARIANTS if all(n in r["variants"] for r in rows)]
    out = ["# Tone ablation: `auto`'s colour_correct against alternatives", "",
           "Generated by `tests/benchmarks/bench_tone.py`. " + meta, "",
           "Each variant renders only colour_correct and what follows it from the same "
           "lossless render of `auto`'s earlier operators, so the columns differ in tone "
           "alone. The tone-tuning clips (bench_engine.TUNING_CLIPS) are marked. The best "
           "variant is chosen after scoring, on every clip: this is an ablation, not a "
           "held-out figure.", ""]
    head = "| clip | " + " | ".join(names) + " |"
    rule = "|---|" + "---|" * len(names)
    for deg in B.DEGRADATIONS:
        sub = [r for r in rows if r["degradation"] == deg]
        if not sub:
            continue
        title = {"ours": "The project's damage model",
                 "realesrgan": "Real-ESRGAN's second-order degradation"}[deg]
        out += [f"## {title}",
                "", "PSNR dB / SSIM.", "", head, rule]
        for r in sub:
            mark = " (tuning)" if B.is_tuning(r["clip"]) else ""
            cells = [f"{r['variants'][n]['psnr']:.2f} / {r['variants'][n]['ssim']:.3f}"
                     for n in names]
            out.append(f"| {r['clip']}{mark} | " + " | ".join(cells) + " |")
        out += _mean_rows(sub, names) + [""]
    if {r["degradation"] for r in rows} == set(B.DEGRADATIONS):
        out += ["## Both degradations", "", head, rule, *_mean_rows(rows, names), ""]
    return "\n".join(out)


def _mean_rows(rows: list[dict], names: list[str]) -> list[str]:
    """Mean rows over the tone-tuning clips, the others and all of `rows`."""
    out = []
    for label, group in (("tuning", [r for r in rows if B.is_tuning(r["clip"])]),
                         ("held out", [r for r in rows if not B.is_tuning(r["clip"])]),
                         ("all", rows)):
        if group:
            cells = ["{:.2f} / {:.3f}".format(*_means(group, n)) for n in names]
            out.append(f"| **mean, {label} ({len(group)})** | " + " | ".join(cells) + " |")
    return out


def joined_rows(paths: list[Path]) -> list[dict]:
    """One row per (clip, degradation), its variants gathered from every file given."""
    joined: dict[tuple[str, str], dict] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            key = (row["clip"], row["degradation"])
            if key in joined:
                joined[key]["variants"].update(row["variants"])
            else:
                joined[key] = row
    return list(joined.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="", help="comma-separated name parts")
    ap.add_argument("--degradations", default=",".join(B.DEGRADATIONS))
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=B.REPO / "docs" / "benchmarks-tone.md")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated variant names (default: all)")
    ap.add_argument("--rows", default="rows.jsonl", help="file in the work folder the rows "
                    "are appended to (a run resumes from it); more files, comma-separated, "
                    "are joined into the report (one clip's variants from every file)")
    ap.add_argument("--about", default="", help="the report's sentence on when and how it "
                    "ran (default: this run's machine and times)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-tone-"))
    work.mkdir(parents=True, exist_ok=True)
    names = [c for c in args.clips.split(",") if c] or None
    clips = B.load_clips(10, 480, names)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants: {', '.join(unknown)}")
    rows_files = [work / name for name in args.rows.split(",") if name]
    rows_path = rows_files[0]
    done = set()
    if rows_path.exists():
        done = {(r["clip"], r["degradation"])
                for r in map(json.loads, rows_path.read_text().splitlines())}
    with open(rows_path, "a") as f:
        for deg in args.degradations.split(","):
            for clip in clips:
                if (clip.name, deg) in done:
                    continue
                row = run_clip(clip, deg, work, variants)
                f.write(json.dumps(row) + "\n")
                f.flush()
                print(json.dumps(row), flush=True)
    rows = joined_rows(rows_files)
    meta = args.about or (
        f"{platform.machine()}, CPU only, {len(clips)} clips, 10 frames at 480 px wide "
        f"(as bench_engine), started {started}, finished "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    text = markdown(rows, meta)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
