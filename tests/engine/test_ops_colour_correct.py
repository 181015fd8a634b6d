"""colour_correct: removes casts and fade without flicker or leaking across cuts."""


from __future__ import annotations

import numpy as np
import torch

from gpu_worker.engine.damage import DamageConfig, degrade_frame
from gpu_worker.engine.metrics import psnr
from tests.engine.operator_harness import clean_photo, make_operator, run_per_frame, to_tensor


# -- colour_transfer ----------------------------------------------------------------
def test_correct_removes_a_cast_and_fade() -> None:
    clean = clean_photo("astronaut", 4)
    op = make_operator("colour_correct", temporal_radius=0)
    for cast in ("yellow", "cyan", "sepia"):
        damaged = degrade_frame((clean * 255).astype(np.uint8), 0,
                                DamageConfig(fade=0.3, cast=cast, cast_strength=0.4))
        x = to_tensor(damaged.astype(np.float32) / 255)
        out = run_per_frame(op, x)
        assert psnr(out, to_tensor(clean)) > psnr(x, to_tensor(clean)) + 2.5, cast

        def cast_size(t: torch.Tensor) -> float:
            # The clean photo has neutral black and white points; a cast tints them.
            q = torch.quantile(t.flatten(2)[0], torch.tensor([0.01, 0.99]), dim=1)  # (2, 3)
            return float((q.amax(dim=1) - q.amin(dim=1)).max())

        assert cast_size(out) < 0.6 * cast_size(x), cast  # default: 70% of the cast
        full = run_per_frame(make_operator("colour_correct", temporal_radius=0, white_balance=1.0), x)
        assert cast_size(full) < 0.3 * cast_size(x), cast


def test_correct_leaves_black_and_white_footage_grey() -> None:
    grey = clean_photo("astronaut", 4).mean(axis=2, keepdims=True).repeat(3, axis=2)
    faded = 0.15 + 0.6 * grey
    out = run_per_frame(make_operator("colour_correct", temporal_radius=0, saturation=1.0, contrast=1.0),
               to_tensor(faded))
    assert (out.amax(dim=1) - out.amin(dim=1)).max() < 1e-5
    assert float(out.max() - out.min()) > 0.95  # and the fade was stretched


def _flashing_clip() -> tuple[torch.Tensor, np.ndarray]:
    """A steady shot with a bright coloured object coming and going every other frame:
    per-frame statistics jump, the scene does not."""
    base = degrade_frame((clean_photo("coffee", 4) * 255).astype(np.uint8), 0,
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

    per_frame = make_operator("colour_correct", temporal_radius=0)
    windowed = make_operator("colour_correct", temporal_radius=r)
    f0 = flicker(per_frame.process(frames, win[:, r:r + 1], torch.arange(n)))
    f4 = flicker(windowed.process(frames, win, torch.arange(n)))
    assert f0 > 0.02  # the per-frame correction does pump
    assert f4 < 0.35 * f0


def test_correct_never_mixes_shots() -> None:
    a = to_tensor(degrade_frame((clean_photo("coffee", 4) * 255).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="yellow", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = to_tensor(degrade_frame((clean_photo("chelsea", 4)[: a.shape[2], : a.shape[3]] * 255
                               ).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="cyan", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = torch.nn.functional.pad(b, (0, a.shape[3] - b.shape[3], 0, a.shape[2] - b.shape[2]))
    frames = torch.cat([a, a, b, b])  # cut between frame 1 and 2
    op = make_operator("colour_correct", temporal_radius=2)
    # Last frame of shot A: the pipeline repeats frame 1 in place of 2 and 3.
    at_cut = op.process(frames, torch.tensor([[0, 0, 1, 1, 1]]), torch.tensor([1]))
    alone = op.process(frames[:1], torch.zeros(1, 5, dtype=torch.long), torch.tensor([1]))
    assert torch.allclose(at_cut, alone, atol=1e-5)


# -- colour_scheme -------------------------------------------------------------------


def test_stretch_lands_on_the_requested_black_and_white_points() -> None:
    # A neutral ramp faded to [0.3, 0.7]: a full stretch puts its 0.5 % / 99.5 % points
    # on black_point / white_point, not on the bare extremes.
    ramp = np.tile(np.linspace(0.3, 0.7, 256, dtype=np.float32), (64, 1))
    x = to_tensor(np.repeat(ramp[..., None], 3, axis=2))
    full = run_per_frame(make_operator("colour_correct", contrast=1.0, white_balance=0.0, saturation=0.0), x)
    natural = run_per_frame(make_operator("colour_correct", contrast=1.0, white_balance=0.0, saturation=0.0,
                         black_point=0.03, white_point=0.96), x)
    q = torch.tensor([0.005, 0.995])
    lo, hi = torch.quantile(full.flatten(), q)
    assert abs(float(lo)) < 0.01 and abs(float(hi) - 1.0) < 0.01
    lo, hi = torch.quantile(natural.flatten(), q)
    assert abs(float(lo) - 0.03) < 0.01 and abs(float(hi) - 0.96) < 0.01
    # Half the stretch lands half-way between the faded and the requested points.
    half = run_per_frame(make_operator("colour_correct", contrast=0.5, white_balance=0.0, saturation=0.0,
                      black_point=0.03, white_point=0.96), x)
    lo, hi = torch.quantile(half.flatten(), q)
    assert abs(float(lo) - (0.302 + 0.03) / 2) < 0.01 and abs(float(hi) - (0.698 + 0.96) / 2) < 0.01
