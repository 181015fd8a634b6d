"""ivtc: inverse telecine of 3:2 pulldown (29.97 video frames → 23.976 film frames).

A rate stage at ratio 4/5 whose numbering follows the clip's cadence map
(`interlace.CadenceMap`: the phase of frame 0 and the cadence breaks the analysis
found): video frame i makes one film frame unless it is a BC frame or an orphan CD
frame after a break, so the film frames of a clip edited after its transfer come back
once each, none doubled, none blended. AA, BB and DD frames are film frames as they
are; a CD frame gives C its first field, the BC frame before it the second one, so
the operator needs a temporal radius of one (its windows cross scene cuts). Each film frame keeps its true time (a
cycle's four film frames start at 0, 5/4, 10/4 and 15/4 video frames), so the sound
stays in sync across breaks. The fields are copied as they are: on a lossless source
the film frames come back bit for bit.
"""

from __future__ import annotations

import torch

from gpu_worker.engine.interlace import FILM_PER_CYCLE, FILM_TIME
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import IvtcSchema

__all__ = ["Ivtc"]

# The phase of the video frame that made a film frame, from the film frame's time.
_PHASE_OF_TIME = {t: ph for ph, t in FILM_TIME.items()}


class Ivtc(IvtcSchema, Operator):
    # A film cut between B and C puts the scene detector's cut at the BC or the CD
    # frame; C's fields still lie in both. Splices after the transfer are cadence
    # breaks, where an orphan CD frame makes nothing: no shot is ever mixed.
    windows_cross_cuts = True

    def temporal_radius(self) -> int:
        return 1

    def process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                     rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        times = torch.round(phases * FILM_PER_CYCLE).to(torch.int64).tolist()
        second = 0 if self.p["field_order"] == "bff" else 1  # rows of the second field
        out = []
        for row, t in zip(rows.tolist(), times, strict=True):
            window = windows[row]
            centre = window.shape[0] // 2
            film = frames[window[centre]].clone()
            if _PHASE_OF_TIME[t] == 3:  # C: second field from the BC frame before
                film[:, second::2] = frames[window[centre - 1]][:, second::2]
            out.append(film)
        return torch.stack(out)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError("ivtc changes the rate: it runs in a rate stage")
