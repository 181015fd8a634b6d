"""Tiled Real-CUGAN whose squeeze-and-excitation blocks see the whole frame.

Real-CUGAN (spandrel's UpCunet2x/UpCunet4x) has four SE blocks: each scales its
channels by a function of the channels' mean over the whole input, so a network run
tile by tile scales each tile differently from the whole frame, and by an amount
that depends on what else is in the tile (measured in weights/realcugan.md).

`run_tiled_synced` runs the network stage by stage over all tiles, as the official
Real-CUGAN "cache mode" and the ncnn runtime's `syncgap` do: stage k runs on every
tile, the input of SE block k is summed over the part of each tile that tile owns
(the frame is partitioned between the tiles at the middle of their overlaps), the
sums give one mean for the frame, and every tile goes on with that common mean.

Why this is exact. Every convolution in UpCunet is unpadded: a feature only depends
on the input within the network's receptive radius (18 input pixels at 2x, 19 at
4x), plus the SE means. Tile starts are kept even, so each tile's stride-2 grids are
the whole frame's grids. A feature whose position is at least that radius from a
tile's inner edges is therefore the whole frame's feature, once the earlier means are
the whole frame's means; with the default overlap (48, so 24 pixels either side of a
boundary) every owned position is such a feature, and each SE mean is the whole
frame's mean up to float summation order. The output is stitched the same way (each
tile gives the pixels it owns) when the overlap allows it, so the tiled output equals
the whole-frame output up to float rounding. With a smaller overlap the means are
close approximations and the output is cross-faded as `models.run_tiled` does.

Memory: by default every tile's intermediate tensors are kept between stages, in the
model's dtype on its device, so the bound is the frame's, not one tile's. `keep_bytes`
gives it exactly (tested against the tensors): a 640x360 frame in two 512-pixel tiles
in float32 keeps 658 MiB at 2x, 1068 MiB at 4x; a 1920x1080 frame at tile 512 (15
tiles) in float16, 3.4 GB at 2x and 5.6 GB at 4x (twice that in float32). Where it
exceeds `keep_limit` (half the free memory of a CUDA device; 8 GiB on the CPU), each
stage is recomputed from the tiles' inputs instead: the same output in one tile's
memory, for several times the computation (the earlier stages are redone for each SE
block: 3.9 times the time of plain tiles on the CPU, weights/realcugan.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gpu_worker.engine.models import (
    LoadedModel,
    ModelError,
    _tile_starts,
    add_cross_faded,
    edge_padded,
)

__all__ = ["KEEP_LIMIT_CPU", "MIN_TILE", "RECEPTIVE_RADIUS", "SE_STRIDES", "keep_bytes",
           "se_sync_supported", "run_tiled_synced"]

# Input pixels each side that a UpCunet output or feature depends on (its reflection
# padding: all its convolutions are unpadded), by scale.
RECEPTIVE_RADIUS = {2: 18, 4: 19}
# Input pixels per feature pixel at the inputs of the four SE blocks (unet1.conv2,
# unet2.conv2, unet2.conv3, unet2.conv4), the same for UpCunet2x and UpCunet4x.
SE_STRIDES = (2, 1, 2, 1)
MIN_TILE = 64  # input pixels
# Bytes the kept tensors may take on the CPU before stages are recomputed instead:
# a 1920x1080 frame at 2x (6.9 GB in float32 at tile 512) is kept, a 4x one (11.1 GB)
# is recomputed.
KEEP_LIMIT_CPU = 8 << 30


def _upcunet(model: LoadedModel) -> Any | None:
    """The UpCunet2x/UpCunet4x module of a loaded model, or None for anything else."""
    if str(model.info.architecture) != "RealCUGAN":
        return None
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet4x

    net = model.descriptor.model
    # exact types: UpCunet2x_fast and UpCunet3x are laid out differently
    return net if type(net) in (UpCunet2x, UpCunet4x) else None


def _se_blocks(net: Any) -> list[Any]:
    return [net.unet1.conv2.seblock, net.unet2.conv2.seblock, net.unet2.conv3.seblock,
            net.unet2.conv4.seblock]


def se_sync_supported(model: LoadedModel) -> bool:
    """True for a Real-CUGAN 2x/4x model whose SE blocks depend on their input.

    The "nose" models' SE blocks have all-zero weights and a constant scale of 1
    (see ncnn_convert), so their tiles need no shared means.
    """
    net = _upcunet(model)
    if net is None:
        return False
    return any(bool(se.conv1.weight.any()) and bool(se.conv2.weight.any())
               for se in _se_blocks(net))


# -- the network in stages ------------------------------------------------------------
#
# A tile's state is a tuple of tensors; stage 0 takes the tile's input, stage k (1..4)
# takes the state and the common mean of SE block k-1. Stages 0-3 return the new state
# and the input of the next SE block; stage 4 returns the tile's output.

State = tuple[torch.Tensor, ...]


def _stages(net: Any) -> list[Callable[..., Any]]:
    u1, u2 = net.unet1, net.unet2
    scale = 4 if net.__class__.__name__ == "UpCunet4x" else 2
    pad = RECEPTIVE_RADIUS[scale]

    def s0(x: torch.Tensor) -> tuple[State, torch.Tensor]:
        if net.is_pro:
            x = x * 0.7 + 0.15  # pro models take a narrower input range
        h0, w0 = x.shape[2:]
        ph, pw = ((h0 - 1) // 2 + 1) * 2, ((w0 - 1) // 2 + 1) * 2
        xp = F.pad(x, (pad, pad + pw - w0, pad, pad + ph - h0), "reflect")
        x1, x2 = u1.forward_a(xp)
        return (x, x1, x2), x2

    def s1(state: State, mean: torch.Tensor) -> tuple[State, torch.Tensor]:
        x00, x1, x2 = state
        x2 = u1.conv2.seblock.forward_mean(x2, mean)
        x = u1.forward_b(x1, x2)
        y1, y2 = u2.forward_a(x)
        return (x00, x, y1, y2), y2

    def s2(state: State, mean: torch.Tensor) -> tuple[State, torch.Tensor]:
        x00, x, y1, y2 = state
        y2 = u2.conv2.seblock.forward_mean(y2, mean)
        y2, y3 = u2.forward_b(y2)
        return (x00, x, y1, y2, y3), y3

    def s3(state: State, mean: torch.Tensor) -> tuple[State, torch.Tensor]:
        x00, x, y1, y2, y3 = state
        y3 = u2.conv3.seblock.forward_mean(y3, mean)
        y4 = u2.forward_c(y2, y3)
        return (x00, x, y1, y4), y4

    def s4(state: State, mean: torch.Tensor) -> torch.Tensor:
        x00, x, y1, y4 = state
        y4 = u2.conv4.seblock.forward_mean(y4, mean)  # (alpha is 1)
        x0 = u2.forward_d(y1, y4)
        x = torch.add(x0, F.pad(x, (-20, -20, -20, -20)))
        h0, w0 = x00.shape[2:]
        if scale == 4:
            x = net.ps(F.pad(net.conv_final(x), (-1, -1, -1, -1)))
        x = x[:, :, :h0 * scale, :w0 * scale]
        if scale == 4:
            x += F.interpolate(x00, scale_factor=4, mode="nearest")
        if net.is_pro:
            x = (x - 0.15) / 0.7
        return x.clamp_(0.0, 1.0)  # as spandrel's descriptor does

    return [s0, s1, s2, s3, s4]


# -- tile geometry ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Span:
    """One tile along one axis: input pixels [start, end), owning [own_lo, own_hi)."""

    start: int
    end: int
    own_lo: float
    own_hi: float


def _spans(size: int, tile: int, overlap: int) -> list[_Span]:
    # Even starts keep the network's stride-2 grids on the whole frame's grids.
    starts = [s + (s & 1) for s in _tile_starts(size, tile, overlap)]
    ends = [min(s + tile, size) for s in starts]
    # Boundaries at the middle of each overlap, rounded to even so that no stride-2
    # feature straddles one.
    bounds = [2 * ((starts[i] + ends[i - 1]) // 4) for i in range(1, len(starts))]
    lows = [-math.inf, *bounds]
    highs = [*bounds, math.inf]
    return [_Span(s, e, lo, hi) for s, e, lo, hi in zip(starts, ends, lows, highs, strict=True)]


def _owned(span: _Span, n: int, stride: int) -> slice:
    """The features of a tile (n of them, stride input pixels each) that it owns.

    A UpCunet feature map is centred on its (even-padded) input, so feature i covers
    input pixels from start + (w-1)/2 + stride*(i - (n-1)/2) - (stride-1)/2 on; it is
    owned by the tile whose interval holds that first pixel.
    """
    w = span.end - span.start
    w += w & 1  # the network pads an odd size by one on the far side
    first0 = span.start + (w - 1) / 2 - stride * (n - 1) / 2 - (stride - 1) / 2
    lo = 0 if span.own_lo == -math.inf else math.ceil((span.own_lo - first0) / stride)
    hi = n if span.own_hi == math.inf else math.ceil((span.own_hi - first0) / stride)
    return slice(max(0, lo), min(n, hi))


def run_tiled_synced(model: LoadedModel, image: torch.Tensor, *, tile: int = 512,
                     overlap: int = 48, edge_pad: int = 0,
                     keep_limit: int | None = None) -> torch.Tensor:
    """A Real-CUGAN model over `image` (B, 3, H, W) in tiles that share SE means.

    Same arguments and tiles as `models.run_tiled` (tile and overlap in input pixels,
    `edge_pad` pixels of reflection around the frame); returns float32 (B, 3, H·s, W·s)
    on the image's device. See the module's docstring for why the result equals the
    whole-frame output when overlap >= 2 x the receptive radius (36 at 2x, 38 at 4x).

    keep_limit: bytes the tiles' intermediate tensors may take (default: half the free
    memory of a CUDA device, `KEEP_LIMIT_CPU` on the CPU). Above it, each stage is
    recomputed from the tile's input instead of kept: the same output in one tile's
    memory, for several times the computation.
    """
    net = _upcunet(model)
    if net is None:
        raise ModelError(f"model {model.info.name!r} is not a Real-CUGAN 2x/4x network")
    scale = model.scale
    if edge_pad > 0:
        return edge_padded(lambda x: run_tiled_synced(model, x, tile=tile, overlap=overlap,
                                                      keep_limit=keep_limit),
                           image, edge_pad, scale)
    b, _, h, w = image.shape
    if tile > 0:
        # spandrel pads smaller inputs to 32 pixels; tiles this small leave little owned
        # area and would only add overlaps.
        tile = max(tile, MIN_TILE)
    if tile <= 0 or (h <= tile and w <= tile):
        return model(image).float().to(image.device)
    overlap = max(0, min(overlap, tile // 2))
    rows, cols = _spans(h, tile, overlap), _spans(w, tile, overlap)
    tiles = [(r, c) for r in rows for c in cols]
    stages = _stages(net)
    limit = keep_limit if keep_limit is not None else _default_keep_limit(model.device)
    run = _run_keeping if keep_bytes(model, tiles, b) <= limit else _run_recomputing
    with torch.inference_mode():
        pieces = run(model, stages, image, tiles)
    return _stitch(tiles, pieces, b, h, w, scale, overlap, image.device,
                   exact=overlap // 2 >= RECEPTIVE_RADIUS[scale])


def keep_bytes(model: LoadedModel, tiles: list[tuple[_Span, _Span]], batch: int = 1) -> int:
    """Bytes the tiles' intermediate tensors take at the largest stage when kept.

    From the shapes of UpCunet's unpadded stages for a tile of h x w input pixels:
    after SE block 1 a tile holds its input, UNet1's output at twice the resolution
    (3 channels at 2x, 64 at 4x), UNet2's first level (64 channels at twice the
    resolution) and its second (128 channels at 1x); after SE block 2 the second
    level is cropped and its third (128 channels at 1/2) added.
    """
    e = RECEPTIVE_RADIUS[model.scale] - 18  # the 4x network pads one pixel more
    c1 = 3 if model.scale == 2 else 64

    def tile_values(h0: int, w0: int) -> int:
        h, w = h0 + (h0 & 1), w0 + (w0 & 1)  # the network pads odd sizes by one
        kept = 3 * h0 * w0 + c1 * (2 * h + 40 + 4 * e) * (2 * w + 40 + 4 * e) \
            + 64 * (2 * h + 4 + 4 * e) * (2 * w + 4 + 4 * e)
        after1 = 128 * (h + 14 + 2 * e) * (w + 14 + 2 * e)
        after2 = 128 * ((h + 6 + 2 * e) * (w + 6 + 2 * e)
                        + (h // 2 + 3 + e) * (w // 2 + 3 + e))
        return kept + max(after1, after2)

    values = sum(tile_values(r.end - r.start, c.end - c.start) for r, c in tiles)
    return batch * values * torch.finfo(model.dtype).bits // 8


def _default_keep_limit(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2  # the other half for the stage being computed and the output
    return KEEP_LIMIT_CPU


def _tile_input(model: LoadedModel, image: torch.Tensor, span: tuple[_Span, _Span]
                ) -> torch.Tensor:
    r, c = span
    return image[:, :, r.start:r.end, c.start:c.end].to(device=model.device,
                                                        dtype=model.dtype)


def _run_keeping(model: LoadedModel, stages: list[Callable[..., Any]], image: torch.Tensor,
                 tiles: list[tuple[_Span, _Span]]) -> list[torch.Tensor]:
    """Stage by stage over all tiles, every tile's tensors kept between stages."""
    sums = _MeanSum()
    states: list[Any] = []
    for span in tiles:
        state, se_in = stages[0](_tile_input(model, image, span))
        states.append(state)
        sums.add(span, se_in, SE_STRIDES[0])
    for k, stage in enumerate(stages[1:], start=1):
        mean, sums = sums.mean(model.dtype), _MeanSum()
        for t, span in enumerate(tiles):
            result = stage(states[t], mean)
            if k < len(stages) - 1:
                states[t], se_in = result
                sums.add(span, se_in, SE_STRIDES[k])
            else:
                states[t] = result.float().to(image.device)
    return states


def _run_recomputing(model: LoadedModel, stages: list[Callable[..., Any]],
                     image: torch.Tensor, tiles: list[tuple[_Span, _Span]]
                     ) -> list[torch.Tensor]:
    """The same in one tile's memory: for SE block k, every tile is run from its input
    through the stages before it (with the means found so far), then once more to
    the end with all four."""
    def through(span: tuple[_Span, _Span], k: int) -> tuple[State, torch.Tensor]:
        # the tile from its input through stage k: its state and SE block k's input
        state, se_in = stages[0](_tile_input(model, image, span))
        for j in range(1, k + 1):
            state, se_in = stages[j](state, means[j - 1])
        return state, se_in

    means: list[torch.Tensor] = []
    for k in range(len(stages) - 1):
        sums = _MeanSum()
        for span in tiles:
            sums.add(span, through(span, k)[1], SE_STRIDES[k])
        means.append(sums.mean(model.dtype))
    last = len(stages) - 1
    return [stages[last](through(span, last - 1)[0], means[last - 1]).float().to(image.device)
            for span in tiles]


class _MeanSum:
    """The mean over the frame of one SE block's input, from the parts of the tiles'
    feature maps that each tile owns."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def add(self, span: tuple[_Span, _Span], f: torch.Tensor, stride: int) -> None:
        r, c = span
        ys, xs = _owned(r, f.shape[2], stride), _owned(c, f.shape[3], stride)
        if ys.stop <= ys.start or xs.stop <= xs.start:
            return
        # float32 sums, as the network's own SE block takes its mean (pairwise
        # summation keeps them exact enough); the tiles' sums add up in float64
        part = f[:, :, ys, xs].sum(dim=(2, 3), dtype=torch.float32).double()
        self.total = part if self.total is None else self.total + part
        self.count += (ys.stop - ys.start) * (xs.stop - xs.start)

    def mean(self, dtype: torch.dtype) -> torch.Tensor:
        """(B, C, 1, 1) in the network's dtype."""
        if self.total is None:
            raise ModelError("no tile owns any feature (tile too small for the network)")
        return (self.total / self.count)[:, :, None, None].to(dtype)


def _stitch(tiles: list[tuple[_Span, _Span]], pieces: list[torch.Tensor], b: int, h: int,
            w: int, scale: int, overlap: int, device: torch.device, *,
            exact: bool) -> torch.Tensor:
    """The frame from the tiles' outputs: each tile's owned pixels when `exact` (its
    other pixels saw the tile's padding within the network's receptive radius), else
    the cross-fade of models.run_tiled."""
    out = torch.zeros(b, pieces[0].shape[1], h * scale, w * scale, device=device)
    if exact:
        for (r, c), piece in zip(tiles, pieces, strict=True):
            y0, y1 = max(r.start, r.own_lo), min(r.end, r.own_hi)
            x0, x1 = max(c.start, c.own_lo), min(c.end, c.own_hi)
            y0, y1, x0, x1 = (int(v) for v in (y0, y1, x0, x1))
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = piece[
                :, :, (y0 - r.start) * scale:(y1 - r.start) * scale,
                (x0 - c.start) * scale:(x1 - c.start) * scale]
        return out
    weight = torch.zeros(1, 1, h * scale, w * scale, device=device)
    for (r, c), piece in zip(tiles, pieces, strict=True):
        add_cross_faded(out, weight, piece, (r.start, r.end), (c.start, c.end), scale, overlap)
    return out.div_(weight.clamp_min_(1e-8))
