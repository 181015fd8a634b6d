"""Face restoration: find the faces, restore each with a model, blend them back.

For every output frame:

1. Faces are detected on each frame of the window (MTCNN, Haar cascades when its
   weights are missing, see `gpu_worker.engine.faces`; cached per frame, so a frame is
   searched once however many windows contain it) and tracked across the window; each
   track's box and landmarks are smoothed over time, so the crop does not jitter with
   the detector.
2. Each face is cut out as a square around its box (`expand` times the face), resized
   to the model's working size and restored. For GFPGAN / RestoreFormer the cut is
   aligned by MTCNN's five landmarks: the similarity transform that maps them onto
   the FFHQ 512 px template those models were trained on places, scales and rotates
   the cut (eyes level, eyes and mouth where the model expects them), and the
   restored change is rotated back into the frame. Other models keep an axis-aligned
   cut at whole pixels and the face's own size: resampling a noisy face (twice, there
   and back) would blur the grain the model removes, so less of it would go (on the
   test portrait, rotated cuts left the face's noise at 0.80 of the input's, above
   the 0.70 the test asks for). The face is restored by the project's trained network
   (`face_restore_v1`, a small NAFNet), by a user's checkpoint from the models folder
   (GFPGAN or RestoreFormer, which spandrel loads as "FaceSR" models working at 512 px,
   or any 1x restoration model), or, with `model: classical`, by an edge-preserving
   guided filter plus unsharp masking.
3. Temporal smoothing: the restorations of the same face in the neighbouring frames
   (each cut with that frame's own box) are averaged in, per pixel weighted by how
   much they agree with this frame's restoration, so restored detail does not boil
   from frame to frame and a moving mouth does not ghost.
4. Colour is kept: only the luma detail the model adds is transferred (the change above
   a coarse low-pass); the original's low-frequency luma and its colour stay, with the
   colour noise filtered. A face under a colour cast keeps its tone, and a model that
   shifts skin colour or exposure cannot show it.
5. `fidelity` scales the change (0 gives the input back bit for bit, 1 the full
   restoration) and a feathered ellipse around the face blends it into the frame.

The model is loaded when the operator is built (before any frame is decoded): a
missing or unsuitable checkpoint is a SpecError naming the parameter.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine import models
from gpu_worker.engine.faces import MTCNN_TO_HAAR, Box, detect_faces_cached, smooth_tracks
from gpu_worker.engine.filters import box_blur, gaussian_blur, luma
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.schema import FaceRestoreSchema, SpecError

CLASSICAL = "classical"
DETECT_SIDE = 400  # detection runs on a grey copy at most this long
FACE_SR_SIZE = 512  # GFPGAN / RestoreFormer work on 512 px aligned faces
MAX_WORK = 384  # other models: the face at its own size, at most this
CACHE_FRAMES = 64
# Where GFPGAN / RestoreFormer expect the five landmarks in their 512 px input (the
# FFHQ alignment template of facexlib, which both were trained with).
FFHQ_TEMPLATE = np.array([[192.98138, 239.94708], [318.90277, 240.1936],
                          [256.63416, 314.01935], [201.26117, 371.41043],
                          [313.08905, 371.15118]])


@dataclass(frozen=True)
class Cut:
    """A square cut of a frame: centre, side (frame pixels) and rotation (radians, the
    angle of the cut's x axis in the frame: the face's eye line). `aligned` is False
    for a plain axis-aligned cut at whole pixels (x0, y0 = its corner)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0
    aligned: bool = False

    @property
    def x0(self) -> int:
        return int(round(self.cx - self.side / 2))

    @property
    def y0(self) -> int:
        return int(round(self.cy - self.side / 2))

    def key(self) -> tuple[Any, ...]:
        return (round(self.cx, 2), round(self.cy, 2), round(self.side, 2),
                round(self.angle, 4), self.aligned)

    def to_cut(self, x: float, y: float, size: int) -> tuple[float, float]:
        """Frame point → (u, v) in the cut's pixels at working size `size`."""
        dx, dy = x - self.cx, y - self.cy
        c, s = math.cos(self.angle), math.sin(self.angle)
        k = size / self.side
        return ((c * dx + s * dy) * k + size / 2, (-s * dx + c * dy) * k + size / 2)


def similarity_to_template(points: np.ndarray, template: np.ndarray
                           ) -> tuple[float, float, float, float]:
    """Least-squares similarity (no reflection) mapping `template` points onto `points`
    (Umeyama): (scale, angle, tx, ty) with point = scale * R(angle) @ template + t."""
    src = np.asarray(template, np.float64)
    dst = np.asarray(points, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    # Complex-number form of the 2-D Procrustes problem.
    za = a[:, 0] + 1j * a[:, 1]
    zb = b[:, 0] + 1j * b[:, 1]
    z = (np.conj(za) * zb).sum() / max((np.abs(za) ** 2).sum(), 1e-12)
    scale, angle = float(abs(z)), float(np.angle(z))
    t = md - scale * np.array([[math.cos(angle), -math.sin(angle)],
                               [math.sin(angle), math.cos(angle)]]) @ ms
    return scale, angle, float(t[0]), float(t[1])


def aligned_crop(frame: torch.Tensor, cut: Cut, size: int) -> torch.Tensor:
    """(3, size, size) of (3, H, W) along a rotated cut, bilinear, edge pixels repeated
    outside the frame; anti-aliased when the cut is shrunk."""
    h, w = frame.shape[-2:]
    n = size if cut.side <= 1.25 * size else max(size, int(round(cut.side)))
    dev = frame.device
    t = (torch.arange(n, device=dev, dtype=torch.float32) + 0.5) / n - 0.5
    dy, dx = torch.meshgrid(t * cut.side, t * cut.side, indexing="ij")
    c, s = math.cos(cut.angle), math.sin(cut.angle)
    x = cut.cx + c * dx - s * dy
    y = cut.cy + s * dx + c * dy
    grid = torch.stack([2 * x / w - 1, 2 * y / h - 1], -1)[None]
    out = F.grid_sample(frame[None].float(), grid, mode="bilinear",
                        padding_mode="border", align_corners=False)
    return resize_square(out, size)[0]


def paste_aligned(out: torch.Tensor, cut: Cut, change: torch.Tensor) -> None:
    """Add `change` ((3, S, S) in the cut's pixels, already masked) into `out` (3, H, W)
    where the rotated cut covers it."""
    h, w = out.shape[-2:]
    r = cut.side * 0.7072 + 2  # half the diagonal, and a margin
    xa, xb = max(0, int(cut.cx - r)), min(w, int(math.ceil(cut.cx + r)))
    ya, yb = max(0, int(cut.cy - r)), min(h, int(math.ceil(cut.cy + r)))
    if xa >= xb or ya >= yb:
        return
    dev = out.device
    ys = torch.arange(ya, yb, device=dev, dtype=torch.float32) + 0.5 - cut.cy
    xs = torch.arange(xa, xb, device=dev, dtype=torch.float32) + 0.5 - cut.cx
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    c, s = math.cos(cut.angle), math.sin(cut.angle)
    u = (c * xx + s * yy) / cut.side * 2  # normalised [-1, 1] over the cut
    v = (-s * xx + c * yy) / cut.side * 2
    grid = torch.stack([u, v], -1)[None]
    part = F.grid_sample(change[None], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)[0]
    out[:, ya:yb, xa:xb] = (out[:, ya:yb, xa:xb] + part).clamp(0.0, 1.0)


def _fingerprint(thumb: np.ndarray) -> bytes:
    return hashlib.blake2b(thumb.tobytes(), digest_size=16).digest() + bytes(
        str(thumb.shape), "ascii")


def _thumbnail(frame: torch.Tensor, side: int) -> np.ndarray:
    """(3, H, W) float frame → (h, w, 3) uint8 RGB at most `side` long, on the CPU."""
    h, w = frame.shape[-2:]
    s = min(1.0, side / max(h, w))
    x = frame[None]
    if s < 1.0:
        x = F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))),
                          mode="area")
    return (x[0].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def crop_square(frame: torch.Tensor, x0: int, y0: int, side: int) -> torch.Tensor:
    """(3, side, side) cut of (3, H, W) at (x0, y0); outside the frame the edge pixels
    are repeated."""
    h, w = frame.shape[-2:]
    dev = frame.device
    ys = torch.arange(y0, y0 + side, device=dev).clamp(0, h - 1)
    xs = torch.arange(x0, x0 + side, device=dev).clamp(0, w - 1)
    return frame.index_select(1, ys).index_select(2, xs)


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, s, s) → (N, C, size, size), anti-aliased when shrinking."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1])


def ellipse_mask(side: int, cx: float, cy: float, ax: float, ay: float, feather: float,
                 device: torch.device) -> torch.Tensor:
    """(side, side) weights: 1 inside the ellipse shrunk by `feather`, a smoothstep to
    0 at the ellipse's edge."""
    coords = torch.arange(side, device=device, dtype=torch.float32) + 0.5
    dy = ((coords - cy) / max(ay, 1e-3))[:, None]
    dx = ((coords - cx) / max(ax, 1e-3))[None, :]
    d = torch.sqrt(dx * dx + dy * dy)
    t = ((1.0 - d) / max(feather, 1e-3)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def classical_restore(crop: torch.Tensor) -> torch.Tensor:
    """Edge-preserving denoise (self-guided filter on luma, strength from the crop's own
    noise estimate) followed by an unsharp mask: (N, 3, S, S) → same."""
    y = luma(crop)
    k = crop.new_tensor(((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0)))
    hp = F.conv2d(y, k.view(1, 1, 3, 3))
    sigma = hp.abs().flatten(1).median(dim=1).values / (0.6745 * 6.0)
    eps = ((2.0 * sigma) ** 2 + 1e-6).view(-1, 1, 1, 1)
    r = max(1, round(crop.shape[-1] / 96))
    mean = box_blur(y, r)
    var = (box_blur(y * y, r) - mean * mean).clamp_min(0)
    a = var / (var + eps)
    b = mean - a * mean
    smooth = box_blur(a, r) * y + box_blur(b, r)
    radius = max(1.0, crop.shape[-1] / 128)
    sharp = smooth + 0.6 * (smooth - gaussian_blur(smooth, radius))
    return (crop + (sharp - y)).clamp(0.0, 1.0)


def transfer_detail(original: torch.Tensor, restored: torch.Tensor, fidelity: float,
                    keep_colour: bool) -> torch.Tensor:
    """The crop to paste: `original` changed by `fidelity` times what the model did.

    keep_colour: take only the luma detail the model added (its change above a coarse
    low-pass), keep the original's low-frequency luma and its colour (colour noise
    filtered), so tone and skin colour cannot move.
    """
    if fidelity <= 0:
        return original
    if not keep_colour:
        return (original + fidelity * (restored - original)).clamp(0.0, 1.0)
    size = original.shape[-1]
    coarse = max(2.0, size / 24)  # low-pass: about an eye's width at the working size
    y_in, y_out = luma(original), luma(restored)
    detail = (y_out - gaussian_blur(y_out, coarse)) - (y_in - gaussian_blur(y_in, coarse))
    chroma = original - y_in
    fine = max(1.0, size / 128)
    chroma = chroma + fidelity * (gaussian_blur(chroma, fine) - chroma)
    return (y_in + fidelity * detail + chroma).clamp(0.0, 1.0)


class FaceRestore(FaceRestoreSchema, Operator):
    def __init__(self, params: dict[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        self.model: models.LoadedModel | None = None
        ref = self.p["model"].strip()
        if ref.lower() != CLASSICAL:
            try:
                self.model = models.load_model(
                    ref, device=ctx.device, models_dir=ctx.models_dir,
                    purpose=("FaceSR", "Restoration"), scale=1)
            except models.ModelError as exc:
                raise SpecError(f"{self.name}.model: {exc} (or use 'classical')",
                                op=self.name, param="model") from None
        self._restored: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()

    def temporal_radius(self) -> int:
        return int(self.p["smooth"]) + int(self.p["temporal"])

    # -- pieces -----------------------------------------------------------------------
    def _detect(self, frame: torch.Tensor) -> tuple[bytes, list[Box]]:
        thumb = _thumbnail(frame, DETECT_SIDE)
        key = _fingerprint(thumb)
        s = frame.shape[-1] / thumb.shape[1]
        found = detect_faces_cached(thumb, work_side=DETECT_SIDE,
                                    min_face=self.p["min_face"], profile=self.p["profile"])
        return key, [b.scaled(s) for b in found]

    def _face_sr(self) -> bool:
        return self.model is not None and self.model.info.purpose == "FaceSR"

    def _geometry(self, box: Box) -> Cut:
        """The square cut around a face. For a FaceSR model and a face with MTCNN's
        landmarks: placed, sized and rotated by the FFHQ template (the alignment those
        models were trained with). Otherwise axis-aligned, `expand` times the face, at
        whole pixels."""
        if box.landmarks is not None and self._face_sr():
            scale, angle, tx, ty = similarity_to_template(np.array(box.landmarks),
                                                          FFHQ_TEMPLATE)
            c, s = math.cos(angle), math.sin(angle)
            m = FACE_SR_SIZE / 2
            return Cut(scale * (c * m - s * m) + tx, scale * (s * m + c * m) + ty,
                       max(8.0, scale * FACE_SR_SIZE), angle, True)
        # `expand` is relative to a Haar box (brows to mouth); an MTCNN box (forehead
        # to chin) is about 1.2 times as tall, so it counts 0.86 of its size.
        face = max(box.w, box.h) * (1.0 if box.landmarks is None else MTCNN_TO_HAAR)
        side = max(8, int(round(face * self.p["expand"])))
        x0, y0 = int(round(box.cx - side / 2)), int(round(box.cy - side / 2))
        return Cut(x0 + side / 2, y0 + side / 2, float(side))

    def _work_size(self, side: int) -> int:
        """Side of the square the model sees. FaceSR models (GFPGAN, RestoreFormer)
        need their 512 px; other models see the face at its own size (no resampling,
        so what the model removes is removed exactly), larger faces are reduced to
        MAX_WORK."""
        info = self.model.info if self.model is not None else None
        if info is not None and info.purpose == "FaceSR":
            return FACE_SR_SIZE
        minimum = info.size_minimum if info is not None else 0
        return int(min(MAX_WORK, max(side, minimum, 16)))

    def _restore(self, key: bytes, frame: torch.Tensor, cut: Cut
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(original, restored) crops at working size, (3, S, S); cached per frame and
        cut, since neighbouring windows ask for the same ones."""
        size = self._work_size(int(round(cut.side)))
        cache_key = (key, *cut.key(), size)
        if cut.aligned:
            original = aligned_crop(frame, cut, size)[None]
        else:
            side = int(round(cut.side))
            original = resize_square(crop_square(frame, cut.x0, cut.y0, side)[None], size)
        restored = self._restored.get(cache_key)
        if restored is None:
            if self.model is None:
                restored = classical_restore(original)[0]
            else:
                restored = self.model(original).to(frame.device, torch.float32)[0]
                restored = restored.clamp(0.0, 1.0)
            self._restored[cache_key] = restored
            while len(self._restored) > CACHE_FRAMES:
                self._restored.popitem(last=False)
        return original[0], restored

    def _blend_face(self, out: torch.Tensor, box: Box, cut: Cut,
                    crop: torch.Tensor, original: torch.Tensor) -> None:
        """Add (crop - original), resized to the cut, through a feathered ellipse."""
        if cut.aligned:
            # An MTCNN box runs from the forehead to the chin; the ellipse covers it,
            # upright in the rotated cut, and stays inside the cut.
            size = crop.shape[-1]
            k = size / cut.side
            cu, cv = cut.to_cut(box.cx, box.cy, size)
            ax = min(0.85 * box.w * k, 0.49 * size)
            ay = min(0.85 * box.h * k, 0.49 * size)
            mask = ellipse_mask(size, cu, cv, ax, ay, self.p["feather"], out.device)
            paste_aligned(out, cut, (crop - original) * mask)
            return
        x0, y0, side = cut.x0, cut.y0, int(round(cut.side))
        h, w = out.shape[-2:]
        delta = resize_square((crop - original)[None], side)[0]
        # The ellipse covers the face with forehead and chin but stays inside the cut.
        # A Haar box runs from the brows to the mouth; an MTCNN box (it has landmarks)
        # from the forehead to the chin, about 1.2 times as tall.
        if box.landmarks is None:
            ax = min(0.8 * box.w, 0.49 * side)
            ay = min(1.0 * box.h, 0.49 * side)
            cy = box.cy + 0.05 * box.h - y0
        else:
            ax = min(MTCNN_TO_HAAR * box.w, 0.49 * side)
            ay = min(MTCNN_TO_HAAR * box.h, 0.49 * side)
            cy = box.cy - y0
        mask = ellipse_mask(side, box.cx - x0, cy, ax, ay, self.p["feather"], out.device)
        ya, yb = max(0, y0), min(h, y0 + side)
        xa, xb = max(0, x0), min(w, x0 + side)
        if ya >= yb or xa >= xb:
            return
        part = delta[:, ya - y0:yb - y0, xa - x0:xb - x0] * mask[ya - y0:yb - y0,
                                                                 xa - x0:xb - x0]
        out[:, ya:yb, xa:xb] = (out[:, ya:yb, xa:xb] + part).clamp(0.0, 1.0)

    # -- work -------------------------------------------------------------------------
    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        centre = self.centre(frames, windows)
        fidelity = float(self.p["fidelity"])
        if fidelity <= 0:
            return centre.clone()
        keys: dict[int, bytes] = {}
        dets: dict[int, list[Box]] = {}
        for k in sorted(set(windows.flatten().tolist())):
            keys[k], dets[k] = self._detect(frames[k])
        out = centre.clone()
        c = windows.shape[1] // 2
        reach = int(self.p["temporal"])
        sigma = max(0.5, self.p["smooth"] / 2.0)
        for b in range(windows.shape[0]):
            row = windows[b].tolist()
            tracks = smooth_tracks([dets[k] for k in row], sigma=sigma,
                                   min_hits=2 if self.p["smooth"] > 0 else 1)
            for track in tracks:
                box = track.boxes.get(c)
                if box is None:
                    continue
                geom = self._geometry(box)
                original, restored = self._restore(keys[row[c]], frames[row[c]], geom)
                acc = restored.clone()
                weight = torch.ones_like(restored[:1])
                for j in range(c - reach, c + reach + 1):
                    if j == c or j not in track.boxes or row[j] == row[c]:
                        continue
                    _o, other = self._restore(keys[row[j]], frames[row[j]],
                                              self._geometry(track.boxes[j]))
                    if other.shape != restored.shape:  # the face's size changed a little
                        other = resize_square(other[None], restored.shape[-1])[0]
                    # Agreement weight: neighbours that differ (motion, a wrong cut)
                    # fade out instead of ghosting.
                    diff = (other - restored).abs().mean(0, keepdim=True)
                    wj = torch.exp(-((diff / 0.05) ** 2)) * 0.5 ** abs(j - c)
                    acc += wj * other
                    weight += wj
                smoothed = acc / weight
                crop = transfer_detail(original[None], smoothed[None], fidelity,
                                       self.p["keep_colour"])[0]
                self._blend_face(out[b], box, geom, crop, original)
        return out
