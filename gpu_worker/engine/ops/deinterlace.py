"""deinterlace: motion-adaptive field interpolation (the yadif algorithm, in torch).

The first field of each frame is kept; every line of the other field is rebuilt as
the edge-preserving spatial interpolation (a 4-tap cubic through the kept lines above
and below), clamped to within the local temporal change of the temporal prediction
(the average of the same line in the previous frame's and this frame's second
fields, the fields half a frame before and after this frame's first field). Where the
picture is still the clamp is tight and the full vertical detail of the other field
comes back; where it moves the spatial interpolation is used, so no combing is left.
The spatial check (whether the rebuilt line is a vertical extremum) is yadif's mode 0.

Windows are clamped at scene cuts by the pipeline, so a cut's first frame takes its
own second field as the "previous" one and never mixes two shots.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import DeinterlaceSchema

__all__ = ["Deinterlace", "deinterlace_frames"]

_PAD = 3


def _rows(padded: torch.Tensor, shift: int, height: int) -> torch.Tensor:
    """Rows y + shift of the unpadded frames, for every y (edges replicated)."""
    return padded[:, :, _PAD + shift:_PAD + shift + height]


def deinterlace_frames(prev: torch.Tensor, cur: torch.Tensor, nxt: torch.Tensor,
                       field_order: str) -> torch.Tensor:
    """(B, C, H, W) frames → `cur` with its second field rebuilt."""
    h = cur.shape[2]
    pad = (0, 0, _PAD, _PAD)
    pp, cp, np_ = (F.pad(x, pad, mode="replicate") for x in (prev, cur, nxt))
    c, e = _rows(cp, -1, h), _rows(cp, 1, h)  # kept lines above and below
    c2, e2 = _rows(cp, -3, h), _rows(cp, 3, h)
    # The missing field of the previous frame and of this one: half a frame before
    # and after this frame's first field.
    p0, n0 = prev, cur
    d = (p0 + n0) * 0.5
    td0 = (p0 - n0).abs()
    td1 = ((_rows(pp, -1, h) - c).abs() + (_rows(pp, 1, h) - e).abs()) * 0.5
    td2 = ((_rows(np_, -1, h) - c).abs() + (_rows(np_, 1, h) - e).abs()) * 0.5
    diff = torch.maximum(torch.maximum(td0 * 0.5, td1), td2)
    b = (_rows(pp, -2, h) + _rows(cp, -2, h)) * 0.5
    f = (_rows(pp, 2, h) + _rows(cp, 2, h)) * 0.5
    upper = torch.maximum(torch.maximum(d - e, d - c), torch.minimum(b - c, f - e))
    lower = torch.minimum(torch.minimum(d - e, d - c), torch.maximum(b - c, f - e))
    diff = torch.maximum(torch.maximum(diff, lower), -upper)
    spatial = (9.0 * (c + e) - (c2 + e2)) / 16.0
    rebuilt = torch.minimum(torch.maximum(spatial, d - diff), d + diff)
    missing = 1 if field_order == "tff" else 0
    out = cur.clone()
    out[:, :, missing::2] = rebuilt[:, :, missing::2].clamp(0.0, 1.0)
    return out


class Deinterlace(DeinterlaceSchema, Operator):
    def temporal_radius(self) -> int:
        return 1

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return deinterlace_frames(frames[windows[:, 0]], frames[windows[:, 1]],
                                  frames[windows[:, 2]], self.p["field_order"])
