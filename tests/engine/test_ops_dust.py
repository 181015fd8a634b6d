"""dust: temporal, motion-compensated one-frame defect removal."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics as M
from gpu_worker.engine.damage import DamageConfig, damage_stream
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import dust as dust_op
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, SpecError
from tests.conftest import media_file
from tests.engine.operator_harness import make_operator, run_in_windows


def _run(frames: torch.Tensor, cuts: tuple[int, ...] = (), **params: object) -> torch.Tensor:
    """Apply `dust` to a short clip the way the pipeline does: windows clamped at cuts."""
    return run_in_windows(make_operator("dust", OpContext(seed=0), **params), frames, cuts)


def _moving_scene(n: int = 5, h: int = 96, w: int = 128) -> list[np.ndarray]:
    """Textured content panning 2 px per frame: the neighbours only agree once motion
    is compensated, so this tests the flow as well as the detector."""
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.random((h, w + 4 * n)).astype(np.float32), (0, 0), 3)
    big = (big - big.min()) / (big.max() - big.min())
    out = []
    for t in range(n):
        g = big[:, 2 * t: 2 * t + w]
        out.append((np.stack([g, g * 0.9, g * 0.8], -1) * 255).astype(np.uint8))
    return out


def test_schema() -> None:
    cls = get_operator("dust")
    names = [p.name for p in cls.params]
    assert names == ["sensitivity", "max_size", "search", "grow"]
    with pytest.raises(SpecError):
        cls.validate_params({"max_size": 1000})
    assert cls(cls.validate_params({"search": 2}), OpContext()).temporal_radius() == 2


def test_removes_synthetic_dust_on_moving_content() -> None:
    clean = _moving_scene()
    damaged = list(damage_stream(clean, DamageConfig(dust=3000, dust_size=2.5), seed=3))
    x = M.to_tensor(np.stack([d.frame for d in damaged]))
    y = _run(x)
    mid = 2
    gt = damaged[mid].dust
    before = M.psnr(x[mid], clean[mid], mask=gt)
    after = M.psnr(y[mid], clean[mid], mask=gt)
    assert after > before + 10
    assert M.psnr(y[mid], clean[mid]) > M.psnr(x[mid], clean[mid]) + 5


def test_clean_moving_content_is_left_alone() -> None:
    clean = _moving_scene()
    x = M.to_tensor(np.stack(clean))
    y = _run(x)
    assert M.psnr(y[2], x[2]) > 45


def _marking_on_plain_subject(step: int, h: int = 180, w: int = 320) -> list[np.ndarray]:
    """Three frames: a textured background, a plain grey subject over most of it, and
    a small dark marking on the subject moving `step` px per frame. The flow sees the
    plain subject standing still and misses the marking's motion, so both warped
    neighbours show plain subject where the marking is and agree: the marking passes
    the one-frame test, like a spot of a walking animal's coat."""
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    bg = 0.6 + 0.3 * (bg - bg.min()) / (bg.max() - bg.min())
    bg[40:140, 40:280] = 0.45
    mark = cv2.GaussianBlur(rng.random((10, 12)).astype(np.float32), (0, 0), 1.0)
    mark = 0.1 + 0.15 * (mark - mark.min()) / (mark.max() - mark.min())
    out = []
    for t in (-1, 0, 1):
        g = bg.copy()
        g[85:95, 120 + step * t: 132 + step * t] = mark
        out.append((np.stack([g, g, g], -1) * 255).astype(np.uint8))
    return out


@pytest.mark.parametrize("step", [30, 45])
def test_content_the_flow_missed_is_left_alone(step: int) -> None:
    x = M.to_tensor(np.stack(_marking_on_plain_subject(step)))
    op = make_operator("dust", OpContext(seed=0))
    # Without the checks the marking is taken for dirt and painted over with subject.
    y_old, m_old = op.repair(x[1:2], x[0:1], x[2:3], confirm=False)
    assert int(m_old[0, 0, 85:95, 120:132].sum()) > 60
    assert M.psnr(y_old[0], x[1]) < 45
    # It is found, displaced, in the neighbours: content, left as it is.
    y, mask = op.repair(x[1:2], x[0:1], x[2:3])
    assert not mask.any()
    assert torch.equal(y[0], x[1])
    assert torch.equal(_run(x)[1], x[1])  # through process(), as the pipeline runs it


def test_dust_on_fast_moving_content_is_still_removed() -> None:
    # A textured scene panning 8 px per frame (flow must follow it) with the damage
    # model's dust and grain: every speck is on one frame only, so the checks that
    # spare moving content must not spare it.
    rng = np.random.default_rng(1)
    big = cv2.GaussianBlur(rng.random((180, 320 + 40)).astype(np.float32), (0, 0), 3)
    big = (big - big.min()) / (big.max() - big.min())
    clean = [(np.stack([g, g * 0.9, g * 0.8], -1) * 255).astype(np.uint8)
             for g in (big[:, 8 * t: 8 * t + 320] for t in range(3))]
    damaged = list(damage_stream(clean, DamageConfig(dust=1500, dust_size=2.5, grain=0.02), seed=7))
    x = M.to_tensor(np.stack([d.frame for d in damaged]))
    op = make_operator("dust", OpContext(seed=0))
    gt = damaged[1].dust
    y_old, m_old = op.repair(x[1:2], x[0:1], x[2:3], confirm=False)
    y, mask = op.repair(x[1:2], x[0:1], x[2:3])
    n, labels = cv2.connectedComponents(gt.astype(np.uint8))
    found = len(set(np.unique(labels[mask[0, 0].numpy()])) - {0})
    found_old = len(set(np.unique(labels[m_old[0, 0].numpy()])) - {0})
    assert n - 1 >= 20
    assert found >= 0.9 * (n - 1) and found >= found_old - 1, (found, found_old, n - 1)
    before = M.psnr(x[1], clean[1], mask=gt)
    assert M.psnr(y[0], clean[1], mask=gt) > before + 10


def test_fill_mask_grows_round() -> None:
    mask = torch.zeros(1, 1, 20, 20, dtype=torch.bool)
    mask[0, 0, 10, 10] = True
    disc = dust_op._grow(mask, 2)[0, 0]
    # A disc of radius 2.5: the 5x5 square without its four corners.
    assert int(disc.sum()) == 21 and not disc[8, 8] and disc[8, 9] and disc[10, 8]
    assert int(dust_op._grow(mask, 2, round_kernel=False).sum()) == 25
    assert int(dust_op._grow(mask, 1).sum()) == 9  # at one pixel, the 3x3 square


def test_repeated_frames_use_the_next_distinct_frame() -> None:
    # Each film frame appears twice, dust included (a telecine repeat); the nearest
    # neighbour of the first copy is its repeat, which hides the dust.
    clean = _moving_scene(4)
    damaged = list(damage_stream(clean, DamageConfig(dust=3000, dust_size=2.5), seed=5))
    doubled = list(itertools.chain.from_iterable((d, d) for d in damaged))
    x = M.to_tensor(np.stack([d.frame for d in doubled]))
    t = 2  # first copy of film frame 1
    gt = doubled[t].dust
    y2 = _run(x, search=2)
    y1 = _run(x, search=1)
    fixed = M.psnr(y2[t], clean[1], mask=gt)
    assert fixed > M.psnr(x[t], clean[1], mask=gt) + 10
    assert M.psnr(y1[t], x[t]) > 60  # with search=1 only the repeat is seen: untouched


def test_frame_next_to_a_scene_cut_is_not_touched() -> None:
    clean = _moving_scene()
    damaged = [d.frame for d in damage_stream(clean, DamageConfig(dust=3000), seed=1)]
    x = M.to_tensor(np.stack(damaged))
    y = _run(x, cuts=(3,))
    # Frame 2 ends its shot: one side only, so it cannot be judged and stays as is.
    assert torch.equal(y[2], x[2])
    assert not torch.equal(y[1], x[1])


@pytest.mark.media
def test_cockatoo_ground_truth_psnr_gain() -> None:
    path = media_file("clean/cockatoo_720p.mp4")
    clean = [cv2.resize(f, (256, 144), interpolation=cv2.INTER_AREA)
             for f in read_frames(path, end=5)]
    cfg = DamageConfig(dust=1500, blotches=0.5, blotch_size=6, grain=0.01)
    damaged = list(damage_stream(clean, cfg, seed=1))
    x = M.to_tensor(np.stack([d.frame for d in damaged]))
    y = _run(x)
    gains = [M.psnr(y[i], clean[i]) - M.psnr(x[i], clean[i]) for i in (1, 2, 3)]
    assert min(gains) > 6, gains


@pytest.mark.media
def test_real_film_dust_is_removed_and_the_animal_left_alone() -> None:
    # Muybridge's buffalo: every frame is shown twice, each film frame is a separate
    # photograph, and the animal moves further than the flow follows.
    path = media_file("old_film/muybridge_buffalo.mp4")
    frames = [cv2.resize(f, (200, 150), interpolation=cv2.INTER_AREA)
              for f in read_frames(path, end=14)]
    x = M.to_tensor(np.stack(frames))
    to_np = lambda t: (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # noqa: E731
    diffs = [0.0] + [float(np.abs(M.gray(frames[i]) - M.gray(frames[i - 1])).mean())
                     for i in range(1, len(frames))]
    keep = [i for i, rep in enumerate(M.repeat_flags(diffs)) if not rep]
    triples = list(zip(keep, keep[1:], keep[2:], strict=False))
    # 1. Its own dust: the one-frame spike count drops. (The count also takes in the
    # animal's parts the flow missed, which are now left alone, so it does not halve.)
    y = _run(x, search=2)
    before = sum(M.dust_count(frames[a], frames[b], frames[c]) for a, b, c in triples)
    after = sum(M.dust_count(to_np(y[a]), to_np(y[b]), to_np(y[c])) for a, b, c in triples)
    assert before >= 10
    assert after < 0.9 * before, (before, after)
    # 2. Known dust on this film (the damage model's specks, on distinct frames):
    # nearly all of it is removed.
    damaged = list(damage_stream(frames, DamageConfig(dust=1500, dust_size=2.5), seed=2))
    masks = [d.dust for d in damaged]
    xd = M.to_tensor(np.stack([d.frame for d in damaged]))
    yd = _run(xd, search=2)
    gains = [M.psnr(yd[b], frames[b], mask=masks[b]) - M.psnr(xd[b], frames[b], mask=masks[b])
             for _, b, _ in triples]
    assert min(gains) > 5 and np.mean(gains) > 9, gains
    # 3. The animal: without the checks the operator pastes the neighbours' view into
    # the animal wherever the flow missed it; with them it repairs a fraction of that.
    op = make_operator("dust", OpContext(seed=0), search=2)
    old = new = 0
    for a, b, c in triples:
        old += int(op.repair(x[b:b + 1], x[a:a + 1], x[c:c + 1], confirm=False)[1].sum())
        new += int(op.repair(x[b:b + 1], x[a:a + 1], x[c:c + 1])[1].sum())
    assert new < 0.35 * old, (new, old)


@pytest.mark.media
def test_dust_does_not_depend_on_the_torch_thread_count(tmp_path, monkeypatch):
    # clean's deflicker + dust on the Muybridge film: with the exposure statistics
    # summed by torch, 58 pixels of 12 frames changed (by up to 45 code values)
    # between one and two torch threads.
    from gpu_worker.engine.device import CPU_THREADS_ENV
    from gpu_worker.engine.pipeline import render
    from gpu_worker.engine.presets import get_preset

    spec = get_preset("clean")
    spec["ops"] = spec["ops"][:2]  # deflicker, dust
    spec["encode"] = {"codec": "ffv1", "pix_fmt": "bgr0"}  # lossless RGB
    clip = media_file("old_film/muybridge_buffalo.mp4")
    outputs = []
    for threads in (1, 2):
        monkeypatch.setenv(CPU_THREADS_ENV, str(threads))
        out = tmp_path / f"t{threads}.mkv"
        render(clip, out, spec, start=60, end=72, device="cpu", audio=False)
        outputs.append(np.stack(list(read_frames(out))))
    assert outputs[0].shape == (12, 300, 400, 3)
    assert np.array_equal(outputs[0], outputs[1])
