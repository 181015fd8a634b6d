"""Film-grain synthesis: "restore the old as old".

After cleaning, a restored film looks like video; putting back a controlled, fresh
grain makes it look like film again and hides banding. The grain is Gaussian noise
shaped like film grain:

- size: white noise low-passed by a Gaussian, renormalised so the RMS stays equal to
  `strength` whatever the size (only the spectrum moves to lower frequencies);
- chroma: blend of one noise shared by R, G, B (black-and-white stock) and independent
  noise per channel (dye clouds of colour stock), variance preserving;
- luminance response: film grain is most visible in the mid-tones and fades in deep
  shadows and clipped highlights; the amplitude follows a bell curve over luma whose
  peak and sharpness are parameters;
- temporal: real grain is new every frame; a fraction can be frozen across frames.

Every random number comes from a torch.Generator seeded by (ctx.seed, seed param,
frame number), so frame 1234 gets the same grain however the clip is batched or split
into segments.
"""

from __future__ import annotations

import math

import torch

from gpu_worker.engine.filters import gaussian_kernel1d, luma, separable_filter
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import GrainSchema

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    # Well-mixed 64-bit hash: neighbouring frame numbers give unrelated seeds.
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def frame_seed(*parts: int) -> int:
    """A 63-bit seed from integers (render seed, op seed, frame number, stream tag)."""
    h = 0x1234567
    for p in parts:
        h = _splitmix64(h ^ (int(p) & _MASK64))
    return h & ((1 << 63) - 1)


def grain_field(height: int, width: int, seed: int, *, size: float, chroma: float,
                device: torch.device) -> torch.Tensor:
    """Unit-RMS grain noise (3, H, W) for one frame, deterministic in `seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    noise = torch.randn((4, height, width), generator=gen, device=device)
    mono, colour = noise[:1], noise[1:]
    field = math.sqrt(1.0 - chroma) * mono + math.sqrt(chroma) * colour
    sigma = size / 2.0  # size is an approximate grain diameter; sigma its half
    if sigma > 0.3:
        k = gaussian_kernel1d(sigma, device=device)
        field = separable_filter(field.unsqueeze(0), k)[0]
        # Filtering white noise scales its variance by sum(k^2) per axis; undo that
        # analytically so the RMS does not depend on the size.
        field = field / float((k * k).sum())
    return field


def luminance_response(y: torch.Tensor, response: float, peak: float) -> torch.Tensor:
    """Grain amplitude multiplier over luma, 1 at `peak`, falling to 0 at black/white.

    m(y) = (y/p)^(a p) ((1-y)/(1-p))^(a (1-p)) with a = 2 * response: a beta-shaped
    bell; response 0 is flat (digital noise), 1 with peak 0.5 is 4 y (1 - y).
    """
    if response <= 0:
        return torch.ones_like(y)
    a = 2.0 * response
    y = y.clamp(1e-4, 1 - 1e-4)
    return (y / peak) ** (a * peak) * ((1 - y) / (1 - peak)) ** (a * (1 - peak))


def add_grain(frames: torch.Tensor, frame_numbers: torch.Tensor, *, seed: int,
              strength: float, size: float, chroma: float, response: float,
              peak: float = 0.5, temporal: float = 0.0) -> torch.Tensor:
    """Add grain to (B, 3, H, W) frames; strength is the RMS at the response peak in [0, 1]."""
    if strength <= 0:
        return frames
    b, _, h, w = frames.shape
    dev = frames.device
    fields = []
    frozen = None
    if temporal > 0:
        frozen = grain_field(h, w, frame_seed(seed, 0x5EED, 1), size=size, chroma=chroma,
                             device=dev)
    for n in frame_numbers.tolist():  # one generator per frame, not per pixel
        field = grain_field(h, w, frame_seed(seed, int(n), 0), size=size, chroma=chroma,
                            device=dev)
        if frozen is not None:
            # Correlation between any two frames' grain is `temporal`; RMS unchanged.
            field = math.sqrt(1.0 - temporal) * field + math.sqrt(temporal) * frozen
        fields.append(field)
    noise = torch.stack(fields)
    amp = strength * luminance_response(luma(frames), response, peak)
    return (frames + amp * noise).clamp(0.0, 1.0)


class Grain(GrainSchema, Operator):
    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        return add_grain(x, frame_numbers, seed=frame_seed(self.ctx.seed, self.p["seed"]),
                         strength=self.p["strength"] / 255.0, size=self.p["size"],
                         chroma=self.p["chroma"], response=self.p["response"],
                         peak=self.p["peak"], temporal=self.p["temporal"])
