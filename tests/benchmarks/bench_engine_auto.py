"""`auto` only, on the engine benchmark's aged inputs, against a full run's baselines.

    .venv/bin/python tests/benchmarks/bench_engine_auto.py run DEGRADATION CLIPS WORKDIR
    .venv/bin/python tests/benchmarks/bench_engine_auto.py report WORKDIR...

`run` ages the clean clips whose names contain one of CLIPS (comma-separated) exactly as
bench_engine does (bench_engine.age: same damage model, seeds, frames and width),
restores them with the `auto` preset and scores them with bench_engine.score, appending
one JSON row per clip to WORKDIR/rows.jsonl. `report` prints per-clip and mean tables
comparing those rows with the baselines of the last full run in
docs/benchmarks-engine.md (which must have been made on the same aged inputs: the
degraded column is checked). For when a full bench_engine run does not fit the
machine; its figures are not baselines from the same run, and say so.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as B  # noqa: E402

from gpu_worker.engine import analysis, pipeline, presets  # noqa: E402

DOC = B.REPO / "docs" / "benchmarks-engine.md"


def run(degradation: str, names: list[str], work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "rows.jsonl", "a") as out:
        for clip in B.load_clips(10, 480, names):
            src = B.age(clip, degradation, work)
            bp, bs, _ = B.score(src, clip.frames)
            t = time.perf_counter()
            rep = analysis.analyze(src)
            spec = presets.get_preset("auto", analysis=rep)
            spec["encode"] = dict(B.LOSSLESS)
            dst = work / f"{clip.name}_{degradation}_auto.mkv"
            pipeline.render(src, dst, spec)
            p, s, n = B.score(dst, clip.frames)
            c = rep["summary"]["colour"]
            row = {"clip": clip.name, "degradation": degradation, "frames": n,
                   "degraded": {"psnr": bp, "ssim": bs},
                   "engine_auto": {"psnr": p, "ssim": s, "ops": [o["op"] for o in spec["ops"]]},
                   "colour": {k: c.get(k) for k in ("floor", "lift_confidence", "shadow_mass",
                                                    "natural_floor", "fade_confidence",
                                                    "cast_confidence", "cast")},
                   "seconds": time.perf_counter() - t}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(json.dumps(row), flush=True)


def previous(doc: str) -> dict[tuple[str, str], dict]:
    """Per (degradation, clip): the last full run's figures, from its tables."""
    prev: dict[tuple[str, str], dict] = {}
    sec = None
    for line in doc.splitlines():
        if line.startswith("### The project"):
            sec = "ours"
        elif line.startswith("### Real-ESRGAN"):
            sec = "realesrgan"
        elif line.startswith("## (b)"):
            sec = None
        if sec and line.startswith("| ") and not line.startswith("| clip") and "mean of" not in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = cells[0].replace(" (tuning)", "")
            prev[(sec, name)] = {
                "degraded": [float(x) for x in cells[2].split(" / ")],
                "auto": [float(x) for x in cells[3].split(" / ")],
                "ff_psnr": float(cells[5].split(" ")[0]), "ff_ssim": float(cells[6])}
    return prev


def report(works: list[Path]) -> str:
    prev = previous(DOC.read_text())
    rows = [json.loads(line) for w in works for line in open(w / "rows.jsonl")]
    order = list(prev)
    rows.sort(key=lambda r: order.index((r["degradation"], r["clip"])))
    md: list[str] = []
    agg: dict[tuple[str, bool], list[tuple]] = {}
    for deg in ("ours", "realesrgan"):
        md += [f"\n#### {deg}\n",
               "| clip | degraded (this run) | `auto` now | `auto` previous run | best ffmpeg "
               "PSNR / SSIM (previous run) | Δ `auto` now − ffmpeg | fade evidence (lift) | "
               "shadow mass |", "|---|---|---|---|---|---|---|---|"]
        for r in [r for r in rows if r["degradation"] == deg]:
            p = prev[(deg, r["clip"])]
            same = (abs(r["degraded"]["psnr"] - p["degraded"][0]) < 0.025
                    and abs(r["degraded"]["ssim"] - p["degraded"][1]) < 0.0015)
            e, c, tun = r["engine_auto"], r["colour"], B.is_tuning(r["clip"])
            md.append(
                f"| {r['clip']}{' (tuning)' if tun else ''} | {r['degraded']['psnr']:.2f} / "
                f"{r['degraded']['ssim']:.3f}{'' if same else ' (INPUT DIFFERS)'} | "
                f"{e['psnr']:.2f} / {e['ssim']:.3f} | {p['auto'][0]:.2f} / {p['auto'][1]:.3f} | "
                f"{p['ff_psnr']:.2f} / {p['ff_ssim']:.3f} | {e['psnr'] - p['ff_psnr']:+.2f} dB / "
                f"{e['ssim'] - p['ff_ssim']:+.3f} | {c['fade_confidence']} ({c['lift_confidence']})"
                f" | {c['shadow_mass']} |")
            agg.setdefault((deg, tun), []).append(
                (e["psnr"], e["ssim"], p["auto"][0], p["auto"][1], p["ff_psnr"], p["ff_ssim"]))

    def mean(v: list[tuple], i: int) -> float:
        return float(np.mean([x[i] for x in v]))

    md += ["", "| degradation | clips | `auto` now | `auto` previous | best ffmpeg | "
           "Δ now − ffmpeg | Δ previous − ffmpeg |", "|---|---|---|---|---|---|---|"]
    for deg in ("ours", "realesrgan", "both"):
        for label, sel in (("all", (True, False)), ("tuning", (True,)), ("held-out", (False,))):
            v = [x for (d, t), xs in agg.items() if (deg == "both" or d == deg) and t in sel
                 for x in xs]
            if v:
                md.append(f"| {deg} | {len(v)} {label} | {mean(v, 0):.2f} / {mean(v, 1):.3f} | "
                          f"{mean(v, 2):.2f} / {mean(v, 3):.3f} | {mean(v, 4):.2f} / "
                          f"{mean(v, 5):.3f} | {mean(v, 0) - mean(v, 4):+.2f} dB / "
                          f"{mean(v, 1) - mean(v, 5):+.3f} | {mean(v, 2) - mean(v, 4):+.2f} dB / "
                          f"{mean(v, 3) - mean(v, 5):+.3f} |")
    return "\n".join(md)


def main() -> int:
    if len(sys.argv) >= 5 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3].split(","), Path(sys.argv[4]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        print(report([Path(p) for p in sys.argv[2:]]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
