"""colour_correct: removes casts and fade without flicker or leaking across cuts."""


from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gpu_worker.engine.damage import DamageConfig, degrade_frame
from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.colour_transfer import load_image
from gpu_worker.engine.registry import OpContext
from tests.conftest import media_file


def _make(name: str, ctx: OpContext | None = None, **params):  # type: ignore[no-untyped-def]
    cls = get_operator(name)
    return cls(cls.validate_params(params), ctx or OpContext())


def _one(op, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return op.process(x, torch.arange(x.shape[0])[:, None], torch.arange(x.shape[0]))


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def _photo(name: str, step: int = 2) -> np.ndarray:
    return load_image(media_file(f"clean/{name}.png"))[::step, ::step]


def _faded_grade(img: np.ndarray) -> np.ndarray:
    """A known, non-linear 'faded print' mapping: channel crosstalk, raised blacks and a
    different gamma per channel."""
    mix = np.array([[0.80, 0.12, 0.03], [0.06, 0.78, 0.06], [0.02, 0.14, 0.60]])
    out = img.reshape(-1, 3) @ mix.T + np.array([0.07, 0.05, 0.03])
    out = np.clip(out, 0, 1) ** np.array([1.0, 1.15, 0.85])
    return out.reshape(img.shape).astype(np.float32)


def _save(path: Path, img: np.ndarray) -> None:
    # 16-bit PNG so the test measures the fit, not 8-bit rounding.
    cv2.imwrite(str(path), (np.clip(img, 0, 1)[..., ::-1] * 65535 + 0.5).astype(np.uint16))


# -- colour_transfer ----------------------------------------------------------------
def test_correct_removes_a_cast_and_fade() -> None:
    clean = _photo("astronaut", 4)
    op = _make("colour_correct", temporal_radius=0)
    for cast in ("yellow", "cyan", "sepia"):
        damaged = degrade_frame((clean * 255).astype(np.uint8), 0,
                                DamageConfig(fade=0.3, cast=cast, cast_strength=0.4))
        x = _tensor(damaged.astype(np.float32) / 255)
        out = _one(op, x)
        assert psnr(out, _tensor(clean)) > psnr(x, _tensor(clean)) + 2.5, cast

        def cast_size(t: torch.Tensor) -> float:
            # The clean photo has neutral black and white points; a cast tints them.
            q = torch.quantile(t.flatten(2)[0], torch.tensor([0.01, 0.99]), dim=1)  # (2, 3)
            return float((q.amax(dim=1) - q.amin(dim=1)).max())

        assert cast_size(out) < 0.6 * cast_size(x), cast  # default: 70% of the cast
        full = _one(_make("colour_correct", temporal_radius=0, white_balance=1.0), x)
        assert cast_size(full) < 0.3 * cast_size(x), cast


def test_correct_leaves_black_and_white_footage_grey() -> None:
    grey = _photo("astronaut", 4).mean(axis=2, keepdims=True).repeat(3, axis=2)
    faded = 0.15 + 0.6 * grey
    out = _one(_make("colour_correct", temporal_radius=0, saturation=1.0, contrast=1.0),
               _tensor(faded))
    assert (out.amax(dim=1) - out.amin(dim=1)).max() < 1e-5
    assert float(out.max() - out.min()) > 0.95  # and the fade was stretched


def _flashing_clip() -> tuple[torch.Tensor, np.ndarray]:
    """A steady shot with a bright coloured object coming and going every other frame:
    per-frame statistics jump, the scene does not."""
    base = degrade_frame((_photo("coffee", 4) * 255).astype(np.uint8), 0,
                         DamageConfig(fade=0.3, cast="cyan", cast_strength=0.4))
    frames, region = [], np.zeros(base.shape[:2], bool)
    region[:, : base.shape[1] // 2] = True  # the untouched half we watch
    for i in range(9):
        f = base.astype(np.float32) / 255
        if i % 2:
            f = f.copy()
            f[:, base.shape[1] // 2:] = (1.0, 0.9, 0.1)
        frames.append(f)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(), region


def test_correct_is_temporally_stable() -> None:
    frames, region = _flashing_clip()
    n, r = frames.shape[0], 4
    win = torch.tensor([[min(max(i + k, 0), n - 1) for k in range(-r, r + 1)]
                        for i in range(n)])

    def flicker(out: torch.Tensor) -> float:
        means = out[:, :, torch.from_numpy(region)].mean(dim=2)  # (N, 3)
        return float((means[1:] - means[:-1]).abs().max())

    per_frame = _make("colour_correct", temporal_radius=0)
    windowed = _make("colour_correct", temporal_radius=r)
    f0 = flicker(per_frame.process(frames, win[:, r:r + 1], torch.arange(n)))
    f4 = flicker(windowed.process(frames, win, torch.arange(n)))
    assert f0 > 0.02  # the per-frame correction does pump
    assert f4 < 0.35 * f0


def test_correct_never_mixes_shots() -> None:
    a = _tensor(degrade_frame((_photo("coffee", 4) * 255).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="yellow", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = _tensor(degrade_frame((_photo("chelsea", 4)[: a.shape[2], : a.shape[3]] * 255
                               ).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="cyan", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = torch.nn.functional.pad(b, (0, a.shape[3] - b.shape[3], 0, a.shape[2] - b.shape[2]))
    frames = torch.cat([a, a, b, b])  # cut between frame 1 and 2
    op = _make("colour_correct", temporal_radius=2)
    # Last frame of shot A: the pipeline repeats frame 1 in place of 2 and 3.
    at_cut = op.process(frames, torch.tensor([[0, 0, 1, 1, 1]]), torch.tensor([1]))
    alone = op.process(frames[:1], torch.zeros(1, 5, dtype=torch.long), torch.tensor([1]))
    assert torch.allclose(at_cut, alone, atol=1e-5)


# -- colour_scheme -------------------------------------------------------------------


def test_stretch_lands_on_the_requested_black_and_white_points() -> None:
    # A neutral ramp faded to [0.3, 0.7]: a full stretch puts its 0.5 % / 99.5 % points
    # on black_point / white_point, not on the bare extremes.
    ramp = np.tile(np.linspace(0.3, 0.7, 256, dtype=np.float32), (64, 1))
    x = _tensor(np.repeat(ramp[..., None], 3, axis=2))
    full = _one(_make("colour_correct", contrast=1.0, white_balance=0.0, saturation=0.0), x)
    natural = _one(_make("colour_correct", contrast=1.0, white_balance=0.0, saturation=0.0,
                         black_point=0.03, white_point=0.96), x)
    q = torch.tensor([0.005, 0.995])
    lo, hi = torch.quantile(full.flatten(), q)
    assert abs(float(lo)) < 0.01 and abs(float(hi) - 1.0) < 0.01
    lo, hi = torch.quantile(natural.flatten(), q)
    assert abs(float(lo) - 0.03) < 0.01 and abs(float(hi) - 0.96) < 0.01
    # Half the stretch lands half-way between the faded and the requested points.
    half = _one(_make("colour_correct", contrast=0.5, white_balance=0.0, saturation=0.0,
                      black_point=0.03, white_point=0.96), x)
    lo, hi = torch.quantile(half.flatten(), q)
    assert abs(float(lo) - (0.302 + 0.03) / 2) < 0.01 and abs(float(hi) - (0.698 + 0.96) / 2) < 0.01
