"""The render pipeline: decode → chain of operator stages on the device → encode.

    render("in.mp4", "out.mp4", {"ops": [{"op": "deflicker"}, {"op": "grain"}]})

Streaming. Frames are decoded one at a time, scene cuts are detected on the fly, and
each operator runs as a *stage* that holds only the frames its temporal radius needs
plus one batch: a stage with radius r and batch size B holds at most B + 2r frames,
whatever the length of the film. Peak memory is the sum over stages, never the clip.

Windows and scene cuts. Every frame carries the id of its scene. The window around
output frame i is i-r..i+r clamped to the first and last frame of i's scene, so at a
cut the edge frame of the scene is repeated and no operator ever blends two shots.
A stage can emit frame i as soon as frame i+r has arrived or i's scene has ended.

Excerpts. For `start`/`end`, the pipeline also decodes the frames that the temporal
operators need on either side (the sum of the radii), so an excerpt shows exactly the
pixels the same frames get in a full render (up to scene detection, which sees only
the decoded frames). Only frames start..end-1 are encoded; the audio is trimmed to
the same span; timestamps start at zero.

Timestamps. Each frame keeps its source presentation timestamp and duration all the
way to the encoder, so variable frame rates and rates like 24000/1001 come out as
they went in (see io.VideoWriter).

Rate-changing operators. An operator with `changes_rate=True` (frame interpolation)
runs in a `RateStage`. It multiplies the rate by r = p/q (`Operator.rate_ratio`;
below 1 for inverse telecine, where some input frames make no output);
output frame m is made from input frame floor(m/r) and the next one at phase
m/r - floor(m/r) (see rate.py), so the outputs of input frames [a, b) are
[ceil(a·r), ceil(b·r)) whatever the batching, an excerpt or a film segment has a
frame count known in advance (`spec.expected_output_frames`) and segments tile the
whole render exactly. An output's timestamp is its input frame's plus the phase
times that frame's duration, in a time base p times finer than the source's, so the
picture lasts exactly as long as the source and the audio (copied as it is) stays in
sync. The windows stay clamped at cuts: the last frame of a scene has itself as its
next frame, so the operator holds it instead of blending two shots. Later stages see
output frame numbers as frame indices (consecutive), the scene ids of their source
frames, and the masks of the nearer source frame.

Regions. An op whose spec carries a `region` (face, person, background) has its output
blended with its input through that region's mask (see regions.py). When any op has
one, a `RegionStage` runs first: it computes each frame's masks once, from the decoded
frames, and they travel with the frame (`FrameItem.regions`) to every stage; its
temporal radius counts in the decoding context like any operator's.

Determinism. Operators seed randomness from the spec seed mixed with their position
and from absolute frame numbers, the encoder runs with a fixed thread count, and the
muxer writes no wall-clock time: the same spec on the same input gives the same bytes.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from gpu_worker.engine import encoding, io
from gpu_worker.engine.device import DeviceError, pick_device, render_threads, torch_threads
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.rate import MAX_TIME_BASE_DEN, as_rate
from gpu_worker.engine.regions import RegionAnnotator, RegionMasks, apply_region
from gpu_worker.engine.registry import OpContext, Operator, SpecError
from gpu_worker.engine.scenes import SceneCutDetector
from gpu_worker.engine.sequence import output_pattern_folder
from gpu_worker.engine.spec import PipelineSpec, expected_output_frames, parse_spec

__all__ = ["render", "RenderResult", "RenderCancelled", "RenderError", "build_operators",
           "Stage", "RateStage", "RegionStage", "expected_output_frames", "build_stages",
           "FrameItem", "process_frames", "ProgressCallback", "DeviceError"]

ProgressCallback = Callable[[int, int, float, float], None]
"""progress(frames_done, frames_total, fps, eta_seconds)"""

DEFAULT_BATCH = 8
PROGRESS_INTERVAL = 0.5  # seconds between progress calls
CANCEL_INTERVAL = 0.25  # seconds between should_cancel calls
OPEN_END_SLACK = 1_000_000  # frames past an estimated length a whole render may find


class RenderCancelled(Exception):
    """The render was stopped by `should_cancel`; no output file was left behind."""


class RenderError(Exception):
    """The render cannot be done as asked (output not writable, unsupported op...)."""


@dataclass
class RenderResult:
    output_path: str
    frames: int  # frames encoded
    fps: float  # processing speed, frames per second of wall time
    duration: float  # seconds of video written
    size: int  # bytes
    seconds: float  # wall time of the render
    width: int = 0
    height: int = 0
    start: int = 0
    end: int = 0
    spec_hash: str = ""
    device: str = "cpu"
    scene_cuts: list[int] = field(default_factory=list)  # absolute frame numbers
    audio: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FrameItem:
    """A frame travelling through the stages, with what the writer and windows need."""

    index: int  # absolute frame number in the source
    pts: int
    duration: int
    scene: int
    tensor: torch.Tensor  # (3, H, W) float32 in [0, 1] on the device
    regions: RegionMasks | None = None  # face/person masks, when the spec uses regions
    source: int | None = None  # source frame number, when a rate stage renumbered frames

    @property
    def source_index(self) -> int:
        return self.index if self.source is None else self.source


def build_operators(spec: PipelineSpec, *, width: int, height: int, fps: float,
                    device: torch.device, models_dir: Path | None = None,
                    assets_dir: Path | None = None,
                    rate: Fraction | str | None = None) -> list[Operator]:
    """Operator instances for a validated spec, each told its input size, frame rate
    (`rate`: the exact source rate when known, else `fps`) and seed."""
    operators: list[Operator] = []
    w, h = width, height
    current = as_rate(rate if rate is not None else fps)
    for i, op_spec in enumerate(spec.ops):
        cls = get_operator(op_spec.op)
        where = f"op #{i + 1} ({op_spec.op})"
        ctx = OpContext(device=device, seed=spec.op_seed(i), fps=float(current), rate=current,
                        width=w, height=h, models_dir=models_dir, assets_dir=assets_dir)
        if cls.changes_rate:
            try:
                ratio = cls.rate_ratio(op_spec.params, current)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}", op=op_spec.op, param=exc.param,
                                position=i + 1) from None
            if ratio <= 0 or (ratio < 1 and not cls.lowers_rate):
                raise SpecError(f"{where}: lowers the frame rate (ratio {ratio}), which "
                                "only inverse telecine may do", op=op_spec.op,
                                position=i + 1)
            current = current * ratio
        try:
            op = cls(op_spec.params, ctx)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}", op=op_spec.op, param=exc.param,
                            position=i + 1) from None
        radius = int(op.temporal_radius())
        if radius < 0:
            raise SpecError(f"{where}: negative temporal radius {radius}", op=op_spec.op,
                            position=i + 1)
        new_w, new_h = op.output_size(w, h)
        if new_w < 2 or new_h < 2:
            raise SpecError(f"{where}: output size {new_w}x{new_h} is too small",
                            op=op_spec.op, position=i + 1)
        if not cls.changes_size and (new_w, new_h) != (w, h):
            raise SpecError(f"{where}: changes the frame size but does not declare "
                            "changes_size", op=op_spec.op, position=i + 1)
        operators.append(op)
        w, h = new_w, new_h
    return operators


class Stage:
    """One operator over the frame stream, holding only the frames it needs.

    Frames must be pushed in order with consecutive indices. `push` returns the
    frames that became ready (possibly none); `finish` flushes the rest.
    """

    def __init__(self, op: Operator, batch_size: int = DEFAULT_BATCH,
                 region: str = "all") -> None:
        self.op = op
        self.region = region  # blend the op's output in only there (regions.py)
        self.radius = int(op.temporal_radius())
        self.batch_size = max(1, batch_size)
        self._buf: deque[FrameItem] = deque()
        self._next = 0  # position in _buf of the next frame to emit
        self.peak_frames = 0  # most frames held at once (for tests and benchmarks)

    def push(self, item: FrameItem) -> list[FrameItem]:
        self._buf.append(item)
        self.peak_frames = max(self.peak_frames, len(self._buf))
        out: list[FrameItem] = []
        while self._ready(final=False) >= self.batch_size:
            out.extend(self._run(self.batch_size))
        return out

    def finish(self) -> list[FrameItem]:
        out: list[FrameItem] = []
        while (n := self._ready(final=True)) > 0:
            out.extend(self._run(min(n, self.batch_size)))
        return out

    def _ready(self, final: bool) -> int:
        """How many frames from `_next` on have their whole window available."""
        total = len(self._buf)
        if final or total == self._next:
            return total - self._next
        last_scene = self._buf[-1].scene
        count = 0
        for pos in range(self._next, total):
            # Ready if the frame r ahead has arrived, or this frame's scene has
            # ended (its window is clamped before the cut).
            if pos + self.radius < total or self._buf[pos].scene != last_scene:
                count += 1
            else:
                break
        return count

    def _windows(self, positions: range) -> tuple[torch.Tensor, torch.Tensor]:
        """The distinct frames the windows of `positions` need, and the windows as
        indices into them, clamped to each frame's scene."""
        buf = self._buf
        r = self.radius
        cross = bool(getattr(self.op, "windows_cross_cuts", False))
        rows = []
        for pos in positions:
            scene = buf[pos].scene
            lo = pos
            while lo > 0 and lo > pos - r and (cross or buf[lo - 1].scene == scene):
                lo -= 1
            hi = pos
            while hi + 1 < len(buf) and hi < pos + r and (cross or buf[hi + 1].scene == scene):
                hi += 1
            rows.append([min(max(pos + k, lo), hi) for k in range(-r, r + 1)])
        first = min(row[0] for row in rows)
        last = max(row[-1] for row in rows)
        frames = torch.stack([buf[p].tensor for p in range(first, last + 1)])
        windows = torch.tensor(rows, dtype=torch.int64, device=frames.device) - first
        return frames, windows

    def _release(self, n: int) -> None:
        """Mark n frames emitted and drop those no later window can reach."""
        buf = self._buf
        r = self.radius
        self._next += n
        while self._next > r and len(buf) > 0 and self._next - r > 0:
            buf.popleft()
            self._next -= 1

    def _run(self, n: int) -> list[FrameItem]:
        buf = self._buf
        r = self.radius
        positions = range(self._next, self._next + n)
        frames, windows = self._windows(positions)
        device = frames.device
        numbers = torch.tensor([buf[p].index for p in positions], dtype=torch.int64,
                               device=device)
        with torch.inference_mode():
            result = self.op.process(frames, windows, numbers)
        if result.shape[0] != n or result.ndim != 4 or result.shape[1] != 3:
            raise RenderError(f"operator {self.op.name!r} returned shape "
                              f"{tuple(result.shape)} for {n} frames")
        if self.region != "all":
            masks = [buf[p].regions for p in positions]
            if any(m is None for m in masks):
                raise RenderError(f"operator {self.op.name!r} is limited to the "
                                  f"{self.region} region but no masks were computed")
            result = apply_region(frames[windows[:, r]], result, masks, self.region)
        out = [FrameItem(index=buf[p].index, pts=buf[p].pts, duration=buf[p].duration,
                         scene=buf[p].scene, tensor=result[j], regions=buf[p].regions)
               for j, p in enumerate(positions)]
        self._release(n)
        return out


class RateStage(Stage):
    """A rate-changing operator over the stream (see rate.py for the numbering).

    Input frame i leaves as output frames m in [ceil(i·r), ceil((i+1)·r)), numbered
    m, with timestamps in a time base `pts_scale` (= p of r = p/q) times finer than
    its input's. An output lasts until the next output's timestamp; the outputs of
    the last frame of the stream end with it, so the picture lasts as long as the
    source. The stage always sees one frame ahead (radius >= 1).
    """

    def __init__(self, op: Operator, ratio: Fraction, batch_size: int = DEFAULT_BATCH) -> None:
        super().__init__(op, batch_size)
        self.ratio = Fraction(ratio)
        if self.ratio <= 0:
            raise RenderError(f"operator {op.name!r}: rate ratio {self.ratio} is not "
                              "positive")
        self.radius = max(1, self.radius)
        self.pts_scale = self.ratio.numerator

    def frames_out(self, start: int, end: int) -> tuple[int, int]:
        """Output frames [m0, m1) of input frames [start, end) (the op's numbering)."""
        return self.op.frames_out(self.op.p, self.ratio, start, end)

    def _stamp(self, item: FrameItem, m: int) -> tuple[Fraction, int]:
        """(phase, timestamp in the stage's finer time base) of output m of `item`."""
        phase = Fraction(self.op.output_phase(self.op.p, self.ratio, item.index, m))
        offset = phase * self.pts_scale
        if offset.denominator != 1:
            raise RenderError(f"operator {self.op.name!r}: output {m} falls between "
                              "ticks of the output time base")
        return phase, item.pts * self.pts_scale + int(offset) * item.duration

    def _run(self, n: int) -> list[FrameItem]:
        buf = self._buf
        p, q = self.ratio.numerator, self.ratio.denominator
        positions = range(self._next, self._next + n)
        frames, windows = self._windows(positions)
        device = frames.device
        rows: list[int] = []
        phases: list[float] = []
        stamps: list[tuple[int, int, int, int]] = []  # (m, position, pts, duration)
        for j, pos in enumerate(positions):
            item = buf[pos]
            i = item.index
            m0, m1 = self.frames_out(i, i + 1)
            nxt = buf[pos + 1] if pos + 1 < len(buf) else None
            if nxt is not None and nxt.index != i + 1:
                raise RenderError(f"frames {i} and {nxt.index} are not consecutive")
            for m in range(m0, m1):
                phase, pts = self._stamp(item, m)
                if m + 1 < m1:
                    end = self._stamp(item, m + 1)[1]
                elif nxt is None:  # the end of the stream: the last output ends with its frame
                    end = (item.pts + item.duration) * p
                else:
                    end = self._next_start(pos + 1, m + 1, pts, q * item.duration)
                rows.append(j)
                phases.append(float(phase))
                stamps.append((m, pos, pts, max(1, end - pts)))
        out: list[FrameItem] = []
        if rows:
            rows_t = torch.tensor(rows, dtype=torch.int64, device=device)
            phases_t = torch.tensor(phases, dtype=torch.float32, device=device)
            with torch.inference_mode():
                result = self.op.process_rate(frames, windows, rows_t, phases_t)
            if result.ndim != 4 or result.shape[0] != len(rows) or result.shape[1] != 3:
                raise RenderError(f"operator {self.op.name!r} returned shape "
                                  f"{tuple(result.shape)} for {len(rows)} frames")
            for k, (m, pos, pts, duration) in enumerate(stamps):
                item = buf[pos]
                regions = item.regions
                if (phases[k] >= 0.5 and pos + 1 < len(buf)
                        and buf[pos + 1].scene == item.scene):
                    regions = buf[pos + 1].regions  # the nearer source frame's masks
                out.append(FrameItem(index=m, pts=pts, duration=duration, scene=item.scene,
                                     tensor=result[k], regions=regions,
                                     source=item.source_index))
        self._release(n)
        return out

    def _next_start(self, pos: int, m: int, pts: int, nominal: int) -> int:
        """The timestamp of output m, made by the frame at `pos` or one after it still
        in the buffer; else `pts` plus one nominal output duration."""
        for later in range(pos, len(self._buf)):
            item = self._buf[later]
            m0, m1 = self.frames_out(item.index, item.index + 1)
            if m0 <= m < m1:
                return self._stamp(item, m)[1]
            if m0 > m:
                break
        return pts + nominal


class RegionStage(Stage):
    """The first stage when a spec limits ops to regions: frames pass unchanged and
    leave with their face/person masks (computed from the decoded frames, once)."""

    def __init__(self, batch_size: int = DEFAULT_BATCH,
                 annotator: RegionAnnotator | None = None) -> None:
        self.annotator = annotator or RegionAnnotator()
        super().__init__(self.annotator, batch_size)

    def _run(self, n: int) -> list[FrameItem]:
        out = super()._run(n)
        for item, masks in zip(out, self.annotator.last_masks, strict=True):
            item.regions = masks
        return out


def build_stages(spec: PipelineSpec, operators: Sequence[Operator],
                 batch_size: int = DEFAULT_BATCH) -> list[Stage]:
    """One stage per operator, each with its op's region (a RateStage for an op that
    changes the rate), preceded by a RegionStage when any op is limited to a region."""
    stages: list[Stage] = []
    for op, o in zip(operators, spec.ops, strict=True):
        rate = op.ctx.rate if op.ctx.rate is not None else as_rate(op.ctx.fps)
        if op.changes_rate and op.rate_ratio(op.p, rate) != 1:
            stages.append(RateStage(op, op.rate_ratio(op.p, rate), batch_size))
        else:
            stages.append(Stage(op, batch_size, o.region))
    if spec.uses_regions:
        stages.insert(0, RegionStage(batch_size))
    return stages


def process_frames(items: Iterable[FrameItem], stages: Sequence[Stage]
                   ) -> Iterable[FrameItem]:
    """Run items through the chain of stages, streaming; yields frames in order.

    After the input ends, stages are flushed first to last: the frames a stage
    flushes still pass through every later stage before that one is flushed.
    """
    for item in items:
        yield from _feed_from(0, item, stages)
    for level in range(len(stages)):
        for ready in stages[level].finish():
            yield from _feed_from(level + 1, ready, stages)


def _feed_from(level: int, item: FrameItem, stages: Sequence[Stage]) -> Iterable[FrameItem]:
    if level == len(stages):
        yield item
        return
    for ready in stages[level].push(item):
        yield from _feed_from(level + 1, ready, stages)


def _to_8bit(image: np.ndarray) -> np.ndarray:
    """uint8 for the scene detector (thumbnails: 8 bits are plenty)."""
    return image if image.dtype == np.uint8 else (image >> 8).astype(np.uint8)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 (or uint16) → (3, H, W) float32 in [0, 1] on `device`.

    On the CPU the conversion is done in numpy: for one frame, torch's multi-threaded
    element-wise kernels cost more in thread hand-off than they save, badly so when
    other processes share the cores. On a GPU the uint8 frame is uploaded (4× less
    data than float) and converted there.
    """
    if image.dtype == np.uint16:
        planar = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        planar *= np.float32(1.0 / 65535.0)
        return torch.from_numpy(planar).to(device)
    if device.type == "cpu":
        planar = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        planar *= np.float32(1.0 / 255.0)
        return torch.from_numpy(planar)
    t = torch.from_numpy(image).to(device, non_blocking=True)
    return t.permute(2, 0, 1).float().div_(255.0)


def _to_image(tensor: torch.Tensor, deep: bool = False) -> np.ndarray:
    """(3, H, W) float in [0, 1] → (H, W, 3) uint8, rounding to nearest; uint16
    (0..65535) with `deep`, for outputs of more than 8 bits."""
    if deep:
        arr = tensor.detach().float().cpu().numpy().transpose(1, 2, 0) * np.float32(65535.0)
        arr += np.float32(0.5)
        return np.clip(arr, 0.0, 65535.0).astype(np.uint16)
    if tensor.device.type == "cpu":
        arr = tensor.detach().numpy().transpose(1, 2, 0) * np.float32(255.0)
        arr += np.float32(0.5)  # +0.5 then truncation is rounding for values >= 0
        return np.clip(arr, 0.0, 255.0).astype(np.uint8)
    t = tensor.mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
    return t.permute(1, 2, 0).cpu().numpy()


def _part_path(output: Path) -> Path:
    """A temporary name beside the output: same folder (so the final rename is
    atomic), hidden, unique per render, same suffix (so the container is clear)."""
    return output.with_name(f".{output.stem}.{uuid.uuid4().hex[:12]}.part{output.suffix}")


def _check_output(output: Path) -> None:
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise RenderError(f"cannot write {output}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise RenderError(f"cannot write {output}: folder {parent} is not writable")
    if output.is_dir():
        raise RenderError(f"cannot write {output}: it is a folder")


def render(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str],
           spec: Any, *, start: int | None = None, end: int | None = None,
           device: str | torch.device | None = None, batch_size: int = DEFAULT_BATCH,
           progress: ProgressCallback | None = None,
           should_cancel: Callable[[], bool] | None = None,
           scene_cuts: Sequence[int] | None = None, audio: bool = True,
           models_dir: str | os.PathLike[str] | None = None,
           assets_dir: str | os.PathLike[str] | None = None) -> RenderResult:
    """Restore `input_path` into `output_path` following `spec`.

    spec: a PipelineSpec, dict, list of ops or JSON text (validated first).
    start/end: frame range [start, end) to render (an excerpt or a segment).
    device: "cpu", "cuda", "cuda:N" or None for automatic.
    progress: called with (frames_done, frames_total, fps, eta_seconds).
    should_cancel: polled a few times a second; True stops the render, deletes the
        partial file and raises RenderCancelled.
    scene_cuts: absolute frame numbers starting new scenes, when already known (the
        analysis or the segment planner); None detects them while decoding.
    audio: carry the source's first audio stream over (copied, not re-encoded).

    Raises SpecError (bad spec), io.MediaError (bad input), RenderError (output or
    pipeline problem), DeviceError, RenderCancelled.
    """
    t0 = time.monotonic()
    parsed = parse_spec(spec)
    output = Path(output_path)
    try:
        fmt = encoding.container_format(output)
        parsed.encode.check_container(fmt)
    except encoding.EncodeError as exc:
        raise SpecError(str(exc), param="encode") from None
    _check_output(output)
    dev = pick_device(device)
    info = io.probe(input_path)
    # More than 8 bits in: decode to 16-bit RGB. More than 8 bits out: hand the writer
    # 16-bit RGB made from the float frames. 8-bit in and out keeps the uint8 path.
    deep_in = info.bit_depth > 8
    deep_out = parsed.encode.bit_depth > 8
    total = info.frame_count
    first = 0 if start is None else int(start)
    last = total if end is None else int(end)
    if first < 0 or (total and first >= total):
        raise SpecError(f"start: frame {first} is outside the clip (0..{total - 1})",
                        param="start")
    if last <= first:
        raise SpecError(f"end: frame {last} must be after start frame {first}", param="end")
    last = min(last, total) if total else last
    # A whole render of a stream whose length is only estimated (no index: NUT, raw
    # DV) goes to the stream's end, not to the estimate, which can be a frame short.
    open_end = end is None and bool(total) and not info.frame_count_exact
    stop = total + OPEN_END_SLACK if open_end else last

    source_rate = _source_rate(info)
    operators = build_operators(parsed, width=info.width, height=info.height, fps=info.fps,
                                device=dev,
                                models_dir=Path(models_dir) if models_dir else None,
                                assets_dir=Path(assets_dir) if assets_dir else None,
                                rate=source_rate)
    out_w, out_h = info.width, info.height
    for op in operators:
        out_w, out_h = op.output_size(out_w, out_h)
    if parsed.encode.effective_pix_fmt.startswith("yuv420") and (out_w % 2 or out_h % 2):
        raise SpecError(f"the output would be {out_w}x{out_h}; {parsed.encode.codec} with "
                        f"{parsed.encode.effective_pix_fmt} needs an even width and height "
                        "(add a resize op with even=true)", param="encode.pix_fmt")
    stages = build_stages(parsed, operators, batch_size)
    # Rate stages renumber frames: the range to write, in output frame numbers, and
    # the time base of their timestamps (see rate.py).
    out_first, out_last, pts_scale, out_rate = first, stop, 1, source_rate
    for stage in stages:
        if isinstance(stage, RateStage):
            out_first, out_last = stage.frames_out(out_first, out_last)
            pts_scale *= stage.pts_scale
            out_rate *= stage.ratio
    # A stage after rate stages counts its radius in their output frames. After a
    # rate rise those are no more source frames than the radius; after an inverse
    # telecine (4/5) they are up to 5/4 as many.
    context, ratio_before = 0, Fraction(1)
    for stage in stages:
        context += math.ceil(stage.radius / min(ratio_before, Fraction(1)))
        if isinstance(stage, RateStage):
            ratio_before *= stage.ratio
    dec_start = max(0, first - context)
    dec_end = stop + context + 1  # +1: the frame after the range gives the last duration

    container = io.open_input(input_path)
    vstream = container.streams.video[0]
    for s in container.streams.video:
        if not (s.disposition & av.stream.Disposition.attached_pic):
            vstream = s
            break
    time_base = vstream.time_base or Fraction(1, 90000)
    stream_end = None
    if vstream.duration is not None:
        stream_end = (vstream.start_time or 0) + vstream.duration
    container.close()
    item_time_base = time_base / pts_scale
    write_time_base = (item_time_base if item_time_base.denominator <= MAX_TIME_BASE_DEN
                       else Fraction(1, 1_000_000))

    def write_pts(pts: int) -> int:
        if write_time_base == item_time_base:
            return pts
        return round(pts * item_time_base / write_time_base)

    # An image-sequence output (frames/%06d.tif) is written into a hidden folder
    # beside its files and moved into place only on success, like a video's part file.
    seq_folder = output_pattern_folder(output)
    part_dir: Path | None = None
    if seq_folder is not None:
        part_dir = seq_folder / f".{uuid.uuid4().hex[:12]}.part"
        part_dir.mkdir()
        part = part_dir / output.name
    else:
        part = _part_path(output)
    audio = audio and seq_folder is None  # image files carry no sound
    writer: io.VideoWriter | None = None
    cuts: list[int] = []
    frames_done = 0
    frames_total = out_last - out_first
    if open_end:  # progress counts to the estimate
        lo, hi = first, last
        for stage in stages:
            if isinstance(stage, RateStage):
                lo, hi = stage.frames_out(lo, hi)
        frames_total = hi - lo
    last_source = first - 1
    last_progress = 0.0
    last_cancel_check = 0.0
    known_cuts = set(int(c) for c in scene_cuts) if scene_cuts is not None else None
    detector = SceneCutDetector() if known_cuts is None else None

    def decoded_items() -> Iterable[FrameItem]:
        """Decoded frames with their scene ids and true durations (one frame look-ahead:
        a frame's duration is the gap to the next frame's timestamp)."""
        scene = 0
        prev: io.DecodedFrame | None = None
        prev_delta: int | None = None
        prev_scene = 0
        for dec in io.iter_decoded(input_path, start=dec_start, end=dec_end,
                                   high_bit_depth=deep_in):
            is_cut = (detector.push(_to_8bit(dec.image)) if detector is not None
                      else dec.index in known_cuts and dec.index != dec_start)
            if is_cut and dec.index > dec_start:
                cuts.append(dec.index)
            if prev is not None:
                prev_delta = dec.pts - prev.pts
                yield FrameItem(prev.index, prev.pts, prev_delta, prev_scene,
                                _to_tensor(prev.image, dev))
            if is_cut and dec.index > dec_start:
                scene += 1
            prev, prev_scene = dec, scene
        if prev is not None:
            if stream_end is not None and stream_end > prev.pts:
                duration = stream_end - prev.pts
            else:
                duration = prev_delta or max(1, int(round(1 / (info.fps * time_base))))
            yield FrameItem(prev.index, prev.pts, duration, prev_scene,
                            _to_tensor(prev.image, dev))

    # Operators run with the render's torch thread count (one on the CPU, see
    # device.render_threads); the caller's setting comes back afterwards.
    threads = ExitStack()
    threads.enter_context(torch_threads(render_threads(dev)))
    try:
        pts_offset = None
        for item in process_frames(decoded_items(), stages):
            now = time.monotonic()
            if should_cancel is not None and now - last_cancel_check >= CANCEL_INTERVAL:
                last_cancel_check = now
                if should_cancel():
                    raise RenderCancelled("render cancelled")
            if item.index < out_first or item.index >= out_last:
                continue
            if writer is None:
                pts_offset = 0 if first == 0 else item.pts
                t_start = 0.0 if first == 0 else float(item.pts * item_time_base)
                writer = io.VideoWriter(
                    part, width=out_w, height=out_h, time_base=write_time_base,
                    rate=out_rate, settings=parsed.encode,
                    colour=io.ColourTags.from_info(info),
                    sample_aspect_ratio=info.sample_aspect_ratio,
                    audio_source=input_path if (audio and info.has_audio) else None,
                    audio_range=(t_start, _audio_end(input_path, last, total, time_base)),
                    container_fmt=fmt,
                    timecode=_output_timecode(info.timecode, source_rate, t_start, out_rate))
            start_pts = write_pts(item.pts - pts_offset)
            writer.write(_to_image(item.tensor, deep_out), start_pts,
                         write_pts(item.pts - pts_offset + item.duration) - start_pts)
            frames_done += 1
            last_source = max(last_source, item.source_index)
            if progress is not None and (now - last_progress >= PROGRESS_INTERVAL):
                last_progress = now
                elapsed = max(now - t0, 1e-6)
                speed = frames_done / elapsed
                progress(frames_done, frames_total, speed,
                         max(0.0, (frames_total - frames_done) / max(speed, 1e-6)))
        if writer is None:
            raise RenderError("no frame could be decoded in the requested range")
        writer.close()
        if part_dir is not None:
            written = sorted(part_dir.iterdir())
            for f in written:
                os.replace(f, seq_folder / f.name)
            part_dir.rmdir()
            out_size = sum((seq_folder / f.name).stat().st_size for f in written)
            out_duration = float(frames_done / out_rate)
        else:
            os.replace(part, output)
            out_size, out_duration = output.stat().st_size, _video_duration(output)
    except BaseException:
        if writer is not None:
            writer.abort()
        if part_dir is not None:
            shutil.rmtree(part_dir, ignore_errors=True)
        else:
            part.unlink(missing_ok=True)
        raise
    finally:
        threads.close()
    seconds = time.monotonic() - t0
    if progress is not None:
        progress(frames_done, frames_done, frames_done / max(seconds, 1e-6), 0.0)
    return RenderResult(
        output_path=str(output), frames=frames_done, fps=frames_done / max(seconds, 1e-6),
        duration=out_duration, size=out_size, seconds=seconds,
        width=out_w, height=out_h, start=first, end=last_source + 1,
        spec_hash=parsed.spec_hash, device=str(dev), scene_cuts=sorted(cuts),
        audio=bool(audio and info.has_audio))


def _source_rate(info: io.MediaInfo) -> Fraction:
    """The source's exact frame rate (its rational rate, else the float one)."""
    try:
        rate = info.fps_rational
        if rate > 0:
            return rate
    except (ValueError, ZeroDivisionError):
        pass
    return as_rate(info.fps if info.fps > 0 else 24.0)


def _output_timecode(source_tc: str | None, source_rate: Fraction, t_start: float,
                     out_rate: Fraction) -> str | None:
    """The source timecode of an output's first frame, t_start seconds into the source,
    counted at the output's rate (drop-frame kept for 29.97/59.94). None without a
    source timecode or when it cannot be read."""
    if not source_tc:
        return None
    from opentimelineio import opentime

    try:
        start = opentime.from_timecode(source_tc, float(source_rate))
        at = opentime.RationalTime.from_seconds(start.to_seconds() + t_start)
        rate = float(out_rate)
        drop = ";" in source_tc and rate in (30000 / 1001, 60000 / 1001)
        return opentime.to_timecode(at.rescaled_to(rate), rate, drop)
    except (ValueError, RuntimeError, TypeError):
        return None


def _audio_end(path: str | os.PathLike[str], last: int, total: int,
               time_base: Fraction) -> float | None:
    """Time where the excerpt's audio stops: the timestamp of frame `last`."""
    if last >= total:
        return None
    table = io.frame_pts_table(path, upto=last)
    if last < len(table):
        return float(table[last] * time_base)
    return None


def _video_duration(path: Path) -> float:
    try:
        return io.probe(path).duration
    except io.MediaError:
        return 0.0

