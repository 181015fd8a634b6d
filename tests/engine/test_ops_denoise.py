"""denoise: noise estimation, PSNR gain over spatial-only filtering on real footage with
synthetic grain + noise, no ghosting of moving objects, nothing across scene cuts."""

from __future__ import annotations

import glob
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine.damage import DamageConfig, degrade_frame
from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.ops import denoise as denoise_module
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.denoise import denoise_windows, estimate_noise
from gpu_worker.engine.registry import OpContext
from tests.conftest import media_file

R = 2  # temporal radius used throughout


def _cockatoo(n: int, start: int, crop: tuple[int, int, int, int]) -> list[np.ndarray]:
    y0, x0, h, w = crop
    out = []
    with av.open(str(media_file("clean/cockatoo_720p.mp4"))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                out.append(frame.to_ndarray(format="rgb24")[y0:y0 + h, x0:x0 + w].copy())
            if len(out) == n:
                break
    return out


def _sintel(n: int, crop: tuple[int, int, int, int]) -> list[np.ndarray]:
    media_file("clean/sintel_frames/frame_0016.png")
    folder = Path(media_file("clean/sintel_frames/frame_0016.png")).parent
    y0, x0, h, w = crop
    paths = sorted(glob.glob(str(folder / "frame_*.png")))[:n]
    return [cv2.imread(p)[y0:y0 + h, x0:x0 + w, ::-1].copy() for p in paths]


def _degrade(clean: list[np.ndarray], noise: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """Film grain from the damage model plus white sensor noise, seeded."""
    cfg = DamageConfig(grain=0.03, grain_size=0.8)
    rng = np.random.default_rng(7)
    noisy = [np.clip(degrade_frame(c, i, cfg, seed=3).astype(np.float32) / 255.0
                     + rng.normal(0.0, noise, c.shape), 0.0, 1.0) for i, c in enumerate(clean)]

    def stack(frames: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().contiguous()

    return stack([c.astype(np.float32) / 255.0 for c in clean]), stack(noisy)


def _windows(n: int, r: int = R, centres: range | None = None) -> torch.Tensor:
    centres = centres if centres is not None else range(r, n - r)
    return torch.tensor([[min(max(i + k, 0), n - 1) for k in range(-r, r + 1)]
                         for i in centres])


def test_noise_estimate_on_a_real_photo() -> None:
    img = cv2.imread(str(media_file("clean/coffee.png")))[..., ::-1].astype(np.float32) / 255
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None]
    gen = torch.Generator().manual_seed(1)
    flat = torch.full((1, 3, 256, 256), 0.5)
    for sigma in (0.005, 0.02, 0.05):
        est = float(estimate_noise(flat + sigma * torch.randn(flat.shape, generator=gen))[0])
        assert abs(est - sigma) / sigma < 0.05, (sigma, est)
    # On a real photo, texture and the photo's own noise read as a little extra noise
    # (`own`), never as less than what was added, and the texture is not mistaken for
    # strong noise.
    own = float(estimate_noise(x)[0])
    assert own < 0.012
    for sigma in (0.01, 0.03):
        est = float(estimate_noise(x + sigma * torch.randn(x.shape, generator=gen))[0])
        assert sigma <= est <= sigma + own, (sigma, est, own)


@pytest.mark.parametrize("source", ["cockatoo", "sintel"])
def test_temporal_denoise_beats_spatial_only(source: str) -> None:
    if source == "cockatoo":
        clean_frames = _cockatoo(5, 0, (200, 420, 128, 192))
    else:
        clean_frames = _sintel(5, (120, 320, 128, 192))
    clean, noisy = _degrade(clean_frames)
    win = _windows(len(clean_frames))
    centres = win[:, R]
    ours = denoise_windows(noisy, win)
    spatial_only = denoise_windows(noisy, win[:, R:R + 1])
    gauss = torch.from_numpy(np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in
                                       noisy.permute(0, 2, 3, 1).numpy()]))
    bilateral = torch.from_numpy(np.stack([cv2.bilateralFilter(f, 7, 0.1, 2.0) for f in
                                           noisy.permute(0, 2, 3, 1).numpy()]))
    ref = clean[centres]
    p_noisy = psnr(noisy[centres], ref)
    p_ours = psnr(ours, ref)
    p_spatial = psnr(spatial_only, ref)
    p_gauss = psnr(gauss[centres].permute(0, 3, 1, 2), ref)
    p_bilateral = psnr(bilateral[centres].permute(0, 3, 1, 2), ref)
    assert p_ours > p_noisy + 2.0
    assert p_ours > max(p_gauss, p_bilateral) + 0.3, (p_ours, p_gauss, p_bilateral)
    if source == "cockatoo":
        # Real camera footage: the temporal stage adds a lot on top of the same
        # spatial filter.
        assert p_ours > p_spatial + 1.0, (p_ours, p_spatial)
    else:
        # Sintel's action shot moves almost everywhere, so neighbours are mostly
        # rejected: the result must then be no worse than spatial-only (no ghosts).
        assert p_ours > p_spatial - 0.1, (p_ours, p_spatial)


def _moving_square_clip(n: int = 5, step: int = 8) -> tuple[torch.Tensor, torch.Tensor,
                                                               torch.Tensor]:
    """A textured patch from one photo sliding over another photo, plus noise."""
    bg = cv2.imread(str(media_file("clean/chelsea.png")))[..., ::-1]
    fg = cv2.imread(str(media_file("clean/coffee.png")))[..., ::-1]
    bg = bg[50:146, 100:260].astype(np.float32) / 255
    patch = fg[150:182, 250:282].astype(np.float32) / 255
    frames, masks = [], []
    for i in range(n):
        f = bg.copy()
        x0 = 20 + i * step
        f[32:64, x0:x0 + 32] = patch
        m = np.zeros(f.shape[:2], bool)
        m[32:64, x0:x0 + 32] = True
        frames.append(f)
        masks.append(m)
    clean = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
    gen = torch.Generator().manual_seed(5)
    noisy = (clean + 0.03 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    return clean, noisy, torch.from_numpy(np.stack(masks))


def test_moving_object_is_not_ghosted() -> None:
    clean, noisy, masks = _moving_square_clip()
    win = _windows(5, centres=range(2, 3))
    c = 2
    # Where the patch is in some neighbour but not in the centre frame: a blending
    # denoiser leaves a ghost of the patch there.
    ghost = masks.any(dim=0) & ~masks[c]
    ours = denoise_windows(noisy, win)
    spatial_only = denoise_windows(noisy, win[:, R:R + 1])
    naive = noisy[win[0]].mean(dim=0, keepdim=True)
    ref = clean[c:c + 1]
    p_ours = psnr(ours, ref, mask=ghost)
    p_spatial = psnr(spatial_only, ref, mask=ghost)
    p_naive = psnr(naive, ref, mask=ghost)
    assert p_naive < 25  # the naive average does ghost here
    assert p_ours > p_naive + 8
    assert p_ours > p_spatial - 0.5
    # Inside the moving patch too, detail survives as well as with spatial-only.
    assert psnr(ours, ref, mask=masks[c]) > psnr(spatial_only, ref, mask=masks[c]) - 0.5


def test_window_clamped_at_a_cut_uses_no_other_frames() -> None:
    # A window made of the centre frame repeated (what the pipeline gives at a cut)
    # must give exactly the spatial-only result: nothing leaks from other shots.
    _, noisy, _ = _moving_square_clip()
    clamped = torch.full((1, 2 * R + 1), 2, dtype=torch.long)
    alone = denoise_windows(noisy, clamped[:, R:R + 1])
    assert torch.allclose(denoise_windows(noisy, clamped), alone, atol=1e-6)
    # Half-clamped: the frames after the cut (3, 4) are replaced by the centre frame,
    # so changing them must not change the result.
    half = torch.tensor([[0, 1, 2, 2, 2]])
    other = noisy.clone()
    other[3:] = torch.rand_like(other[3:])
    assert torch.equal(denoise_windows(noisy, half), denoise_windows(other, half))


def test_operator_contract_and_batching() -> None:
    cls = get_operator("denoise")
    op = cls(cls.validate_params({"temporal_radius": 2}), OpContext())
    assert op.temporal_radius() == 2
    assert cls(cls.validate_params({"strength": 0.0}), OpContext()).temporal_radius() == 0
    _, noisy, _ = _moving_square_clip()
    win = _windows(5, centres=range(2, 5))  # the last two windows are clamped at the end
    out = op.process(noisy, win, torch.arange(2, 5))
    assert out.shape == (3, *noisy.shape[1:]) and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    # Each output depends on its own window only, not on what else is in the batch.
    one = op.process(noisy, win[1:2], torch.tensor([3]))
    assert torch.allclose(out[1:2], one, atol=1e-5)


def test_manual_noise_level_and_detail() -> None:
    clean, noisy, _ = _moving_square_clip()
    win = _windows(5, centres=range(2, 3))
    auto = denoise_windows(noisy, win)
    manual = denoise_windows(noisy, win, noise_level=0.03)
    ref = clean[2:3]
    assert abs(psnr(auto, ref) - psnr(manual, ref)) < 1.0  # the estimate is about right
    tiny = denoise_windows(noisy, win, noise_level=0.002)  # told there is almost no noise
    assert psnr(tiny, ref) < psnr(manual, ref) - 3
    half = denoise_windows(noisy, win, detail=0.5)
    assert torch.allclose(half, (auto + 0.5 * (noisy[2:3] - auto)).clamp(0, 1), atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 3, 1, 40), (3, 3, 2, 2), (3, 3, 24, 24)])
def test_noise_free_and_tiny_frames(shape: tuple[int, ...]) -> None:
    # A noise-free flat clip (estimated sigma 0) and slivers thinner than the filters
    # must come back unchanged and finite, not NaN.
    win = _windows(3, centres=range(3))
    flat = torch.full(shape, 0.25)
    assert torch.allclose(denoise_windows(flat, win), flat, atol=1e-6)
    gen = torch.Generator().manual_seed(2)
    rnd = torch.rand(shape, generator=gen)
    out = denoise_windows(rnd, win)
    assert out.shape == rnd.shape and bool(torch.isfinite(out).all())


def test_motion_compensation_cleans_a_panning_shot() -> None:
    # A photo panned 3 px a frame under coarse film grain: unaligned neighbours differ
    # everywhere there is texture and are mostly rejected; aligned ones average.
    img = cv2.imread(str(media_file("clean/chelsea.png")))[..., ::-1]
    cfg = DamageConfig(grain=0.03, grain_size=1.0)
    clean_frames = [np.ascontiguousarray(img[40:200, 40 + 3 * t:260 + 3 * t]) for t in range(5)]
    clean = torch.from_numpy(np.stack(clean_frames)).permute(0, 3, 1, 2).float() / 255
    noisy = torch.from_numpy(np.stack([degrade_frame(f, i, cfg, seed=9) for i, f in
                                       enumerate(clean_frames)])).permute(0, 3, 1, 2).float() / 255
    win = _windows(5, centres=range(2, 3))
    ref = clean[2:3]
    aligned = denoise_windows(noisy, win)
    unaligned = denoise_windows(noisy, win, align=False)
    p_noisy, p_al, p_un = psnr(noisy[2:3], ref), psnr(aligned, ref), psnr(unaligned, ref)
    assert p_al > p_un + 1.0, (p_al, p_un)
    assert p_al > p_noisy + 2.5, (p_al, p_noisy)


@pytest.mark.parametrize(("search", "patch"), [(3, 2), (2, 1)])
def test_cpu_and_torch_non_local_means_agree(search: int, patch: int) -> None:
    # The CPU runs an OpenCV/numpy copy of the torch kernel GPUs run; both must give
    # the same picture (the noise map varies per pixel, as the operator's does).
    rng = np.random.default_rng(4)
    clean = cv2.resize(cv2.imread(str(media_file("clean/astronaut.png")))[:, :, ::-1],
                       (96, 80), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    noisy = np.clip(clean + rng.normal(0, 0.04, clean.shape), 0, 1).astype(np.float32)
    x = torch.from_numpy(np.stack([noisy, clean])).permute(0, 3, 1, 2).contiguous()
    noise_var = torch.from_numpy(rng.uniform(0.5, 1.5, (2, 1, 80, 96)).astype(np.float32)) * 0.04**2
    cpu = denoise_module.nl_means(x, noise_var, h=0.6, search=search, patch=patch)
    reference = denoise_module._nl_means_torch(x, noise_var, 0.6, search, patch)
    assert torch.allclose(cpu, reference, atol=1e-5), float((cpu - reference).abs().max())
    assert psnr(cpu[0].permute(1, 2, 0).numpy(), clean) > psnr(noisy, clean) + 1  # it denoised
