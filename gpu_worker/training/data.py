"""Clean sources, the fixed split, random crops and the degradation for training.

The split is fixed by name, so what a model was trained on and what the benchmarks
score never overlap:

* **training**: stills that scikit-image ships (`TRAIN_STILLS`), a few frames of the
  project's drawn demo film, and frames 0–177 (every third) of the clean camera clip
  `clean/cockatoo_720p.mp4` from ../shared/media when it is present;
* **validation** (chosen while training, never trained on): scikit-image's `rocket`,
  matplotlib's photograph of Grace Hopper, and cockatoo frames 195 and 205;
* **held out** (scored by the benchmarks, never seen in training or validation): the
  four clean stills of ../shared/media/clean (astronaut, chelsea, coffee, Hubble deep
  field; scikit-image ships the same pictures, so those are excluded from training
  too), all ten Sintel frames, and cockatoo frames 220–279.

The degradation turns a clean crop into what an old print's scan looks like at lower
resolution: the project's damage model (`gpu_worker.engine.damage`: downscale, blur,
film grain) with random strengths, sometimes another resampling kernel, sometimes
monochrome, sometimes JPEG compression (transfers are often compressed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from gpu_worker.engine.damage import DamageConfig, damage_frame

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_media_dir() -> Path:
    """../shared/media beside the checkout, or $REEL_ARENA_SHARED_MEDIA."""
    return Path(os.environ.get("REEL_ARENA_SHARED_MEDIA",
                               REPO_ROOT.parent / "shared" / "media"))


# ----------------------------------------------------------------------------------
# The split
# ----------------------------------------------------------------------------------
def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        if name == "motorcycle_left":
            return skimage.data.stereo_motorcycle()[0]
        if name == "motorcycle_right":
            return skimage.data.stereo_motorcycle()[1]
        return getattr(skimage.data, name)()
    return load


def _matplotlib(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data(name) as f:
            data = np.frombuffer(f.read(), np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return load


# Photographs and a few textures/graphics; all ship inside installed packages.
# Left out: astronaut, chelsea/cat, coffee, hubble_deep_field (held out: the same
# pictures are in ../shared/media/clean), clock (motion-blurred), horse and logo
# (binary/alpha graphics), microaneurysms and lfw_subset (tiny).
TRAIN_STILLS: dict[str, Callable[[], np.ndarray]] = {
    **{n: _skimage(n) for n in (
        "camera", "brick", "grass", "gravel", "coins", "moon", "page", "text",
        "immunohistochemistry", "retina", "motorcycle_left", "motorcycle_right",
        "cell", "checkerboard", "colorwheel", "shepp_logan_phantom")},
}
VALIDATION_STILLS: dict[str, Callable[[], np.ndarray]] = {
    "rocket": _skimage("rocket"), "grace_hopper": _matplotlib("grace_hopper.jpg")}

COCKATOO = "clean/cockatoo_720p.mp4"
COCKATOO_TRAIN_FRAMES = tuple(range(0, 180, 3))
COCKATOO_VALIDATION_FRAMES = (195, 205)
COCKATOO_HELD_OUT_FRAMES = tuple(range(220, 280))
HELD_OUT_STILLS = ("clean/astronaut.png", "clean/chelsea.png", "clean/coffee.png",
                   "clean/hubble_deep_field.png")
HELD_OUT_SEQUENCE = "clean/sintel_frames"
DEMO_FRAMES = (2, 7, 10)  # title card, landscape, town square of a 12-frame demo film


@dataclass
class CleanImage:
    """One clean picture: (H, W, 3) uint8 RGB, and where it came from."""

    name: str
    group: str  # "stills", "demo", "video"
    image: np.ndarray


def as_rgb(img: np.ndarray) -> np.ndarray:
    """Any skimage/matplotlib image -> (H, W, 3) uint8 RGB (alpha dropped)."""
    arr = np.asarray(img)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float64) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255)
        arr = arr.round().astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr[..., :3])


def video_frames(path: Path, indices: Sequence[int]) -> list[np.ndarray]:
    """The frames of a video at `indices` (ascending), as RGB uint8; decoding stops at
    the last one asked for."""
    from gpu_worker.engine.io import read_frames

    wanted = set(indices)
    out = []
    for i, frame in enumerate(read_frames(path, start=0, end=max(indices) + 1)):
        if i in wanted:
            out.append(frame)
    return out


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _cockatoo_images(root: Path, frames: Sequence[int]) -> list[CleanImage]:
    """Frames of the clean cockatoo clip under `root`; none when it is absent."""
    video = root / COCKATOO
    if not video.is_file() or not frames:
        return []
    picks = sorted(frames)
    return [CleanImage(f"cockatoo_{i}", "video", f)
            for i, f in zip(picks, video_frames(video, picks), strict=True)]


def training_images(shared_media: Path | None = None) -> list[CleanImage]:
    """The clean training material (see the module docstring for the split)."""
    from gpu_worker.engine.demo import demo_frames

    out = [CleanImage(name, "stills", as_rgb(load())) for name, load in TRAIN_STILLS.items()]
    demo = list(demo_frames(seconds=2.0, fps=6, width=960, height=720, seed=3))
    out += [CleanImage(f"demo_{i}", "demo", demo[i]) for i in DEMO_FRAMES]
    out += _cockatoo_images(shared_media or shared_media_dir(), COCKATOO_TRAIN_FRAMES)
    return out


def validation_images(shared_media: Path | None = None) -> list[CleanImage]:
    out = [CleanImage(name, "stills", as_rgb(load())) for name, load in VALIDATION_STILLS.items()]
    out += _cockatoo_images(shared_media or shared_media_dir(), COCKATOO_VALIDATION_FRAMES)
    return out


def held_out_images(shared_media: Path | None = None, *,
                    cockatoo_frames: Sequence[int] = (230, 250, 270)) -> list[CleanImage]:
    """The benchmark's material (never trained on); empty when ../shared is absent."""
    root = shared_media or shared_media_dir()
    out = []
    for rel in HELD_OUT_STILLS:
        path = root / rel
        if path.is_file():
            out.append(CleanImage(path.stem, "stills", read_rgb(path)))
    seq = root / HELD_OUT_SEQUENCE
    if seq.is_dir():
        for path in sorted(seq.glob("*.png")):
            out.append(CleanImage(f"sintel_{path.stem}", "sequence", read_rgb(path)))
    if (root / COCKATOO).is_file() and not set(cockatoo_frames) <= set(COCKATOO_HELD_OUT_FRAMES):
        raise ValueError("cockatoo frames outside the held-out range 220-279")
    out += _cockatoo_images(root, cockatoo_frames)
    return out


# ----------------------------------------------------------------------------------
# Degradation
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Degradation:
    """Ranges the random degradation draws from (LR pixels for blur and grain size)."""

    blur: tuple[float, float] = (0.0, 1.0)
    blur_prob: float = 0.8
    grain: tuple[float, float] = (0.004, 0.05)  # damage model's grain std-dev
    grain_prob: float = 0.8
    grain_size: tuple[float, float] = (0.3, 1.2)
    other_kernel_prob: float = 0.3  # bicubic or bilinear instead of area downscaling
    mono_prob: float = 0.25  # black-and-white film
    jpeg_prob: float = 0.25
    jpeg_quality: tuple[int, int] = (55, 95)


# The fixed degradation the benchmarks and tests score: area downscale, then a soft
# focus of 0.5 LR pixels and film grain of std 0.02 (about 5 levels of 8-bit video).
BENCHMARK_BLUR = 0.5
BENCHMARK_GRAIN = 0.02
BENCHMARK_GRAIN_SIZE = 0.6


def benchmark_degrade(hr: np.ndarray, scale: int, index: int = 0, seed: int = 0) -> np.ndarray:
    """The benchmark's low-resolution version of a clean (H, W, 3) uint8 frame.

    H and W must be multiples of `scale`. Grain follows the damage model's seeding, so
    frame `index` of a clip always gets the same grain.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} is not a multiple of {scale}")
    cfg = DamageConfig(downscale=float(scale), keep_size=False, blur=BENCHMARK_BLUR,
                       grain=BENCHMARK_GRAIN, grain_size=BENCHMARK_GRAIN_SIZE)
    return damage_frame(hr, index, cfg, seed).frame


def crop_to_multiple(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % multiple, : w - w % multiple]


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator,
            deg: Degradation = Degradation()) -> np.ndarray:
    """A random low-resolution version of a clean (H, W, 3) float32 crop in [0, 1]."""
    h, w = hr.shape[:2]
    blur = float(rng.uniform(*deg.blur)) if rng.random() < deg.blur_prob else 0.0
    grain = float(rng.uniform(*deg.grain)) if rng.random() < deg.grain_prob else 0.0
    cfg = DamageConfig(downscale=float(scale), keep_size=False, blur=blur, grain=grain,
                       grain_size=float(rng.uniform(*deg.grain_size)))
    src = hr
    if rng.random() < deg.other_kernel_prob:
        kernel = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
        src = cv2.resize(hr, (w // scale, h // scale), interpolation=kernel)
        cfg = cfg.replace(downscale=1.0)
    lr = damage_frame(np.ascontiguousarray(src), int(rng.integers(1 << 30)), cfg,
                      seed=int(rng.integers(1 << 30))).frame
    if rng.random() < deg.jpeg_prob:
        q = int(rng.integers(deg.jpeg_quality[0], deg.jpeg_quality[1] + 1))
        u8 = np.clip(lr * 255.0 + 0.5, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            lr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    return lr


def _to_mono(img: np.ndarray) -> np.ndarray:
    y = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(y[..., None], 3, axis=2)


class PatchSampler:
    """Random (LR, HR) training pairs from a pool of clean images.

    Each group of sources ("stills", "demo", "video") gets a fixed share of the
    patches whatever its number of images (sixty near-identical video frames must not
    outweigh twenty different photographs); within a group, images are drawn in
    proportion to their area. Crops get random flips and 90-degree turns.

    The LR patch carries `context` extra pixels of real picture on every side and the
    HR patch covers only its centre: the loss is taken where the network saw real
    neighbours, as it does inside a frame (at the frame's edges the operator extends
    the picture by reflection), so no capacity is spent on zero-padded borders.
    """

    GROUP_SHARE = {"stills": 0.6, "demo": 0.1, "video": 0.3}

    def __init__(self, images: Sequence[CleanImage], *, scale: int, patch: int,
                 context: int = 0, degradation: Degradation = Degradation(),
                 seed: int = 0) -> None:
        self.context = context
        usable = [im for im in images
                  if min(im.image.shape[:2]) >= (patch + 2 * (4 + context)) * scale]
        if not usable:
            raise ValueError("no training image is large enough for this patch size")
        self.images = [im.image.astype(np.float32) / 255.0 for im in usable]
        groups = [im.group for im in usable]
        share = {g: self.GROUP_SHARE.get(g, 0.1) for g in set(groups)}
        total_share = sum(share.values())
        area = np.array([im.image.shape[0] * im.image.shape[1] for im in usable], float)
        probs = np.zeros(len(usable))
        for g in share:
            idx = [i for i, gi in enumerate(groups) if gi == g]
            probs[idx] = share[g] / total_share * area[idx] / area[idx].sum()
        self.probs = probs / probs.sum()
        self.scale, self.patch, self.degradation = scale, patch, degradation
        self.rng = np.random.default_rng(seed)

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        rng, s, p, c = self.rng, self.scale, self.patch, self.context
        img = self.images[int(rng.choice(len(self.images), p=self.probs))]
        pad = 4 + c  # LR pixels around the patch: 4 so blurs see real neighbours, + context
        size = (p + 2 * pad) * s
        h, w = img.shape[:2]
        y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        hr = img[y:y + size, x:x + size]
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
        if rng.random() < 0.5:
            hr = hr[::-1]
        hr = np.ascontiguousarray(np.rot90(hr, int(rng.integers(4))))
        if rng.random() < self.degradation.mono_prob:
            hr = _to_mono(hr)
        lr = degrade(hr, s, rng, self.degradation)
        lo = pad - c
        return (lr[lo:pad + p + c, lo:pad + p + c],
                hr[pad * s:(pad + p) * s, pad * s:(pad + p) * s])

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 3, p + 2·context, same) LR and (n, 3, p·s, p·s) HR float32 tensors."""
        pairs = [self.pair() for _ in range(n)]
        lr = torch.from_numpy(np.stack([a for a, _ in pairs])).permute(0, 3, 1, 2)
        hr = torch.from_numpy(np.stack([b for _, b in pairs])).permute(0, 3, 1, 2)
        return lr.contiguous(), hr.contiguous()


def fixed_validation_pairs(images: Sequence[CleanImage], scale: int, *, size: int = 96,
                           per_image: int = 4, seed: int = 1234
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed set of (LR, HR) validation crops with the benchmark's degradation."""
    rng = np.random.default_rng(seed)
    lrs, hrs = [], []
    hr_size = size * scale
    for k, im in enumerate(images):
        h, w = im.image.shape[:2]
        for j in range(per_image):
            y, x = int(rng.integers(h - hr_size + 1)), int(rng.integers(w - hr_size + 1))
            hr = np.ascontiguousarray(im.image[y:y + hr_size, x:x + hr_size])
            lr = benchmark_degrade(hr, scale, index=k * per_image + j, seed=seed)
            hrs.append(hr.astype(np.float32) / 255.0)
            lrs.append(lr.astype(np.float32) / 255.0)
    lr_t = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).contiguous()
    hr_t = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).contiguous()
    return lr_t, hr_t
