"""deinterlace: motion-adaptive field interpolation (FFmpeg's bwdif algorithm, in torch).

Each output frame keeps one field as it is and rebuilds the lines of the other one
(the "missing" field) at the kept field's moment:

* where the picture is still, the missing line is the average of the same line in
  the two fields of the other parity that bracket the kept field in time (the
  temporal prediction), exactly where nothing around it moved, so the full vertical
  detail comes back;
* where it moves, it is interpolated: a cubic through the kept lines above and below,
  plus, where the line differs from its neighbours more than it changes in time,
  bwdif's high-frequency term from the bracketing fields (sharper edges than yadif's);
* the result is clamped to within the local temporal change around the temporal
  prediction (yadif's spatial check included), so no combing is left.

`rate`: `frame` keeps the first field of every frame (one frame out per frame in);
`field` makes one frame per field (bwdif's send_field): the first field's frame, then
the second field's, each with the other field rebuilt, so the frame rate doubles and
motion keeps all its temporal resolution. The fields bracketing a kept field are the
previous frame's and this frame's other field for the first field, this frame's and
the next frame's for the second one.

Windows are clamped at scene cuts by the pipeline, so a cut's first frame takes its
own fields as the "previous" ones and never mixes two shots. Lines at the top and
bottom are mirrored within their field (the edge lines keep their parity), and the
outermost lines are rebuilt as bwdif rebuilds them (no long taps past the picture).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import DeinterlaceSchema

__all__ = ["Deinterlace", "deinterlace_frames", "rebuild_field"]

_PAD = 4
# bwdif's coefficients (FFmpeg libavfilter/bwdif), over 8192.
_LF = (4309 / 8192, 213 / 8192)
_HF = (5570 / 8192, 3801 / 8192, 1016 / 8192)
_SP = (5077 / 8192, 981 / 8192)


def rebuild_field(prev: torch.Tensor, cur: torch.Tensor, nxt: torch.Tensor,
                  keep_top: bool, second: bool) -> torch.Tensor:
    """(B, C, H, W) frames → `cur` with the field of `keep_top`'s parity kept and the
    other one rebuilt at the kept field's moment. `second`: the kept field is the
    second one in time (its missing field is bracketed by `cur` and `nxt`, else by
    `prev` and `cur`)."""
    h = cur.shape[2]
    if h < _PAD + 1:
        raise ValueError(f"a frame {h} lines high is too small to deinterlace")
    pad = (0, 0, _PAD, _PAD)
    pp, cp, np_ = (F.pad(x, pad, mode="reflect") for x in (prev, cur, nxt))
    p2, n2 = (cp, np_) if second else (pp, cp)  # the fields bracketing the kept one

    def rows(x: torch.Tensor, shift: int) -> torch.Tensor:
        return x[:, :, _PAD + shift:_PAD + shift + h]

    c, e = rows(cp, -1), rows(cp, 1)  # kept lines above and below
    c3, e3 = rows(cp, -3), rows(cp, 3)
    p2_0, n2_0 = rows(p2, 0), rows(n2, 0)
    d = (p2_0 + n2_0) * 0.5
    td0 = (p2_0 - n2_0).abs()
    td1 = ((rows(pp, -1) - c).abs() + (rows(pp, 1) - e).abs()) * 0.5
    td2 = ((rows(np_, -1) - c).abs() + (rows(np_, 1) - e).abs()) * 0.5
    diff = torch.maximum(torch.maximum(td0 * 0.5, td1), td2)
    still = diff == 0  # nothing moved around this line: the temporal prediction, exactly
    up2 = rows(p2, -2) + rows(n2, -2)
    down2 = rows(p2, 2) + rows(n2, 2)
    b = up2 * 0.5 - c
    f = down2 * 0.5 - e
    dc, de = d - c, d - e
    upper = torch.maximum(torch.maximum(de, dc), torch.minimum(b, f))
    lower = torch.minimum(torch.minimum(de, dc), torch.maximum(b, f))
    # bwdif's edges: the two outermost lines skip the spatial check, and the four
    # outermost take the plain average of the lines above and below (their longer
    # taps would reach past the picture).
    y = torch.arange(h, device=cur.device).view(1, 1, h, 1)
    checked = (y >= 2) & (y + 3 <= h)
    diff = torch.where(checked, torch.maximum(torch.maximum(diff, lower), -upper), diff)
    high = ((_HF[0] * (p2_0 + n2_0) - _HF[1] * (up2 + down2)
             + _HF[2] * (rows(p2, -4) + rows(n2, -4) + rows(p2, 4) + rows(n2, 4))) * 0.25
            + _LF[0] * (c + e) - _LF[1] * (c3 + e3))
    spatial = _SP[0] * (c + e) - _SP[1] * (c3 + e3)
    interp = torch.where((c - e).abs() > td0, high, spatial)
    interp = torch.where((y < 4) | (y + 5 > h), (c + e) * 0.5, interp)
    rebuilt = torch.where(still, d, torch.minimum(torch.maximum(interp, d - diff), d + diff))
    missing = 1 if keep_top else 0
    out = cur.clone()
    out[:, :, missing::2] = rebuilt[:, :, missing::2].clamp(0.0, 1.0)
    return out


def deinterlace_frames(prev: torch.Tensor, cur: torch.Tensor, nxt: torch.Tensor,
                       field_order: str, field: int = 0) -> torch.Tensor:
    """(B, C, H, W) frames → `cur` at the moment of its first field (`field` 0) or its
    second one (1), the other field rebuilt."""
    top_first = field_order == "tff"
    keep_top = top_first if field == 0 else not top_first
    return rebuild_field(prev, cur, nxt, keep_top, second=field == 1)


class Deinterlace(DeinterlaceSchema, Operator):
    def temporal_radius(self) -> int:
        return 1

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return deinterlace_frames(frames[windows[:, 0]], frames[windows[:, 1]],
                                  frames[windows[:, 2]], self.p["field_order"])

    def process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                     rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """rate=field: input frame i makes outputs 2i (phase 0: its first field's
        moment) and 2i + 1 (phase 1/2: its second field's)."""
        w = windows[rows]
        prev, cur, nxt = frames[w[:, 0]], frames[w[:, 1]], frames[w[:, 2]]
        first = deinterlace_frames(prev, cur, nxt, self.p["field_order"], 0)
        second = deinterlace_frames(prev, cur, nxt, self.p["field_order"], 1)
        is_second = (phases >= 0.25).view(-1, 1, 1, 1)
        return torch.where(is_second, second, first)
