"""ivtc: inverse telecine of 3:2 pulldown (29.97 video frames → 23.976 film frames).

A rate stage at ratio 4/5 (see rate.py and pipeline.RateStage): input frame i makes
one output unless i % 5 == 4, and output slot i receives the film frame that
`interlace.film_source` assigns it, put together from the two fields that show it.
Every film frame lies within one video frame of its slot, so the operator needs a
temporal radius of one. The fields are copied as they are: on a lossless source the
film frames come back bit for bit.
"""

from __future__ import annotations

import torch

from gpu_worker.engine.interlace import CADENCE, FILM_PER_CYCLE, film_source
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import IvtcSchema

__all__ = ["Ivtc"]


class Ivtc(IvtcSchema, Operator):
    def temporal_radius(self) -> int:
        return 1

    def process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                     rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        offset = int(self.p["offset"])
        # Input i = 5k + j (j < 4) makes output 4k + j at phase j/4, so the phase
        # gives the input's place in the 5-frame cycle.
        slots = torch.round(phases * FILM_PER_CYCLE).to(torch.int64).tolist()
        second = 0 if self.p["field_order"] == "bff" else 1  # rows of the second field
        out = []
        for row, j in zip(rows.tolist(), slots, strict=True):
            first_src, second_src = film_source(j % CADENCE, offset)
            window = windows[row]
            centre = window.shape[0] // 2
            a = frames[window[centre + first_src - j]]
            b = frames[window[centre + second_src - j]]
            film = a.clone()
            film[:, second::2] = b[:, second::2]
            out.append(film)
        return torch.stack(out)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError("ivtc changes the rate: it runs in a rate stage")
