"""The dust operator with and without its checks against motion the flow missed
(`confirm_spots` and the round fill mask), in the same run.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_dust.py [--frames 8] [--workdir DIR]

Parts (each prints a table; `--parts` picks some):

- ``old_film``: every clip of ../shared/media/old_film (first `--film-frames` frames,
  the dust parameters `auto` gives it): regions filled per frame by each detector,
  the spike count of `metrics.dust_count` on distinct film frames before and after,
  and a crop sheet of the frames where the old detector filled most
  (``<workdir>/dust-worst-<clip>.png``: as scanned | old repair | new repair, what
  each repaired outlined in red);
- ``damage``: the 20 clean clips (`clean_media`, `--frames` frames, 480 px wide, a
  still as a static shot of as many frames)
  aged with the dust of the project's damage model (the `moderate` preset's dust,
  250 specks per megapixel, over its grain 0.03): detection recall and precision
  against the model's dust mask (regions: a speck counts as found when the repair
  touches it; a repaired region counts as right when it touches a speck), PSNR inside
  the dust mask and over the whole frame;
- ``realesrgan``: the same clips under Real-ESRGAN's second-order degradation (no
  dust at all: every repaired region is a false one): regions repaired per frame and
  PSNR of the whole frame;
- ``speed``: ms per frame of the repair at 640x360 (cockatoo with the damage model's
  dust), best of `--speed-passes` passes over `--speed-frames` frames.

Every frame is repaired from its two neighbours (frames -1 and +1; on the old film
the nearest distinct ones within the `search` that `auto` chose), as `Dust.process`
does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gpu_worker.engine import analysis, io, presets  # noqa: E402
from gpu_worker.engine import metrics as M  # noqa: E402
from gpu_worker.engine.damage import DamageConfig, damage_stream  # noqa: E402
from gpu_worker.engine.ops import get_operator  # noqa: E402
from gpu_worker.engine.registry import OpContext  # noqa: E402
from tests.benchmarks import clean_media, degradations  # noqa: E402

DETECTORS = (("old", False), ("new", True))
DAMAGE = DamageConfig(grain=0.03, dust=250)  # the moderate preset's grain and dust


def make_dust(**params: object):  # noqa: ANN201 - the Dust operator
    cls = get_operator("dust")
    return cls(cls.validate_params(params), OpContext(seed=0))


def tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def u8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def regions(mask: np.ndarray) -> tuple[int, np.ndarray]:
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return n - 1, labels


def outline(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = img.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 0, 0), 1)
    return out


# ----------------------------------------------------------------------------- old film
def old_film(work: Path, n_frames: int) -> None:
    print("\n## Old film (real dust; no ground truth)\n")
    print("| clip | frames judged | regions filled / frame old | new | pixels filled / frame "
          "old | new | dust_count before | after old | after new |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in sorted((clean_media.MEDIA / "old_film").glob("*.mp4")):
        spec = presets.get_preset("auto", analysis=analysis.analyze(path))
        params = next(o["params"] for o in spec["ops"] if o["op"] == "dust")
        op = make_dust(**params)
        frames = list(io.read_frames(path, end=n_frames))
        x = tensor(frames)
        r = int(params["search"])
        lumas: dict[int, torch.Tensor] = {}
        outs = {name: [f.copy() for f in frames] for name, _ in DETECTORS}
        counts = {name: [] for name, _ in DETECTORS}
        pixels = {name: [] for name, _ in DETECTORS}
        shown = []
        for c in range(len(frames)):
            row = torch.tensor([min(max(c + k, 0), len(frames) - 1) for k in range(-r, r + 1)])
            lumas.setdefault(c, M.luma_torch(x[c:c + 1])[0])
            p, n = op._neighbour(x, lumas, row, r, -1), op._neighbour(x, lumas, row, r, +1)
            if p is None or n is None:
                continue
            masks = {}
            for name, confirm in DETECTORS:
                y, mask = op.repair(x[c:c + 1], x[p:p + 1], x[n:n + 1], confirm=confirm)
                outs[name][c] = u8(y[0])
                masks[name] = mask[0, 0].numpy()
                counts[name].append(regions(masks[name])[0])
                pixels[name].append(int(masks[name].sum()))
            shown.append((counts["old"][-1], c, masks))
        diffs = [0.0] + [float(np.abs(M.gray(frames[i]) - M.gray(frames[i - 1])).mean())
                         for i in range(1, len(frames))]
        keep = [i for i, rep in enumerate(M.repeat_flags(diffs)) if not rep]
        triples = list(zip(keep, keep[1:], keep[2:], strict=False))
        def spikes(seq: list[np.ndarray], triples: list = triples) -> int:
            return sum(M.dust_count(seq[a], seq[b], seq[c]) for a, b, c in triples)
        print(f"| {path.stem} | {len(counts['old'])} | {np.mean(counts['old']):.1f} | "
              f"{np.mean(counts['new']):.1f} | {np.mean(pixels['old']):.0f} | "
              f"{np.mean(pixels['new']):.0f} | {spikes(frames)} | {spikes(outs['old'])} | "
              f"{spikes(outs['new'])} |")
        worst = sorted(shown, key=lambda s: -s[0])[:3]
        rows = []
        for _, c, masks in sorted(worst, key=lambda s: s[1]):
            rows.append(np.hstack([frames[c], outline(outs["old"][c], masks["old"]),
                                   outline(outs["new"][c], masks["new"])]))
        sheet = np.vstack(rows)
        scale = max(1, 1200 // sheet.shape[1])
        sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        out = work / f"dust-worst-{path.stem}.png"
        cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"<!-- crop sheet: {out} (frames {sorted(s[1] for s in worst)}; "
              "as scanned | old | new) -->")


# ----------------------------------------------------------------------------- damage
def judge(frames: list[np.ndarray]):  # noqa: ANN201 - yields (index, {name: (restored, mask)})
    op = make_dust()
    x = tensor(frames)
    for c in range(1, len(frames) - 1):
        res = {}
        for name, confirm in DETECTORS:
            y, mask = op.repair(x[c:c + 1], x[c - 1:c], x[c + 1:c + 2], confirm=confirm)
            res[name] = (y[0], mask[0, 0].numpy())
        yield c, res


def damage(clips: list[clean_media.CleanClip]) -> None:
    print("\n## Damage model dust (grain 0.03, dust 250/MP) on the clean clips\n")
    print("| clip | specks | recall old | new | precision old | new | PSNR in dust mask "
          "degraded | old | new | PSNR frame degraded | old | new |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    tot = {k: [] for k in ("rec_old", "rec_new", "pre_old", "pre_new", "in_deg", "in_old",
                           "in_new", "fr_deg", "fr_old", "fr_new")}
    for clip in clips:
        if len(clip.frames) < 3:
            print(f"| {clip.name} | not judged: {len(clip.frames)} frames, none has two neighbours |")
            continue
        dam = list(damage_stream(clip.frames, DAMAGE, seed=11))
        aged = [d.frame for d in dam]
        found = {n: 0 for n, _ in DETECTORS}
        right = {n: 0 for n, _ in DETECTORS}
        made = {n: 0 for n, _ in DETECTORS}
        specks = 0
        psnr = {k: [] for k in ("in_deg", "in_old", "in_new", "fr_deg", "fr_old", "fr_new")}
        for c, res in judge(aged):
            gt = dam[c].dust
            ns, glab = regions(gt)
            specks += ns
            clean = clip.frames[dam[c].source_index]
            if ns:
                psnr["in_deg"].append(M.psnr(aged[c], clean, mask=gt))
            psnr["fr_deg"].append(M.psnr(aged[c], clean))
            for name, (y, mask) in res.items():
                found[name] += len(set(np.unique(glab[mask])) - {0})
                nm, mlab = regions(mask)
                made[name] += nm
                right[name] += len(set(np.unique(mlab[gt])) - {0})
                if ns:
                    psnr[f"in_{name}"].append(M.psnr(y, clean, mask=gt))
                psnr[f"fr_{name}"].append(M.psnr(y, clean))
        row = {f"rec_{n}": found[n] / max(specks, 1) for n, _ in DETECTORS}
        row |= {f"pre_{n}": right[n] / max(made[n], 1) for n, _ in DETECTORS}
        row |= {k: float(np.mean(v)) for k, v in psnr.items()}
        for k, v in row.items():
            tot[k].append(v)
        print(f"| {clip.name} | {specks} | {row['rec_old']:.3f} | {row['rec_new']:.3f} | "
              f"{row['pre_old']:.3f} | {row['pre_new']:.3f} | {row['in_deg']:.2f} | "
              f"{row['in_old']:.2f} | {row['in_new']:.2f} | {row['fr_deg']:.2f} | "
              f"{row['fr_old']:.2f} | {row['fr_new']:.2f} |")
    m = {k: float(np.mean(v)) for k, v in tot.items()}
    print(f"| **mean of {len(tot['rec_old'])}** | | {m['rec_old']:.3f} | {m['rec_new']:.3f} | "
          f"{m['pre_old']:.3f} | {m['pre_new']:.3f} | {m['in_deg']:.2f} | {m['in_old']:.2f} | "
          f"{m['in_new']:.2f} | {m['fr_deg']:.2f} | {m['fr_old']:.2f} | {m['fr_new']:.2f} |")


def realesrgan(clips: list[clean_media.CleanClip]) -> None:
    print("\n## Real-ESRGAN second-order degradation (no dust: every repair is false)\n")
    print("| clip | regions repaired / frame old | new | PSNR frame degraded | old | new |")
    print("|---|---|---|---|---|---|")
    tot = {k: [] for k in ("n_old", "n_new", "deg", "old", "new")}
    for clip in clips:
        if len(clip.frames) < 3:
            print(f"| {clip.name} | not judged: {len(clip.frames)} frames, none has two neighbours |")
            continue
        aged = [degradations.realesrgan_degrade(f, 1, seed=1000 + i)
                for i, f in enumerate(clip.frames)]
        n = {name: [] for name, _ in DETECTORS}
        ps = {k: [] for k in ("deg", "old", "new")}
        for c, res in judge(aged):
            ps["deg"].append(M.psnr(aged[c], clip.frames[c]))
            for name, (y, mask) in res.items():
                n[name].append(regions(mask)[0])
                ps[name].append(M.psnr(y, clip.frames[c]))
        row = {"n_old": np.mean(n["old"]), "n_new": np.mean(n["new"])}
        row |= {k: float(np.mean(v)) for k, v in ps.items()}
        for k, v in row.items():
            tot[k].append(v)
        print(f"| {clip.name} | {row['n_old']:.1f} | {row['n_new']:.1f} | {row['deg']:.2f} | "
              f"{row['old']:.2f} | {row['new']:.2f} |")
    m = {k: float(np.mean(v)) for k, v in tot.items()}
    print(f"| **mean of {len(tot['n_old'])}** | {m['n_old']:.1f} | {m['n_new']:.1f} | {m['deg']:.2f} | "
          f"{m['old']:.2f} | {m['new']:.2f} |")


def speed(n_frames: int, passes: int) -> None:
    path = clean_media.MEDIA / "clean" / "cockatoo_720p.mp4"
    frames = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA)
              for f in io.read_frames(path, end=n_frames + 2)]
    aged = [d.frame for d in damage_stream(frames, DAMAGE, seed=11)]
    x = tensor(aged)
    op = make_dust()
    best = {}
    for _ in range(passes):
        for name, confirm in DETECTORS:
            t0 = time.perf_counter()
            for c in range(1, len(aged) - 1):
                op.repair(x[c:c + 1], x[c - 1:c], x[c + 1:c + 2], confirm=confirm)
            dt = (time.perf_counter() - t0) / (len(aged) - 2)
            best[name] = min(best.get(name, dt), dt)
    print(f"\n## Speed (640x360, CPU, best of {passes} passes over {n_frames} frames)\n")
    print(f"repair: old {best['old'] * 1000:.0f} ms/frame, new {best['new'] * 1000:.0f} "
          f"ms/frame ({best['new'] / best['old']:.2f}x)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=5,
                    help="frames of each clean clip (stills: a static shot this long)")
    ap.add_argument("--film-frames", type=int, default=48, help="frames of each old film")
    ap.add_argument("--parts", default="old_film,damage,realesrgan,speed")
    ap.add_argument("--speed-frames", type=int, default=8)
    ap.add_argument("--speed-passes", type=int, default=3)
    ap.add_argument("--names", default="", help="only clean clips whose name holds one of these")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_dust"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    parts = args.parts.split(",")
    print(f"# bench_dust: {time.strftime('%Y-%m-%d %H:%M')}, torch threads "
          f"{torch.get_num_threads()}")
    if "old_film" in parts:
        old_film(args.workdir, args.film_frames)
    if {"damage", "realesrgan"} & set(parts):
        names = [n for n in args.names.split(",") if n]
        clips = [clean_media.load(p, frames=args.frames, width=480, still_frames=args.frames)
                 for p in clean_media.clip_paths() if not names or any(n in p.name for n in names)]
        if "damage" in parts:
            damage(clips)
        if "realesrgan" in parts:
            realesrgan(clips)
    if "speed" in parts:
        speed(args.speed_frames, args.speed_passes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
