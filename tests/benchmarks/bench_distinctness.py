"""Distinctness benchmark: how different sweep variants of a real old film look.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_distinctness.py
        [--clip ../shared/media/old_film/muybridge_buffalo.mp4] [--start 60] [--end 108]
        [--out /tmp/distinctness]

Not a pytest test. Renders an excerpt of the clip with `faithful` and one override per
variant (an operator `faithful` lacks, such as grain, is inserted at its usual place:
`apply_overrides(..., insert=True)`), with the engine directly (no site), then scores
pairs with `gpu_worker.engine.distinctness.compare_videos` (ColorVideoVDP, display
'standard_fhd', 4 frames) and writes the difference maps beside the renders. The
first pair is the same spec rendered twice: identical files, so 0 JOD apart (it was
0.17 while x264's AVX-512 code made encodes unrepeatable; see docs/engine.md).
Prints a Markdown table (difference = 10 - JOD; flagged below VARIANT_JND_JOD = 0.5).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

JND = 0.5
VARIANTS = {
    "grain-0": {"grain.strength": 0.0},
    "grain-0-again": {"grain.strength": 0.0},
    "grain-0.3": {"grain.strength": 0.3},
    "grain-0.6": {"grain.strength": 0.6},
    "grain-3": {"grain.strength": 3.0},
    "grain-6": {"grain.strength": 6.0},
    "denoise-0": {"denoise.strength": 0.0},
    "denoise-0.3": {"denoise.strength": 0.3},
    "denoise-2": {"denoise.strength": 2.0},
    "denoise-3.7": {"denoise.strength": 3.7},
}
PAIRS = [
    ("grain-0", "grain-0-again"),
    ("denoise-0.3", "denoise-2"),
    ("denoise-0", "denoise-2"),
    ("denoise-0.3", "denoise-3.7"),
    ("denoise-0", "denoise-3.7"),
    ("grain-0", "grain-0.3"),
    ("grain-0", "grain-0.6"),
    ("grain-0.3", "grain-0.6"),
    ("grain-0", "grain-3"),
    ("grain-3", "grain-6"),
    ("grain-0", "grain-6"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(REPO.parent / "shared/media/old_film/muybridge_buffalo.mp4"))
    parser.add_argument("--start", type=int, default=60)
    parser.add_argument("--end", type=int, default=108)
    parser.add_argument("--out", default="/tmp/distinctness")
    args = parser.parse_args()

    import torch

    from gpu_worker.engine.distinctness import compare_videos
    from gpu_worker.engine.pipeline import render
    from gpu_worker.engine.presets import get_preset
    from gpu_worker.engine.spec import apply_overrides

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = get_preset("faithful")
    for name, override in VARIANTS.items():
        spec = apply_overrides(base, override, insert=True)
        done = render(args.clip, out / f"{name}.mp4", spec, start=args.start, end=args.end,
                      device="cpu", audio=False)
        print(f"rendered {name}: {done.frames} frames in {done.seconds:.1f} s", file=sys.stderr)
    print("| pair | JOD | difference | flagged | seconds |\n|---|---|---|---|---|")
    for a, b in PAIRS:
        c = compare_videos(out / f"{a}.mp4", out / f"{b}.mp4", map_path=out / f"map-{a}-{b}.png",
                           device="cpu")
        flag = "yes" if c.difference < JND else "no"
        print(f"| {a} vs {b} | {c.jod:.2f} | {c.difference:.2f} | {flag} | {c.seconds:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
