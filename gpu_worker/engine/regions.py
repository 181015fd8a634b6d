"""Portrait / background separation: soft per-frame masks an operator can be limited to.

A spec op may carry `"region": "face" | "person" | "background"` (default "all"):

    {"ops": [{"op": "sharpen", "region": "face"},
             {"op": "grain", "region": "background", "params": {"strength": 0.8}}]}

The pipeline then blends that op's output with its input through the region's mask
(`out = input + mask * (op(input) - input)`), so outside the region the frame passes
through bit for bit. Ops that change the frame size or rate cannot take a region.

The masks are computed once per frame per render, from the decoded frames, before the
first operator, and travel with the frame to every op that uses them:

* **face**: a feathered ellipse around each face (forehead to chin), from the faces
  found with `gpu_worker.engine.faces` and tracked over a window of frames, the boxes
  smoothed over time so the mask does not jitter;
* **person**: head and shoulders: a template built from each face box (head ellipse,
  neck, shoulders widening below), refined with OpenCV's GrabCut at a small working
  size (the template's core is sure foreground, far from it sure background), then
  averaged with the template itself and feathered, so a GrabCut mistake on one frame
  moves the edge a little, never a whole shoulder;
* **background**: 1 - person.

Everything is deterministic (GrabCut's k-means is seeded per frame) and depends only
on the frames of the window, so an excerpt gets the same masks as a full render.
Masks are kept at a small working size and resized to each op's frame size (an op
after a resize gets a resized mask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.faces import Box, detect_faces_cached, haar_frame, smooth_tracks
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.spec import REGIONS

__all__ = ["REGIONS", "RegionMasks", "RegionMasker", "RegionAnnotator", "face_mask",
           "person_template", "person_mask", "apply_region", "DEFAULT_RADIUS"]

MASK_SIDE = 256  # masks are computed at most this long
DETECT_SIDE = 400
DEFAULT_RADIUS = 3  # frames on either side used to track and smooth the face boxes


@dataclass
class RegionMasks:
    """The soft masks of one frame, (h, w) float32 in [0, 1] at the working size."""

    face: np.ndarray
    person: np.ndarray
    faces: list[Box]  # the smoothed face boxes in frame pixels

    def array(self, region: str) -> np.ndarray:
        if region == "face":
            return self.face
        if region == "person":
            return self.person
        if region == "background":
            return 1.0 - self.person
        if region == "all":
            return np.ones_like(self.face)
        raise ValueError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")

    def mask(self, region: str, height: int, width: int,
             device: torch.device | str = "cpu") -> torch.Tensor:
        """(1, height, width) float32 mask on `device`, resized from the working size."""
        m = torch.from_numpy(np.ascontiguousarray(self.array(region), np.float32))
        m = m.to(device)[None, None]
        if m.shape[-2:] != (height, width):
            m = F.interpolate(m, size=(height, width), mode="bilinear",
                              align_corners=False)
        return _snap(m[0])


def _snap(m: torch.Tensor | np.ndarray) -> Any:
    """Clamp to [0, 1] and snap values within 0.1 % of 0 or 1 to exactly 0 or 1:
    filtering leaves 0.9999994 inside a region, and only an exact 0 or 1 lets the
    pixels outside (or deep inside) a region come through bit for bit."""
    if isinstance(m, torch.Tensor):
        m = m.clamp(0.0, 1.0)
        return torch.where(m < 1e-3, torch.zeros_like(m),
                           torch.where(m > 1 - 1e-3, torch.ones_like(m), m))
    m = np.clip(m, 0.0, 1.0)
    return np.where(m < 1e-3, 0.0, np.where(m > 1 - 1e-3, 1.0, m)).astype(np.float32)


def _ellipse(shape: tuple[int, int], cx: float, cy: float, ax: float, ay: float,
             feather: float) -> np.ndarray:
    h, w = shape
    ys = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    xs = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
    d = np.sqrt(((xs - cx) / max(ax, 1e-3)) ** 2 + ((ys - cy) / max(ay, 1e-3)) ** 2)
    t = np.clip((1.0 - d) / max(feather, 1e-3), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def face_mask(shape: tuple[int, int], faces: list[Box], feather: float = 0.3
              ) -> np.ndarray:
    """Soft ellipses over the faces (boxes in the mask's pixels)."""
    out = np.zeros(shape, np.float32)
    for b in faces:
        out = np.maximum(out, _ellipse(shape, b.cx, b.cy + 0.05 * b.h, 0.75 * b.w,
                                       0.95 * b.h, feather))
    return out


def person_template(shape: tuple[int, int], faces: list[Box]) -> np.ndarray:
    """Hard (0/1) head-and-shoulders shape for each face (boxes in the mask's pixels):
    head ellipse, neck, then shoulders widening to about three face widths."""
    h, w = shape
    out = np.zeros(shape, np.uint8)
    for b in faces:
        cx, cy, fw, fh = b.cx, b.cy, b.w, b.h
        cv2.ellipse(out, (round(cx), round(cy - 0.1 * fh)),
                    (max(1, round(0.78 * fw)), max(1, round(1.1 * fh))), 0, 0, 360, 1, -1)
        neck_top = cy + 0.6 * fh
        shoulders = cy + 1.35 * fh
        poly = np.array([
            [cx - 0.4 * fw, neck_top], [cx + 0.4 * fw, neck_top],
            [cx + 0.5 * fw, shoulders - 0.2 * fh], [cx + 1.5 * fw, shoulders + 0.3 * fh],
            [cx + 1.7 * fw, h + fh], [cx - 1.7 * fw, h + fh],
            [cx - 1.5 * fw, shoulders + 0.3 * fh], [cx - 0.5 * fw, shoulders - 0.2 * fh],
        ])
        cv2.fillPoly(out, [np.round(poly).astype(np.int32)], 1)
    return out


def person_mask(image: np.ndarray, faces: list[Box], *, refine: bool = True,
                seed: int = 0) -> np.ndarray:
    """Soft person mask of an (h, w, 3) uint8 RGB image (faces in its pixels)."""
    shape = image.shape[:2]
    if not faces:
        return np.zeros(shape, np.float32)
    template = person_template(shape, faces)
    soft = template.astype(np.float32)
    if refine and template.any() and not template.all():
        # GrabCut seeds: the face cores are sure person, the template probable person,
        # a band around it probable background, everything farther sure background.
        grow = max(3, round(0.6 * float(np.median([b.w for b in faces]))))
        near = cv2.dilate(template, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        seeds[near > 0] = cv2.GC_PR_BGD
        seeds[template > 0] = cv2.GC_PR_FGD
        for b in faces:
            core = _ellipse(shape, b.cx, b.cy, 0.4 * b.w, 0.5 * b.h, 0.01) > 0.5
            seeds[core] = cv2.GC_FGD
        if (seeds == cv2.GC_BGD).any() or (seeds == cv2.GC_PR_BGD).any():
            bgd = np.zeros((1, 65), np.float64)
            fgd = np.zeros((1, 65), np.float64)
            cv2.setRNGSeed(seed)  # GrabCut's k-means start: same frame, same mask
            try:
                cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), seeds, None, bgd, fgd,
                            3, cv2.GC_INIT_WITH_MASK)
                cut = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.float32)
                soft = 0.5 * soft + 0.5 * cut
            except cv2.error:
                pass  # degenerate colour model (a flat frame): keep the template
    sigma = max(1.0, 0.015 * max(shape))
    return _snap(cv2.GaussianBlur(soft, (0, 0), sigma))


class RegionMasker:
    """Masks for the centre frame of a window of frames, with per-frame caches.

    `masks(images, centre)` takes the window's frames as (H, W, 3) uint8 RGB numpy
    arrays at the mask working size plus the frame size they came from.
    """

    def __init__(self, *, min_face: float = 0.05, profile: bool = True,
                 radius: int = DEFAULT_RADIUS, refine: bool = True) -> None:
        self.min_face = min_face
        self.profile = profile
        self.radius = radius
        self.refine = refine

    def detect(self, thumb: np.ndarray) -> list[Box]:
        """Faces in a detection thumbnail (cached by content, shared with the
        face_restore operator)."""
        # The mask templates are sized on Haar boxes: MTCNN's boxes are mapped to them.
        return [haar_frame(b) for b in detect_faces_cached(
            thumb, work_side=DETECT_SIDE, min_face=self.min_face, profile=self.profile)]

    def masks(self, thumbs: list[np.ndarray], centre: int, frame_size: tuple[int, int],
              seed: int = 0) -> RegionMasks:
        """thumbs: the window's detection thumbnails (same size); centre: position of
        the frame whose masks are wanted; frame_size: (height, width) of the frames."""
        dets = [self.detect(t) for t in thumbs]
        tracks = smooth_tracks(dets, sigma=max(0.5, self.radius / 2.0),
                               min_hits=2 if self.radius > 0 else 1)
        boxes = [t.boxes[centre] for t in tracks if centre in t.boxes]
        th, tw = thumbs[centre].shape[:2]
        fh, fw = frame_size
        s = min(1.0, MASK_SIDE / max(th, tw))
        mh, mw = max(1, round(th * s)), max(1, round(tw * s))
        small = thumbs[centre] if s == 1.0 else cv2.resize(
            thumbs[centre], (mw, mh), interpolation=cv2.INTER_AREA)
        in_mask = [b.scaled(s) for b in boxes]
        face = face_mask((mh, mw), in_mask)
        person = np.maximum(person_mask(small, in_mask, refine=self.refine, seed=seed),
                            face)
        return RegionMasks(face=face, person=person,
                           faces=[b.scaled(fw / tw) for b in boxes])


class RegionAnnotator(Operator):
    """The pipeline's first stage when a spec uses regions: passes frames through and
    computes each frame's `RegionMasks` (read back from `last_masks`). Not registered:
    specs cannot name it."""

    name = "regions"
    category = "internal"

    def __init__(self, params: dict[str, Any] | None = None,
                 ctx: OpContext | None = None, *, radius: int = DEFAULT_RADIUS) -> None:
        super().__init__(params or {}, ctx or OpContext())
        self.masker = RegionMasker(radius=radius)
        self.last_masks: list[RegionMasks] = []

    def temporal_radius(self) -> int:
        return self.masker.radius

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[-2:]
        s = min(1.0, DETECT_SIDE / max(h, w))
        small = frames
        if s < 1.0:
            small = F.interpolate(frames, size=(max(1, round(h * s)), max(1, round(w * s))),
                                  mode="area")
        thumbs = (small.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)
        thumbs_np = thumbs.cpu().numpy()
        c = windows.shape[1] // 2
        self.last_masks = []
        for b in range(windows.shape[0]):
            row = windows[b].tolist()
            self.last_masks.append(self.masker.masks(
                [thumbs_np[k] for k in row], c, (h, w), seed=int(frame_numbers[b])))
        return self.centre(frames, windows)


def apply_region(before: torch.Tensor, after: torch.Tensor, masks: list[RegionMasks],
                 region: str) -> torch.Tensor:
    """Blend an op's output with its input through each frame's region mask:
    (B, 3, H, W) each; where the mask is 0 the input comes back bit for bit."""
    if region == "all":
        return after
    out = after.clone()
    h, w = after.shape[-2:]
    for b, m in enumerate(masks):
        mask = m.mask(region, h, w, after.device)
        blended = before[b] + mask * (after[b] - before[b])
        out[b] = torch.where(mask <= 0, before[b], torch.where(mask >= 1, after[b], blended))
    return out
