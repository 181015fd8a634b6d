"""Real-CUGAN tiles that share their SE means: geometry, exactness, what is refused.

These tests use randomly initialised UpCunet networks (spandrel's architecture, no
wheel needed); the same checks on the real converted weights and a real frame are in
test_ops_super_resolution.py, through the operator.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from safetensors.torch import save_file

from gpu_worker.engine import models
from gpu_worker.engine.realcugan import (
    MIN_TILE,
    RECEPTIVE_RADIUS,
    _spans,
    _stages,
    keep_bytes,
    run_tiled_synced,
    se_sync_supported,
)
from tests.engine.test_models import compact_state


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    models.clear_cache()
    yield
    models.clear_cache()


def _cugan(tmp_path, scale: int, *, seed: int = 0, se: bool = True) -> models.LoadedModel:
    """A randomly initialised UpCunet{scale}x, loaded as the operator loads models.

    The last convolutions are scaled down so the output stays mostly inside [0, 1]
    (spandrel clamps it; a saturated output would hide differences), and the SE
    blocks' weights scaled up so that their scales depend on the mean as much as a
    trained network's do (at random initialisation they hardly do). se=False gives
    the converter's "nose" SE blocks: zero weights, a constant scale of 1.
    """
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet4x

    torch.manual_seed(seed)
    net = {2: UpCunet2x, 4: UpCunet4x}[scale]()
    state = {k: v.clone().contiguous() for k, v in net.state_dict().items()}
    if scale == 2:  # the 4x network adds its output to the upscaled input already
        for key in ("unet1.conv_bottom.weight", "unet2.conv_bottom.weight"):
            state[key] *= 0.1
        state["unet1.conv_bottom.bias"].fill_(0.5)
    for key in [k for k in state if ".seblock." in k and k.endswith("weight")]:
        state[key] *= 10.0
    if not se:
        for key in [k for k in state if ".seblock." in k]:
            state[key] = torch.zeros_like(state[key])
            if key.endswith("conv2.bias"):
                state[key].fill_(100.0)
    path = tmp_path / f"cugan-x{scale}-{seed}-{int(se)}.safetensors"
    save_file(state, str(path))
    return models.load_model(str(path))


def _image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    """Smooth shapes plus noise: SE means differ between its parts."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, (xx * 7).sin() * 0.5 + 0.5])[None]
    base[:, :, :, : w // 3] *= 0.2  # a dark third: tiles there see other means
    return (base + 0.1 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def _levels(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) * 255.0


# -- geometry -----------------------------------------------------------------------------

@pytest.mark.parametrize("size,tile,overlap", [(664, 512, 48), (344, 256, 48),
                                               (301, 100, 40), (150, 64, 32)])
def test_spans_start_even_cover_the_frame_and_partition_it(size, tile, overlap):
    spans = _spans(size, tile, overlap)
    assert spans[0].start == 0 and spans[-1].end == size
    assert all(s.start % 2 == 0 and s.end - s.start <= tile for s in spans)
    assert spans[0].own_lo == -math.inf and spans[-1].own_hi == math.inf
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.own_hi == b.own_lo and b.own_lo % 2 == 0  # no gap, no double count
        assert b.start < a.end  # they overlap
        # each owned pixel is at least half the overlap (less 2 for rounding) from
        # the inner edges of its tile
        assert a.end - a.own_hi >= overlap // 2 - 2 and b.own_lo - b.start >= overlap // 2 - 2


# -- exactness ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [2, 4])
def test_shared_means_reproduce_the_whole_frame(tmp_path, scale):
    """Tiles with the default-sized overlap give the whole frame's output up to float
    rounding; each tile with its own means does not."""
    model = _cugan(tmp_path, scale)
    assert se_sync_supported(model)
    x = _image(90, 171)  # odd width: the last tile and the frame pad alike
    whole = models.run_tiled(model, x, scale=scale, tile=0)
    synced = run_tiled_synced(model, x, tile=80, overlap=2 * RECEPTIVE_RADIUS[scale] + 2)
    own = models.run_tiled(model, x, scale=scale, tile=80,
                           overlap=2 * RECEPTIVE_RADIUS[scale] + 2)
    assert synced.shape == whole.shape == (1, 3, 90 * scale, 171 * scale)
    assert _levels(synced, whole) < 0.01  # measured 0.00005 (2x), 0.0001 (4x)
    assert _levels(own, whole) > 1.0  # measured 8.1 (2x), 36 (4x)


def test_edge_padding_and_the_whole_frame_path_match_run_tiled(tmp_path):
    model = _cugan(tmp_path, 2, seed=3)
    x = _image(70, 150, seed=4)
    whole = models.run_tiled(model, x, scale=2, tile=0, edge_pad=12)
    assert _levels(run_tiled_synced(model, x, tile=100, overlap=48, edge_pad=12), whole) < 0.01
    # tile 0 or a frame within one tile: exactly the model's own output
    assert torch.equal(run_tiled_synced(model, x, tile=0, edge_pad=12), whole)
    assert torch.equal(run_tiled_synced(model, x, tile=180, edge_pad=12), whole)


def test_a_small_overlap_still_shares_means_and_cross_fades(tmp_path):
    """Overlap 16 < twice the receptive radius: owned features near a tile's inner edge
    saw its padding, so means and output are close, not exact; still far closer than
    tiles with their own means."""
    model = _cugan(tmp_path, 2, seed=5)
    x = _image(90, 200, seed=6)
    whole = models.run_tiled(model, x, scale=2, tile=0)
    synced = _levels(run_tiled_synced(model, x, tile=80, overlap=16), whole)
    own = _levels(models.run_tiled(model, x, scale=2, tile=80, overlap=16), whole)
    assert synced < 0.5 * own, (synced, own)  # measured 0.021 and 0.51


def test_tiles_below_the_minimum_are_enlarged(tmp_path):
    model = _cugan(tmp_path, 2, seed=7)
    x = _image(72, 130, seed=8)
    small = run_tiled_synced(model, x, tile=8, overlap=48)
    assert torch.equal(small, run_tiled_synced(model, x, tile=MIN_TILE, overlap=48))


# -- what is synced -----------------------------------------------------------------------

def test_models_without_live_se_blocks_are_not_synced(tmp_path):
    assert not se_sync_supported(_cugan(tmp_path, 2, se=False))  # the "nose" layout
    save_file(compact_state(2, features=8, convs=2), str(tmp_path / "compact.safetensors"))
    compact = models.load_model(str(tmp_path / "compact.safetensors"))
    assert not se_sync_supported(compact)
    with pytest.raises(models.ModelError, match="not a Real-CUGAN"):
        run_tiled_synced(compact, torch.rand(1, 3, 40, 40), tile=64)


@pytest.mark.slow  # float16 convolutions are slow on a CPU
def test_half_precision_shares_means_too(tmp_path):
    """float16, the operator's dtype on CUDA (run here on the CPU): the means are summed
    in float32 and cast as the network's own SE block does, so the tiles still give the
    whole frame's float16 output (measured: identical; own means 0.87 levels away)."""
    loaded = _cugan(tmp_path, 2, seed=9)
    descriptor = copy.deepcopy(loaded.descriptor).half()
    model = models.LoadedModel(info=loaded.info, descriptor=descriptor,
                               device=loaded.device, dtype=torch.float16)
    x = _image(70, 120, seed=10)
    whole = models.run_tiled(model, x, scale=2, tile=0)
    synced = run_tiled_synced(model, x, tile=80, overlap=40)
    own = models.run_tiled(model, x, scale=2, tile=80, overlap=40)
    assert synced.dtype == torch.float32
    assert _levels(synced, whole) < 0.1 * _levels(own, whole), (
        _levels(synced, whole), _levels(own, whole))


@pytest.mark.parametrize("scale", [2, 4])
def test_recomputing_gives_the_same_output_as_keeping(tmp_path, scale):
    """Over the memory limit each stage is recomputed from the tiles' inputs: the same
    output as keeping the tensors, and the whole frame's."""
    model = _cugan(tmp_path, scale, seed=13)
    x = _image(90, 171, seed=14)
    kept = run_tiled_synced(model, x, tile=80, overlap=48)
    recomputed = run_tiled_synced(model, x, tile=80, overlap=48, keep_limit=0)
    assert torch.equal(kept, recomputed)
    assert _levels(recomputed, models.run_tiled(model, x, scale=scale, tile=0)) < 0.01


@pytest.mark.parametrize("scale", [2, 4])
def test_keep_bytes_estimates_the_kept_tensors_from_above(tmp_path, scale):
    """The estimate that chooses between keeping and recomputing is the largest memory
    the tiles' states take after a stage (the tensors' own sizes)."""
    model = _cugan(tmp_path, scale, seed=15)
    x = _image(100, 179, seed=16)  # odd: the last column of tiles is odd
    tiles = [(r, c) for r in _spans(100, 80, 40) for c in _spans(179, 80, 40)]
    stages = _stages(model.descriptor.model)

    def nbytes(state: tuple[torch.Tensor, ...]) -> int:
        return sum(t.numel() * t.element_size() for t in state)

    totals = [0] * 4
    with torch.inference_mode():
        for r, c in tiles:
            state, se_in = stages[0](x[:, :, r.start:r.end, c.start:c.end])
            totals[0] += nbytes(state)
            for k in range(1, 4):
                state, se_in = stages[k](state, se_in.mean((2, 3), keepdim=True))
                totals[k] += nbytes(state)
    estimate = keep_bytes(model, tiles)
    assert estimate == max(totals), (totals, estimate)
