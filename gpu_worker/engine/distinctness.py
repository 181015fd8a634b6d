"""How different two renders of the same excerpt look: ColorVideoVDP quality in JOD.

A sweep is only worth a vote when a fan can see what changed. This module decodes a
few frames of two variants' outputs (the proxies do: the question is what a fan sees
in the player) at the same positions and scores B against A with ColorVideoVDP
(`pycvvdp`, MIT, Mantiuk et al. 2024): 10 JOD means "identical", and a difference of
1 JOD means 75 % of observers would pick one over the other. It also writes a
difference heat-map (cvvdp's own supra-threshold colour map over A's luminance) of the
frame where the two differ most.

The display model is 'standard_fhd' (a 24-inch 1080p office monitor at 60 cm): the
excerpt is shown the way the contest page shows it. cvvdp ships its display, CSF and
calibration files inside the wheel, so nothing is downloaded; it runs on the CPU
(about 2 s a 400x300 frame on two cores) or on a GPU when one is given.

Frames are compared as still images, not as a video: a handful of frames spread over
the excerpt catches a difference of grain, denoise or colour without decoding
and comparing every frame, and a still is the harder case for a variant (the
temporal masking of a moving picture only hides differences further).

Heavy imports (torch, pycvvdp, PyAV) happen inside the functions: the web tier
imports this package's schema and spec modules and must stay free of torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DISPLAY",
    "FRAMES",
    "Comparison",
    "DistinctnessError",
    "compare_frames",
    "compare_videos",
    "frame_positions",
]

log = logging.getLogger(__name__)

DISPLAY = "standard_fhd"
FRAMES = 4  # frames sampled over the excerpt
JOD_MAX = 10.0


class DistinctnessError(Exception):
    """Two outputs cannot be compared (missing, different sizes, no frames)."""


@dataclass
class Comparison:
    """B scored against A: `jod` is the mean over the sampled frames (10 = identical);
    `difference` is 10 - jod, the perceptual distance."""

    jod: float
    per_frame: list[float]
    positions: list[int]
    worst_position: int
    display: str = DISPLAY
    width: int = 0
    height: int = 0
    map_path: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def difference(self) -> float:
        return round(JOD_MAX - self.jod, 4)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = self.difference
        return out


def frame_positions(frames: int, count: int = FRAMES) -> list[int]:
    """`count` frame numbers spread evenly over `frames` (first and last excluded, where
    a fade or a cut is likeliest), each once."""
    if frames <= 0:
        return []
    count = max(1, min(count, frames))
    picks = np.linspace(0, frames - 1, count + 2)[1:-1] if frames > count else np.arange(frames)
    return sorted({int(round(p)) for p in picks})


_METRIC: dict[tuple[str, str], Any] = {}


def _metric(device: str) -> Any:
    """One cvvdp instance per display and device (building it loads its tables)."""
    key = (DISPLAY, device)
    if key not in _METRIC:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # cvvdp's ML variants are never used
        import pycvvdp
        import torch

        _METRIC[key] = pycvvdp.cvvdp(
            display_name=DISPLAY, device=torch.device(device), heatmap="supra-threshold", quiet=True
        )
    return _METRIC[key]


def _device(device: str | None) -> str:
    if device:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compare_frames(
    frames_a: Sequence[np.ndarray],
    frames_b: Sequence[np.ndarray],
    *,
    positions: Sequence[int] | None = None,
    map_path: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> Comparison:
    """Score each frame of B against the same frame of A (uint8 RGB, H x W x 3) and
    write the heat-map of the most different frame to `map_path` (PNG) when given."""
    import time

    import torch

    if len(frames_a) != len(frames_b) or not frames_a:
        raise DistinctnessError(
            f"need the same number of frames on both sides (got "
            f"{len(frames_a)} and {len(frames_b)})"
        )
    shape = frames_a[0].shape
    for a, b in zip(frames_a, frames_b, strict=True):
        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise DistinctnessError(f"frames differ in size or are not RGB: {a.shape} vs {b.shape}")
    started = time.perf_counter()
    metric = _metric(_device(device))
    scores: list[float] = []
    maps: list[Any] = []
    with torch.no_grad():
        for a, b in zip(frames_a, frames_b, strict=True):
            q, stats = metric.predict(
                np.ascontiguousarray(b), np.ascontiguousarray(a), dim_order="HWC"
            )
            scores.append(round(float(q), 4))
            maps.append(stats.get("heatmap"))
    worst = int(np.argmin(scores))
    written = None
    if map_path is not None and maps[worst] is not None:
        written = str(_write_map(maps[worst], Path(map_path)))
    pos = list(positions) if positions is not None else list(range(len(scores)))
    return Comparison(
        jod=round(float(np.mean(scores)), 4),
        per_frame=scores,
        positions=pos,
        worst_position=pos[worst],
        width=int(shape[1]),
        height=int(shape[0]),
        map_path=written,
        seconds=round(time.perf_counter() - started, 3),
    )


def _write_map(heatmap: Any, path: Path) -> Path:
    """cvvdp's heat-map tensor (1, 3, 1, H, W, sRGB 0..1) as an 8-bit PNG."""
    import cv2

    rgb = heatmap[0, :, 0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(
        str(path), cv2.cvtColor((rgb * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ):
        raise DistinctnessError(f"could not write the difference map {path}")
    return path


def _read_at(path: str | os.PathLike[str], positions: Sequence[int]) -> list[np.ndarray]:
    from gpu_worker.engine import io

    wanted = set(positions)
    out: dict[int, np.ndarray] = {}
    for decoded in io.iter_decoded(path, start=0, end=max(positions) + 1):
        if decoded.index in wanted:
            out[decoded.index] = decoded.image
    missing = sorted(wanted - set(out))
    if missing:
        raise DistinctnessError(f"{Path(path).name} has no frame {missing[0]}")
    return [out[p] for p in positions]


def compare_videos(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    *,
    count: int = FRAMES,
    map_path: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> Comparison:
    """Decode `count` frames of both renders at the same positions and compare them."""
    from gpu_worker.engine import io

    try:
        info_a, info_b = io.probe(path_a), io.probe(path_b)
    except io.MediaError as exc:
        raise DistinctnessError(str(exc)) from None
    if (info_a.width, info_a.height) != (info_b.width, info_b.height):
        raise DistinctnessError(
            f"the renders differ in size ({info_a.width}x{info_a.height} vs "
            f"{info_b.width}x{info_b.height}); only variants of one sweep "
            "can be compared"
        )
    frames = min(int(info_a.frame_count or 0), int(info_b.frame_count or 0))
    positions = frame_positions(frames, count)
    if not positions:
        raise DistinctnessError("the renders have no frames")
    a, b = _read_at(path_a, positions), _read_at(path_b, positions)
    return compare_frames(a, b, positions=positions, map_path=map_path, device=device)
