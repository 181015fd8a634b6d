"""What `auto`'s decisions are worth: its spec against variants of it, clip by clip.

    .venv/bin/python tests/benchmarks/bench_auto_ablation.py [--clips a,b]
        [--degradations ours] [--variants "auto,no tone"] [--workdir DIR]
        [--rows rows.jsonl[,more.jsonl]] [--title TEXT] [--about TEXT] [--out FILE.md]

Every clean clip of bench_engine (same frames, width, damage model and seeds), aged
both ways. For each aged clip the analysis is run once and `auto`'s spec built; each
variant is a change to that spec. The operators that `auto` and every variant of the
run share (deflicker, dust, scratch for variants of denoise; everything before
colour_correct for tone variants) are rendered once, losslessly, and each variant
renders the rest from that file, so the variants differ only where their specs do.
Variants:

- tone (colour_correct): `no tone`; `levels x0.6` (auto's levels stretched part-way,
  as `clean` does); `lift x0.7` (70 % of the measured black lift removed,
  analysis.FADE_REMOVE); `white balance >= 0.5` (at least half of any measured cast
  removed), `... unless toned` (except on a toned or monochrome print); `warm cast
  removed` (a colour film's warm cast removed fully); `clean's tone` (the `clean`
  preset's colour_correct in place of auto's, inserted where auto has none);
  `natural floor ...` (the unfaded floor read off the shadow mass by other points);
- repairs: `no dust`, `denoise x0.7` / `x1.5` / `x2` / `x3` (strength scaled),
  `no compression factor` (auto's denoise without analysis.compression_denoise_factor),
  `noise of every frame` (the noise median over every frame, not only those with a
  frame-to-frame measure),
  `no sharpen`, `sharpen x1.5` / `x2` (amount), `sharpen radius x2`, `sharpen radius
  1.2` (the radius auto used before it followed the fine-detail ratio);
- and combinations (names joined by " + ").

`--degradations` also takes `ours-h264`: the damage model's aging delivered as H.264
crf 28, a compressed copy of grainy film (bench_engine.OTHER_DEGRADATIONS).

PSNR / SSIM per clip, per degradation, on the tone-tuning clips and the rest
(bench_engine.TUNING_CLIPS). An ablation, not a baseline comparison: a change it
suggests is chosen on the tuning clips and read on the others, or it says so.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as B  # noqa: E402

from gpu_worker.engine import analysis, pipeline, presets  # noqa: E402

# A variant of auto's colour_correct (None: none) given the analysis report, and a
# variant of auto's whole list of operators.
ToneFn = Callable[[dict | None, dict], dict | None]
SpecFn = Callable[[list[dict], dict], list[dict]]

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


WB_FLOOR = 0.5  # the "white balance >= 0.5" variants (analysis.MIN_WHITE_BALANCE came of them)


def _wb_floor(tone: dict | None) -> dict | None:
    if tone is None:
        return None
    out = copy.deepcopy(tone)
    out["params"]["white_balance"] = max(WB_FLOOR, float(out["params"].get("white_balance", 0.0)))
    return out


def _wb_floor_untoned(tone: dict | None, report: dict) -> dict | None:
    """_wb_floor, except on a toned or monochrome print, whose toning auto keeps."""
    if analysis.is_toned_print(report["summary"]["colour"]):
        return tone
    return _wb_floor(tone)


def _auto_tone_with(report: dict, fade_remove: float) -> dict | None:
    saved = analysis.FADE_REMOVE
    analysis.FADE_REMOVE = fade_remove
    try:
        return split_at_tone(presets.get_preset("auto", analysis=report))[1]
    finally:
        analysis.FADE_REMOVE = saved


def _auto_for(report: dict, edit: Callable[[dict], None]) -> list[dict]:
    """auto's operators for a copy of the report changed by `edit`: a variant that
    differs in what the analysis measured goes through auto's own rules."""
    changed = copy.deepcopy(report)
    edit(changed)
    return presets.get_preset("auto", analysis=changed)["ops"]


def _natural_floor_by_shadow(shadow_masses: tuple[float, ...],
                             floors: tuple[float, ...]) -> ToneFn:
    """auto's tone with the unfaded scene's floor (analysis.natural_floor) read off the
    shadow mass by these points instead."""
    def edit(report: dict) -> None:
        c = report["summary"]["colour"]
        c["natural_floor"] = float(np.interp(c.get("shadow_mass", 1.0), shadow_masses, floors))
    return lambda tone, report: split_at_tone({"ops": _auto_for(report, edit)})[1]


def _warm_cast_removed(tone: dict | None, report: dict) -> dict | None:
    """A colour film's warm cast removed fully (auto removes 0.7 of it)."""
    if tone is None:
        return None
    c = report["summary"]["colour"]
    out = copy.deepcopy(tone)
    if analysis.is_warm_cast(c) and not analysis.is_toned_print(c):
        out["params"]["white_balance"] = round(float(c.get("cast_confidence", 0.0)), 2)
    return out


def _chain(*steps: Callable[[Any, dict], Any]) -> Callable[[Any, dict], Any]:
    """Steps applied one after the other, each to the previous one's result: for tone
    functions (ToneFn) and spec functions (SpecFn) alike."""
    def apply(value: Any, report: dict) -> Any:
        for step in steps:
            value = step(value, report)
        return value
    return apply


def _tone(make: ToneFn) -> SpecFn:
    """A variant of auto's spec that replaces its colour_correct by make(tone, report)."""
    def apply(ops: list[dict], report: dict) -> list[dict]:
        before, tone, after = split_at_tone({"ops": ops})
        variant = make(copy.deepcopy(tone), report)
        return before + ([variant] if variant else []) + after
    return apply


def _with_params(op_name: str, most: float | None = None, **factors: float) -> SpecFn:
    """auto's `op_name` with each named parameter multiplied, and limited to `most` when
    given (otherwise the spec is validated when it renders, so a value out of the
    operator's range fails loudly)."""
    def apply(ops: list[dict], report: dict) -> list[dict]:
        out = copy.deepcopy(ops)
        for op in out:
            if op["op"] == op_name:
                for key, factor in factors.items():
                    value = float(op["params"][key]) * factor
                    op["params"][key] = round(value if most is None else min(value, most), 3)
        return out
    return apply


def _set_params(op_name: str, **values: Any) -> SpecFn:
    """auto's `op_name` with the named parameters set."""
    def apply(ops: list[dict], report: dict) -> list[dict]:
        out = copy.deepcopy(ops)
        for op in out:
            if op["op"] == op_name:
                op["params"].update(values)
        return out
    return apply


def _noise_of_every_frame(ops: list[dict], report: dict) -> list[dict]:
    """auto's spec from the noise median over every measured frame, as before the
    analysis let the frames with a frame-to-frame measure speak for the clip."""
    def edit(report: dict) -> None:
        measured = [r["noise"] for r in report["frames"] if "noise" in r]
        report["summary"]["noise"]["median"] = round(float(np.median(measured)), 6)
    return _auto_for(report, edit)


def _without(op_name: str) -> SpecFn:
    return lambda ops, report: [op for op in ops if op["op"] != op_name]


VARIANTS: dict[str, SpecFn] = {
    "auto": lambda ops, report: ops,
    # tone (colour_correct)
    "no tone": _tone(lambda tone, report: None),
    "levels x0.6": _tone(lambda tone, report: _scaled_levels(tone)),
    "lift x0.7": _tone(lambda tone, report: _auto_tone_with(report, 0.7)),
    "white balance >= 0.5": _tone(lambda tone, report: _wb_floor(tone)),
    "clean's tone": _tone(lambda tone, report: copy.deepcopy(CLEAN_TONE)),
    "white balance >= 0.5 unless toned": _tone(_wb_floor_untoned),
    "warm cast removed": _tone(_warm_cast_removed),
    "natural floor 0.05 mid": _tone(_natural_floor_by_shadow((0.03, 0.08, 0.3),
                                                             (0.06, 0.05, 0.02))),
    "natural floor 0.04 mid": _tone(_natural_floor_by_shadow((0.03, 0.08, 0.3),
                                                             (0.06, 0.04, 0.02))),
    "natural floor 0.05 to 0.5": _tone(_natural_floor_by_shadow((0.03, 0.08, 0.5),
                                                                (0.06, 0.05, 0.02))),
    "white balance >= 0.5 + warm cast removed": _tone(_chain(
        lambda tone, report: _wb_floor(tone), _warm_cast_removed)),
    "white balance >= 0.5 + lift x0.7": _tone(_chain(
        lambda tone, report: _auto_tone_with(report, 0.7), lambda tone, report: _wb_floor(tone))),
    "white balance >= 0.5 + warm cast removed + lift x0.7": _tone(_chain(
        lambda tone, report: _auto_tone_with(report, 0.7), lambda tone, report: _wb_floor(tone),
        _warm_cast_removed)),
    # repairs (dust, denoise, sharpen)
    "no dust": _without("dust"),
    "denoise x1.5": _with_params("denoise", strength=1.5),
    "denoise x0.7": _with_params("denoise", strength=0.7),
    "denoise x2": _with_params("denoise", strength=2.0),
    "denoise x3": _with_params("denoise", most=4.0, strength=3.0),
    "no sharpen": _without("sharpen"),
    "sharpen x1.5": _with_params("sharpen", amount=1.5),
    "sharpen x2": _with_params("sharpen", amount=2.0),
    "sharpen radius x2": _with_params("sharpen", radius=2.0),
    "sharpen radius 1.2": _set_params("sharpen", radius=1.2),
    "noise of every frame": _noise_of_every_frame,
    "no compression factor": lambda ops, report: _with_params(
        "denoise", strength=1.0 / analysis.compression_denoise_factor(report))(ops, report),
    "denoise x1.5 + no sharpen": _chain(_with_params("denoise", strength=1.5), _without("sharpen")),
}


def common_prefix(specs: list[list[dict]]) -> int:
    """How many leading operators every spec shares."""
    n = 0
    while all(len(s) > n for s in specs) and all(s[n] == specs[0][n] for s in specs):
        n += 1
    return n


def run_clip(clip: B.Clip, degradation: str, work: Path, variants: list[str]) -> dict:
    """Every variant of `auto`'s spec on one aged clip. The operators all variants share
    are rendered once (losslessly, cached in `work` by their JSON) and each variant
    renders the rest from there, so the variants differ only where their specs do."""
    src = B.age(clip, degradation, work)
    report = analysis.analyze(src)
    auto_ops = presets.get_preset("auto", analysis=report)["ops"]
    specs = {name: VARIANTS[name](copy.deepcopy(auto_ops), report) for name in variants}
    n = common_prefix([auto_ops, *specs.values()])
    shared = auto_ops[:n]
    stem = f"{clip.name}_{degradation}"
    key = hashlib.sha1(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:12]
    mid = work / f"{stem}_shared_{key}.mkv"
    if not mid.exists():  # a rerun in the same work folder reuses it: same input, same ops
        pipeline.render(src, mid, {"ops": shared, "encode": dict(B.LOSSLESS)})
    tone = split_at_tone({"ops": auto_ops})[1]
    row: dict = {"clip": clip.name, "degradation": degradation,
                 "tone": tone["params"] if tone else None,
                 "ops": auto_ops, "variants": {}}
    for name, ops in specs.items():
        dst = work / f"{stem}_{hashlib.sha1(name.encode()).hexdigest()[:10]}.mkv"
        pipeline.render(mid, dst, {"ops": ops[n:], "encode": dict(B.LOSSLESS)})
        p, s, _ = B.score(dst, clip.frames)
        row["variants"][name] = {"psnr": p, "ssim": s}
    return row


def _means(rows: list[dict], name: str) -> tuple[float, float]:
    return (float(np.mean([r["variants"][name]["psnr"] for r in rows])),
            float(np.mean([r["variants"][name]["ssim"] for r in rows])))


def markdown(rows: list[dict], meta: str, title: str) -> str:
    names = [n for n in VARIANTS if all(n in r["variants"] for r in rows)]
    out = [f"# {title}", "",
           "Generated by `tests/benchmarks/bench_auto_ablation.py`. " + meta, "",
           "For each aged clip, the operators that `auto` and every variant share are "
           "rendered once, losslessly, and each variant renders the rest from that file, "
           "so the columns differ only where the specs do. The tone-tuning clips "
           "(bench_engine.TUNING_CLIPS) are marked. Reading every clip's row to pick a "
           "variant makes every clip a tuning clip: a change is chosen on the marked clips "
           "and read on the others.", ""]
    head = "| clip | " + " | ".join(names) + " |"
    rule = "|---|" + "---|" * len(names)
    for deg in (*B.DEGRADATIONS, *B.OTHER_DEGRADATIONS):
        sub = [r for r in rows if r["degradation"] == deg]
        if not sub:
            continue
        title = B.DEGRADATION_TITLES[deg]
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
    ap.add_argument("--out", type=Path, default=None, help="Markdown report to write "
                    "(docs/benchmarks-tone.md, docs/benchmarks-repairs.md); printed either way")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated variant names (default: all)")
    ap.add_argument("--rows", default="rows.jsonl", help="file in the work folder the rows "
                    "are appended to (a run resumes from it); more files, comma-separated, "
                    "are joined into the report (one clip's variants from every file)")
    ap.add_argument("--title", default="Ablation of `auto`'s spec",
                    help="the report's heading")
    ap.add_argument("--about", default="", help="the report's sentence on when and how it "
                    "ran (default: this run's machine and times)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ablation-"))
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
    text = markdown(rows, meta, args.title)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
