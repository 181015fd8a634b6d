"""Running one engine operator in a test the way the pipeline runs it, and the small
pictures the operator tests share.

The pipeline hands an operator a batch of frames with, for every output frame, the
indices of its temporal window, clamped at the clip's ends and at scene cuts
(`run_in_windows`). Tests of per-frame maths use `run_per_frame` (a window of one).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gpu_worker.engine.damage import DamageConfig, damage_stream
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.colour_transfer import load_image
from gpu_worker.engine.registry import OpContext, Operator
from tests.conftest import media_file


def make_operator(name: str, ctx: OpContext | None = None, **params: object) -> Operator:
    """The operator `name` with `params` validated as a spec's would be."""
    cls = get_operator(name)
    return cls(cls.validate_params(params), ctx or OpContext())


def run_per_frame(op: Operator, frames: torch.Tensor) -> torch.Tensor:
    """Each frame on its own: a window of one, whatever the operator's radius."""
    n = frames.shape[0]
    return op.process(frames, torch.arange(n)[:, None], torch.arange(n))


def run_in_windows(op: Operator, frames: torch.Tensor, cuts: tuple[int, ...] = ()) -> torch.Tensor:
    """Every frame with its neighbours within the operator's radius, clamped at the ends
    and at the scene cuts (first frames of new scenes) as the pipeline clamps them."""
    n, radius = len(frames), op.temporal_radius()
    starts = [0, *cuts, n]
    rows = []
    for i in range(n):
        scene_start = max(c for c in starts[:-1] if c <= i)
        scene_end = min(c for c in starts[1:] if c > i)
        rows.append([min(max(i + k, scene_start), scene_end - 1) for k in range(-radius, radius + 1)])
    return op.process(frames, torch.tensor(rows), torch.arange(n))


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """An HxWx3 RGB picture as a 1x3xHxW float batch in 0..1 (uint8 is scaled)."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    return t / 255.0 if img.dtype == np.uint8 else t


def to_u8(frame: torch.Tensor) -> np.ndarray:
    """A 3xHxW float frame as an HxWx3 uint8 picture."""
    return (frame.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def clean_photo(name: str, step: int = 2) -> np.ndarray:
    """A clean still from the shared media as float RGB, every `step`-th pixel."""
    return load_image(media_file(f"clean/{name}.png"))[::step, ::step]


def clean_photo_u8(file_name: str = "coffee.png") -> np.ndarray:
    """A clean still from the shared media as uint8 RGB at full size."""
    img = cv2.imread(str(media_file(f"clean/{file_name}")), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[..., ::-1])


def faded_grade(img: np.ndarray) -> np.ndarray:
    """A known, non-linear 'faded print' mapping: channel crosstalk, raised blacks and a
    different gamma per channel."""
    mix = np.array([[0.80, 0.12, 0.03], [0.06, 0.78, 0.06], [0.02, 0.14, 0.60]])
    out = img.reshape(-1, 3) @ mix.T + np.array([0.07, 0.05, 0.03])
    out = np.clip(out, 0, 1) ** np.array([1.0, 1.15, 0.85])
    return out.reshape(img.shape).astype(np.float32)


def save_png16(path: Path, img: np.ndarray) -> None:
    # 16-bit PNG so a test measures the fit, not 8-bit rounding.
    cv2.imwrite(str(path), (np.clip(img, 0, 1)[..., ::-1] * 65535 + 0.5).astype(np.uint16))


def drifting_texture(n: int = 4, h: int = 96, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    """Smooth grey texture drifting one pixel a frame: real content for line detectors."""
    rng = np.random.default_rng(seed)
    g = cv2.GaussianBlur(rng.random((h, w + 8)).astype(np.float32), (0, 0), 4)
    g = 0.2 + 0.6 * (g - g.min()) / (g.max() - g.min())
    return [(np.stack([g[:, t:t + w]] * 3, -1) * 255).astype(np.uint8) for t in range(n)]


def scratched(clean: list[np.ndarray], seed: int = 1) -> list:  # list[DamagedFrame]
    """`clean` with drifting vertical scratches and a little grain (damage model)."""
    cfg = DamageConfig(scratches=40, scratch_max_frames=24, grain=0.005)
    return list(damage_stream(clean, cfg, seed=seed))
