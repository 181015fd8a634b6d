"""Train the default face-restoration weights (`face_restore_v1.safetensors`).

    nice -n 10 python -m gpu_worker.training.faces --minutes 55 \\
        --out gpu_worker/engine/weights/face_restore_v1.safetensors

What it learns. A small NAFNet (width 16, about 0.44 M parameters; spandrel loads it
as a "Restoration" model) that turns a degraded crop back into the clean one. The
degradation is what old film does to a face: soft focus, lost resolution, film grain
and sensor noise, compression. It never changes colour (the operator keeps the
original's colour anyway, see `gpu_worker.engine.ops.face_restore`), and dust and
scratches are left to the operators made for them.

Data, honestly. Clean faces are scarce here: no face data set can be downloaded.
The net is therefore a general detail-restoration net trained on the clean stills
installed packages ship (scikit-image's sample images, which include two faces: the
astronaut and, held out for validation, the cameraman) plus the clean footage in
../shared/media/clean when present (the same stills, the Sintel frames, the cockatoo
video). The damaged old faces of ../shared/media/faces and old_photos, which the
benchmark scores, are never used.

Validation is on held-out images only: scikit-image's `camera` (a face at a distance),
Sintel frame 25 and the last cockatoo frame, degraded with fixed seeds; the script
reports PSNR/SSIM of the degraded input and of the restoration against the clean
original, and writes them to a JSON file beside the weights for the model card.

Everything is seeded; the result still depends on how many steps fit in the time
budget (the card gives the steps actually run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from gpu_worker.engine.device import pick_device
from gpu_worker.training import data as training_data

ARCH = {"img_channel": 3, "width": 16, "middle_blk_num": 2, "enc_blk_nums": [1, 1, 2],
        "dec_blk_nums": [1, 1, 1]}
SKIMAGE_TRAIN = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "brick",
                 "grass", "gravel", "clock", "coins", "moon", "retina",
                 "immunohistochemistry", "cell")
SKIMAGE_VAL = ("camera",)


def build_model() -> torch.nn.Module:
    from spandrel.architectures.NAFNet import NAFNet

    return NAFNet(**ARCH)


# ----------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------
def load_images(shared: Path | None = None) -> tuple[list[tuple[str, np.ndarray]],
                                                     list[tuple[str, np.ndarray]]]:
    """(training, validation) lists of (name, RGB uint8) clean images."""
    from skimage import data

    train: list[tuple[str, np.ndarray]] = []
    val: list[tuple[str, np.ndarray]] = []
    for name in SKIMAGE_TRAIN:
        train.append((f"skimage:{name}", training_data.as_rgb(getattr(data, name)())))
    for name in SKIMAGE_VAL:
        val.append((f"skimage:{name}", training_data.as_rgb(getattr(data, name)())))
    shared = (shared or training_data.shared_media_dir() / "clean").resolve()
    if shared.is_dir():
        sintel = sorted((shared / "sintel_frames").glob("frame_*.png"))
        for p in sintel[:-1]:
            train.append((f"sintel:{p.name}", training_data.read_rgb(p)))
        if sintel:
            val.append((f"sintel:{sintel[-1].name}", training_data.read_rgb(sintel[-1])))
        video = shared / "cockatoo_720p.mp4"
        if video.is_file():
            picks = list(range(0, 260, 26))
            frames = training_data.video_frames(video, [*picks, 279])
            for i, f in zip(picks, frames[:-1], strict=True):
                train.append((f"cockatoo:{i}", f))
            val.append(("cockatoo:279", frames[-1]))
    return train, val


@dataclass(frozen=True)
class Degradation:
    blur: float  # gaussian sigma, px
    downscale: float  # >= 1
    noise: float  # std-dev in [0, 1] units
    grain_size: float  # blur of the noise, px (0 = per pixel)
    mono_noise: bool  # same noise on R, G, B (film grain on a B&W print)
    jpeg: int  # quality, 0 = none


def random_degradation(rng: np.random.Generator) -> Degradation:
    return Degradation(
        blur=float(rng.uniform(0.0, 2.0)) if rng.random() < 0.8 else 0.0,
        downscale=float(rng.uniform(1.0, 3.0)) if rng.random() < 0.6 else 1.0,
        noise=float(rng.uniform(0.0, 0.07)) if rng.random() < 0.85 else 0.0,
        grain_size=float(rng.uniform(0.0, 1.2)),
        mono_noise=bool(rng.random() < 0.6),
        jpeg=int(rng.integers(30, 92)) if rng.random() < 0.4 else 0,
    )


def degrade(img: np.ndarray, d: Degradation, rng: np.random.Generator) -> np.ndarray:
    """float32 RGB [0, 1] (H, W, 3) → degraded copy of the same size."""
    h, w = img.shape[:2]
    out = img
    if d.blur > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), d.blur)
    if d.downscale > 1.05:
        small = (max(4, round(w / d.downscale)), max(4, round(h / d.downscale)))
        out = cv2.resize(out, small, interpolation=cv2.INTER_AREA)
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)
    if d.noise > 0:
        shape = (h, w, 1) if d.mono_noise else (h, w, 3)
        n = rng.standard_normal(shape).astype(np.float32)
        if d.grain_size > 0.2:
            n = cv2.GaussianBlur(n, (0, 0), d.grain_size).reshape(shape)
            n /= max(float(n.std()), 1e-6)
        out = out + d.noise * n
    out = np.clip(out, 0.0, 1.0)
    if d.jpeg:
        u8 = (out * 255.0 + 0.5).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, d.jpeg])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(out, dtype=np.float32)


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A `size`² float crop at a random position and scale (0.5–1×: detail at several
    sizes, as faces come at any distance), randomly flipped."""
    scale = float(rng.uniform(0.5, 1.0))
    h, w = img.shape[:2]
    side = min(h, w, max(size, int(round(size / scale))))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = img[y:y + side, x:x + side]
    if side != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    crop = crop.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def make_batch(images: list[tuple[str, np.ndarray]], batch: int, size: int,
               rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    clean, bad = [], []
    for _ in range(batch):
        img = images[int(rng.integers(0, len(images)))][1]
        c = random_crop(img, size, rng)
        clean.append(c)
        bad.append(degrade(c, random_degradation(rng), rng))

    def stack(xs: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()

    return stack(bad), stack(clean)


# ----------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------
VAL_LEVELS = {  # fixed damage levels the card reports
    "light": Degradation(blur=0.8, downscale=1.0, noise=0.02, grain_size=0.6,
                         mono_noise=True, jpeg=0),
    "moderate": Degradation(blur=1.2, downscale=1.5, noise=0.04, grain_size=0.8,
                            mono_noise=True, jpeg=70),
    "heavy": Degradation(blur=1.6, downscale=2.5, noise=0.06, grain_size=1.0,
                         mono_noise=True, jpeg=50),
}


def validation_set(val: list[tuple[str, np.ndarray]], side: int = 192
                   ) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(image, level, degraded, clean) float crops, the same every run."""
    out = []
    for k, (name, img) in enumerate(val):
        h, w = img.shape[:2]
        s = min(h, w, side)
        y, x = (h - s) // 2, (w - s) // 2
        clean = img[y:y + s, x:x + s].astype(np.float32) / 255.0
        for j, (level, d) in enumerate(VAL_LEVELS.items()):
            rng = np.random.default_rng(1000 + 10 * k + j)
            out.append((name, level, degrade(clean, d, rng), clean))
    return out


def evaluate(model: torch.nn.Module, vset: list[tuple[str, str, np.ndarray, np.ndarray]]
             ) -> dict[str, Any]:
    from gpu_worker.engine.metrics import psnr, ssim

    model.eval()
    per_level: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for _name, level, bad, clean in vset:
            device = next(model.parameters()).device
            x = torch.from_numpy(bad).permute(2, 0, 1)[None].to(device)
            y = model(x).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
            row = per_level.setdefault(level, {"psnr_in": [], "psnr_out": [], "ssim_in": [],
                                               "ssim_out": []})
            row["psnr_in"].append(psnr(bad, clean))
            row["psnr_out"].append(psnr(y, clean))
            row["ssim_in"].append(ssim(bad, clean))
            row["ssim_out"].append(ssim(y, clean))
    model.train()
    return {level: {k: round(float(np.mean(v)), 4) for k, v in row.items()}
            for level, row in per_level.items()}


# ----------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------
def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"arch": "NAFNet", "config": json.dumps(ARCH)})
    os.replace(tmp, path)


def train(out: Path, *, minutes: float, max_steps: int, batch: int, patch: int,
          lr: float, seed: int, val_every: int, threads: int,
          device: str = "cpu") -> dict[str, Any]:
    dev = pick_device(device)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    train_images, val_images = load_images()
    vset = validation_set(val_images)
    # Batches are drawn on the CPU (numpy) and moved to the training device.
    model = build_model().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.99))
    t0 = time.monotonic()
    budget = minutes * 60.0
    # Cosine decay over the expected number of steps; the expectation is revised from
    # the measured step time so the rate reaches its floor as the time runs out.
    expected = max_steps
    history = []
    step = 0
    losses: list[float] = []
    log_path = out.with_suffix(".log.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    base = evaluate(model, vset)
    print(json.dumps({"step": 0, "val": base}), flush=True)
    while step < max_steps and time.monotonic() - t0 < budget:
        x, y = (t.to(dev, non_blocking=True) for t in make_batch(train_images, batch, patch, rng))
        progress = min(1.0, step / max(expected, 1))
        for g in opt.param_groups:
            g["lr"] = 1e-5 + 0.5 * (lr - 1e-5) * (1 + math.cos(math.pi * progress))
        pred = model(x)
        loss = torch.sqrt((pred - y) ** 2 + 1e-6).mean()  # Charbonnier
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step == 20:
            per_step = (time.monotonic() - t0) / step
            expected = min(max_steps, int(budget / per_step))
        if step % val_every == 0:
            per_step = (time.monotonic() - t0) / step
            expected = min(max_steps, max(step + 1, int(budget / per_step)))
            val = evaluate(model, vset)
            entry = {"step": step, "loss": round(float(np.mean(losses[-val_every:])), 5),
                     "seconds": round(time.monotonic() - t0, 1), "val": val}
            history.append(entry)
            print(json.dumps(entry), flush=True)
            with log_path.open("a") as fh:
                fh.write(json.dumps(entry) + "\n")
            save_weights(model, out)
    save_weights(model, out)
    final = evaluate(model, vset)
    report = {
        "arch": "NAFNet", "config": ARCH,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": step, "batch": batch, "patch": patch, "lr": lr, "seed": seed,
        "seconds": round(time.monotonic() - t0, 1), "threads": threads, "device": str(dev),
        "train_images": [n for n, _ in train_images],
        "val_images": [n for n, _ in val_images],
        "val_before_training": base, "val_final": final,
    }
    out.with_suffix(".metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"done": True, "steps": step, "val": final}), flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path,
                    default=Path("gpu_worker/engine/weights/face_restore_v1.safetensors"))
    ap.add_argument("--minutes", type=float, default=55.0)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=80)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu",
                    help="cpu, cuda, cuda:N or auto (the first GPU when there is one)")
    a = ap.parse_args(argv)
    train(a.out, minutes=a.minutes, max_steps=a.steps, batch=a.batch, patch=a.patch,
          lr=a.lr, seed=a.seed, val_every=a.val_every, threads=a.threads, device=a.device)


if __name__ == "__main__":
    main()
