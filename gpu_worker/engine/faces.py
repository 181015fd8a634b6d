"""Faces: detection with OpenCV's Haar cascades, tracking across frames, smoothing.

Detection. OpenCV 5 wheels ship neither the Haar cascade files (`cv2.data` is empty)
nor a cascade classifier, so the three classic cascades (frontal "default", frontal
"alt2", profile; Intel licence, text inside each file) are shipped gzipped in
`gpu_worker/engine/cascades/` and run by `HaarCascade`, a numpy implementation of
OpenCV's evaluator: integral images, variance-normalised Haar features, stumps and
small trees, stage thresholds, the same scale pyramid, sliding step and window
grouping as `cv2.CascadeClassifier.detectMultiScale`. It was checked against
OpenCV 4.10's classifier (same boxes on the test images, see docs/faces.md).

`detect_faces` runs the cascades on a downscaled, contrast-equalised grey copy of the
frame (old film is low in contrast and the cascades reject windows flatter than 10
grey levels), keeps frontal faces that both frontal cascades see or that one sees with
many neighbours, adds profiles (both directions, by mirroring), and merges
overlapping boxes.

Tracking. `FaceTracker` associates the detections of consecutive frames by overlap
(IoU, with the previous box moved by the track's velocity), keeps a track alive
through a few missed detections, and gives every track a stable id. `smooth_tracks`
runs it over a short run of frames and returns, for each confirmed track, a box for
every frame of its span (gaps filled by interpolation, ends held for a few frames)
smoothed with a Gaussian over time: the boxes operators crop with no longer jitter
with the detector's 10 % scale steps.

Everything is deterministic: the same frames give the same boxes and the same ids.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

__all__ = ["Box", "HaarCascade", "load_cascade", "detect_faces", "detect_faces_cached",
           "merge_boxes",
           "FaceTracker", "TrackState", "SmoothTrack", "smooth_tracks", "CASCADE_DIR",
           "grey_for_detection"]

CASCADE_DIR = Path(__file__).resolve().parent / "cascades"
CASCADES = {
    "frontal": "haarcascade_frontalface_default.xml.gz",
    "frontal_alt2": "haarcascade_frontalface_alt2.xml.gz",
    "profile": "haarcascade_profileface.xml.gz",
}
THRESHOLD_EPS = 1e-5  # OpenCV subtracts this from every stage threshold
MAX_GATHER = 400_000  # candidate x node pairs evaluated at once (bounds memory)


# ----------------------------------------------------------------------------------
# boxes
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """An axis-aligned face box in frame pixels (floats), with the detector's support."""

    x: float
    y: float
    w: float
    h: float
    score: float = 0.0  # neighbours that voted for it (0 for interpolated boxes)
    kind: str = "frontal"  # frontal | profile

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def overlap_small(self, other: Box) -> float:
        """Intersection over the smaller box's area (1 when one contains the other)."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        small = min(self.area, other.area)
        return ix * iy / small if small > 0 else 0.0

    def scaled(self, s: float) -> Box:
        return replace(self, x=self.x * s, y=self.y * s, w=self.w * s, h=self.h * s)

    def shifted(self, dx: float, dy: float) -> Box:
        return replace(self, x=self.x + dx, y=self.y + dy)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    def to_dict(self) -> dict[str, float | str]:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "w": round(self.w, 2),
                "h": round(self.h, 2), "score": self.score, "kind": self.kind}


def _blend(a: Box, b: Box, t: float) -> Box:
    return Box(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, a.w + (b.w - a.w) * t,
               a.h + (b.h - a.h) * t, 0.0, a.kind)


# ----------------------------------------------------------------------------------
# Haar cascade evaluator
# ----------------------------------------------------------------------------------
@dataclass
class _Stage:
    threshold: float
    node_feature: np.ndarray  # (M,) feature index of every node of the stage
    node_threshold: np.ndarray  # (M,)
    node_left: np.ndarray  # (M,) >0: node (relative to its tree root), <=0: leaf -value
    node_right: np.ndarray
    tree_root: np.ndarray  # (T,) index of each tree's first node in the stage's nodes
    tree_leaf: np.ndarray  # (T,) index of each tree's first leaf in `leaves`
    leaves: np.ndarray
    depth: int
    entry_rect: np.ndarray | None = None  # (E, 4) x, y, w, h of every weighted rectangle
    entry_matrix: np.ndarray | None = None  # (E, M) weight of rectangle e in node m


class HaarCascade:
    """An OpenCV Haar cascade (the XML format of opencv_traincascade) run with numpy.

    Faithful to OpenCV's evaluator: features are rectangle sums of the integral image
    weighted as stored, divided by the window's standard deviation times its inner
    area ((W-2)·(H-2) pixels, a one-pixel border left out); windows whose deviation is
    under 10 grey levels are rejected outright; a stage passes when the sum of its
    trees' leaves reaches its threshold.
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        raw = p.read_bytes()
        if p.suffix == ".gz":
            raw = gzip.decompress(raw)
        root = ET.fromstring(raw)
        cascade = root.find("cascade")
        if cascade is None:
            cascade = root[0]
        if (cascade.findtext("featureType") or "").strip().upper() != "HAAR":
            raise ValueError(f"{p.name}: not a Haar cascade")
        self.name = p.name.split(".")[0]
        self.width = int(cascade.findtext("width") or 0)
        self.height = int(cascade.findtext("height") or 0)
        features = []
        for feat in cascade.find("features") or []:
            if int((feat.findtext("tilted") or "0").strip() or 0):
                raise ValueError(f"{p.name}: tilted features are not supported")
            rects = []
            for r in feat.find("rects") or []:
                vals = [float(v) for v in (r.text or "").split()]
                rects.append(vals[:5])
            while len(rects) < 3:
                rects.append([0, 0, 0, 0, 0.0])
            features.append(rects[:3])
        feats = np.array(features, dtype=np.float64)  # (F, 3, 5)
        self._rects = feats[:, :, :4].astype(np.int64)
        self._weights = feats[:, :, 4]
        self.stages: list[_Stage] = []
        for st in cascade.find("stages") or []:
            thr = float(st.findtext("stageThreshold") or 0.0) - THRESHOLD_EPS
            nf, nt, nl, nr, roots, leaf_starts, leaves = [], [], [], [], [], [], []
            depth = 1
            for weak in st.find("weakClassifiers") or []:
                nodes = [float(v) for v in (weak.findtext("internalNodes") or "").split()]
                leaf = [float(v) for v in (weak.findtext("leafValues") or "").split()]
                roots.append(len(nf))
                leaf_starts.append(len(leaves))
                count = len(nodes) // 4
                depth = max(depth, count)
                for k in range(count):
                    left, right, fi, t = nodes[4 * k:4 * k + 4]
                    nl.append(int(left))
                    nr.append(int(right))
                    nf.append(int(fi))
                    nt.append(t)
                leaves.extend(leaf)
            self.stages.append(_Stage(thr, np.array(nf, np.int64), np.array(nt),
                                      np.array(nl, np.int64), np.array(nr, np.int64),
                                      np.array(roots, np.int64),
                                      np.array(leaf_starts, np.int64),
                                      np.array(leaves), depth))
        for stage in self.stages:
            rects, rows, cols, wts = [], [], [], []
            for k, fi in enumerate(stage.node_feature.tolist()):
                for r, wt in zip(self._rects[fi].tolist(), self._weights[fi].tolist(),
                                 strict=True):
                    if wt != 0.0:
                        rows.append(len(rects))
                        rects.append(r)
                        cols.append(k)
                        wts.append(wt)
            mat = np.zeros((len(rects), stage.node_feature.size))
            mat[rows, cols] = wts
            stage.entry_rect = np.array(rects, np.int64).reshape(-1, 4)
            stage.entry_matrix = mat
        self._offsets_for: dict[tuple[int, int], np.ndarray] = {}

    # -- one scale ------------------------------------------------------------------
    def _offsets(self, stage_no: int, stride: int) -> np.ndarray:
        """(E, 4) flat offsets of the corners of each weighted rectangle of a stage in
        an integral image with row length `stride`: top-left, top-right, bottom-left,
        bottom-right."""
        key = (stage_no, stride)
        off = self._offsets_for.get(key)
        if off is None:
            r = self.stages[stage_no].entry_rect
            assert r is not None
            x, y, w, h = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
            off = np.stack([y * stride + x, y * stride + x + w, (y + h) * stride + x,
                            (y + h) * stride + x + w], axis=-1)
            self._offsets_for[key] = off
        return off

    def _stage_sums(self, stage: _Stage, vals: np.ndarray) -> np.ndarray:
        """Sum of the stage's tree leaves for node values `vals` (n, M)."""
        below = vals < stage.node_threshold[None]
        n = vals.shape[0]
        cur = np.broadcast_to(stage.tree_root, (n, stage.tree_root.size)).copy()
        leaf = np.zeros_like(cur)
        done = np.zeros(cur.shape, bool)
        rows = np.arange(n)[:, None]
        for _ in range(stage.depth):
            go_left = below[rows, cur]
            nxt = np.where(go_left, stage.node_left[cur], stage.node_right[cur])
            is_leaf = (nxt <= 0) & ~done
            leaf = np.where(is_leaf, -nxt, leaf)
            done |= is_leaf
            if done.all():
                break
            cur = np.where(done, cur, stage.tree_root[None] + np.maximum(nxt, 0))
        return stage.leaves[stage.tree_leaf[None] + leaf].sum(1)

    def _dense_values(self, ii: np.ndarray, stage: _Stage, gh: int, gw: int,
                      step: int) -> np.ndarray:
        """Node values of a stage at every grid position, by slicing the integral
        image (much cheaper than gathering while most windows are still alive):
        (gh*gw, M), not yet variance-normalised."""
        out = np.empty((gh * gw, stage.node_feature.size))
        ys, ye = 0, (gh - 1) * step + 1
        xs, xe = 0, (gw - 1) * step + 1
        for k, fi in enumerate(stage.node_feature.tolist()):
            acc = np.zeros((gh, gw))
            for (x, y, w, h), wt in zip(self._rects[fi].tolist(),
                                        self._weights[fi].tolist(), strict=True):
                if wt == 0.0:
                    continue
                s = (ii[y + ys:y + ye:step, x + xs:x + xe:step]
                     - ii[y + ys:y + ye:step, x + w + xs:x + w + xe:step]
                     - ii[y + h + ys:y + h + ye:step, x + xs:x + xe:step]
                     + ii[y + h + ys:y + h + ye:step, x + w + xs:x + w + xe:step])
                acc += wt * s
            out[:, k] = acc.ravel()
        return out

    def _run_scale(self, img: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-left corners (xs, ys) of the windows of `img` (uint8) that pass."""
        h, w = img.shape
        ww, wh = self.width, self.height
        if w <= ww or h <= wh:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        ii, sq = cv2.integral2(img, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        stride = ii.shape[1]
        flat = ii.ravel()
        gh, gw = len(range(0, h - wh, step)), len(range(0, w - ww, step))
        ys, xs = np.mgrid[0:h - wh:step, 0:w - ww:step]
        ys, xs = ys.ravel(), xs.ravel()
        base = ys * stride + xs
        # Variance normalisation over the inner window (x+1, y+1, W-2, H-2).
        a = base + stride + 1
        b = a + (ww - 2)
        c = a + (wh - 2) * stride
        d = c + (ww - 2)
        sqf = sq.ravel()
        s = flat[a] - flat[b] - flat[c] + flat[d]
        s2 = sqf[a] - sqf[b] - sqf[c] + sqf[d]
        area = float((ww - 2) * (wh - 2))
        nf = area * s2 - s * s
        alive = nf > 0
        nf = np.sqrt(np.where(alive, nf, 1.0))
        alive &= area / nf < 0.1  # flat windows (std-dev < 10 grey levels) are rejected
        grid = np.arange(base.size)
        dense = True
        idx = grid[alive]
        for stage_no, stage in enumerate(self.stages):
            if idx.size == 0:
                break
            if dense and idx.size > 0.25 * grid.size:
                vals = self._dense_values(ii, stage, gh, gw, step)[idx] / nf[idx, None]
                total = self._stage_sums(stage, vals)
            else:
                # Sparse: gather the corners of every weighted rectangle at the
                # surviving windows, then one matrix product gives every node's value.
                dense = False
                off = self._offsets(stage_no, stride)  # (E, 4)
                e = off.shape[0]
                total = np.empty(idx.size)
                chunk = max(1, MAX_GATHER // max(e, 1))
                for lo in range(0, idx.size, chunk):
                    sel = idx[lo:lo + chunk]
                    corners = flat[base[sel, None, None] + off[None]]  # (n, E, 4)
                    rect_sums = (corners[..., 0] - corners[..., 1] - corners[..., 2]
                                 + corners[..., 3])
                    vals = (rect_sums @ stage.entry_matrix) / nf[sel, None]
                    total[lo:lo + chunk] = self._stage_sums(stage, vals)
            idx = idx[total >= stage.threshold]
        return xs[idx], ys[idx]

    def detect_multi_scale(self, grey: np.ndarray, *, scale_factor: float = 1.1,
                           min_neighbors: int = 3, min_size: int = 0,
                           max_size: int = 0) -> list[tuple[int, int, int, int, int]]:
        """Like OpenCV's detectMultiScale: (x, y, w, h, neighbours) of grouped windows."""
        if grey.dtype != np.uint8 or grey.ndim != 2:
            raise ValueError("detect_multi_scale needs a 2-D uint8 image")
        h, w = grey.shape
        raw: list[tuple[int, int, int, int]] = []
        factor = 1.0
        while True:
            win_w = round(self.width * factor)
            win_h = round(self.height * factor)
            sw, sh = round(w / factor), round(h / factor)
            if sw - self.width <= 0 or sh - self.height <= 0:
                break
            if max_size and (win_w > max_size or win_h > max_size):
                break
            if not (min_size and (win_w < min_size or win_h < min_size)):
                scaled = grey if factor == 1.0 else cv2.resize(
                    grey, (sw, sh), interpolation=cv2.INTER_LINEAR_EXACT)
                step = 1 if factor >= 2.0 else 2
                xs, ys = self._run_scale(scaled, step)
                raw.extend((round(x * factor), round(y * factor), win_w, win_h)
                           for x, y in zip(xs.tolist(), ys.tolist(), strict=True))
            factor *= scale_factor
        return group_rectangles(raw, min_neighbors)


def group_rectangles(rects: Sequence[tuple[int, int, int, int]], group_threshold: int,
                     eps: float = 0.2) -> list[tuple[int, int, int, int, int]]:
    """OpenCV's groupRectangles: cluster similar windows, average each cluster, keep
    clusters of more than `group_threshold` windows, drop a cluster lying inside a
    stronger one. Returns (x, y, w, h, count)."""
    n = len(rects)
    if n == 0:
        return []
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    arr = np.array(rects, dtype=np.float64)
    for i in range(n):
        x1, y1, w1, h1 = arr[i]
        # Vectorised similarity against the later rectangles.
        rest = arr[i + 1:]
        if rest.size == 0:
            continue
        delta = eps * (np.minimum(w1, rest[:, 2]) + np.minimum(h1, rest[:, 3])) * 0.5
        sim = ((np.abs(x1 - rest[:, 0]) <= delta) & (np.abs(y1 - rest[:, 1]) <= delta)
               & (np.abs(x1 + w1 - rest[:, 0] - rest[:, 2]) <= delta)
               & (np.abs(y1 + h1 - rest[:, 1] - rest[:, 3]) <= delta))
        for j in np.nonzero(sim)[0]:
            ri, rj = find(i), find(i + 1 + int(j))
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    labels = [find(i) for i in range(n)]
    classes = sorted(set(labels))
    sums = {c: np.zeros(4) for c in classes}
    counts = dict.fromkeys(classes, 0)
    for lab, r in zip(labels, arr, strict=True):
        sums[lab] += r
        counts[lab] += 1
    avg = {c: tuple(int(round(v / counts[c])) for v in sums[c]) for c in classes}
    out = []
    for c in classes:
        n1 = counts[c]
        if n1 <= group_threshold:
            continue
        x1, y1, w1, h1 = avg[c]
        inside = False
        for c2 in classes:
            n2 = counts[c2]
            if c2 == c or n2 <= group_threshold:
                continue
            x2, y2, w2, h2 = avg[c2]
            dx, dy = round(w2 * eps), round(h2 * eps)
            if (x1 >= x2 - dx and y1 >= y2 - dy and x1 + w1 <= x2 + w2 + dx
                    and y1 + h1 <= y2 + h2 + dy and (n2 > max(3, n1) or n1 < 3)):
                inside = True
                break
        if not inside:
            out.append((x1, y1, w1, h1, n1))
    return out


_CASCADE_CACHE: dict[str, HaarCascade] = {}
_CASCADE_LOCK = threading.Lock()


def load_cascade(name: str) -> HaarCascade:
    """One of the shipped cascades ("frontal", "frontal_alt2", "profile"), parsed once
    per process."""
    with _CASCADE_LOCK:
        cascade = _CASCADE_CACHE.get(name)
        if cascade is None:
            try:
                filename = CASCADES[name]
            except KeyError:
                raise ValueError(f"unknown cascade {name!r}; known: "
                                 f"{', '.join(CASCADES)}") from None
            cascade = HaarCascade(CASCADE_DIR / filename)
            _CASCADE_CACHE[name] = cascade
    return cascade


# ----------------------------------------------------------------------------------
# detection
# ----------------------------------------------------------------------------------
def grey_for_detection(image: np.ndarray, work_side: int) -> tuple[np.ndarray, float]:
    """(grey uint8 at most `work_side` on its long side, contrast-equalised; the scale
    from frame pixels to it)."""
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    s = min(1.0, work_side / max(h, w))
    if s < 1.0:
        grey = cv2.resize(grey, (max(1, round(w * s)), max(1, round(h * s))),
                          interpolation=cv2.INTER_AREA)
    # Faded prints and flat film scans: local equalisation brings the face structure
    # back above the cascades' 10-grey-level floor.
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(grey)
    return grey, s


def merge_boxes(boxes: Sequence[Box], overlap: float = 0.4) -> list[Box]:
    """Merge boxes that overlap (intersection over the smaller box above `overlap`):
    the members are averaged, weighted by their support, and the supports add up.
    Largest support first, so the order is deterministic."""
    groups: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: (-b.score, -b.area, b.x, b.y)):
        for g in groups:
            if g[0].overlap_small(b) > overlap:
                g.append(b)
                break
        else:
            groups.append([b])
    out = []
    for g in groups:
        wts = np.array([max(b.score, 1.0) for b in g])
        coords = np.array([b.as_tuple() for b in g])
        x, y, w, h = (coords * wts[:, None]).sum(0) / wts.sum()
        kind = "frontal" if any(b.kind == "frontal" for b in g) else g[0].kind
        out.append(Box(float(x), float(y), float(w), float(h), float(wts.sum()), kind))
    return sorted(out, key=lambda b: (b.x, b.y))


def detect_faces(image: np.ndarray, *, work_side: int = 400, min_face: float = 0.05,
                 profile: bool = True, min_neighbors: int = 3,
                 strong_neighbors: int = 8) -> list[Box]:
    """Faces in an (H, W, 3) RGB frame (uint8, or float in [0, 1]), in its pixels.

    min_face: smallest face side as a fraction of the frame's short side (and at least
    the cascade's 20-24 px at the working size). A frontal face is kept when both
    frontal cascades find it, or one of them with `strong_neighbors` windows; a
    profile (either direction) with `strong_neighbors` windows, unless a frontal face
    is already there.
    """
    grey, s = grey_for_detection(image, work_side)
    gh, gw = grey.shape
    min_px = max(20, int(round(min_face * min(gh, gw))))
    kw = {"scale_factor": 1.1, "min_neighbors": min_neighbors, "min_size": min_px}

    def boxes(name: str, img: np.ndarray, kind: str, mirror: bool = False) -> list[Box]:
        out = []
        for x, y, w, h, n in load_cascade(name).detect_multi_scale(img, **kw):
            if mirror:
                x = gw - x - w
            out.append(Box(float(x), float(y), float(w), float(h), float(n), kind))
        return out

    default = boxes("frontal", grey, "frontal")
    frontal: list[Box] = []
    if default:
        # alt2 only confirms: run it around each default detection, not over the frame.
        for b in default:
            m = 0.5 * b.w
            x0, y0 = max(0, int(b.x - m)), max(0, int(b.y - m))
            x1, y1 = min(gw, int(b.x + b.w + m) + 1), min(gh, int(b.y + b.h + m) + 1)
            near = [a.shifted(x0, y0) for a in boxes(
                "frontal_alt2", np.ascontiguousarray(grey[y0:y1, x0:x1]), "frontal")]
            agree = [a for a in near if a.iou(b) > 0.3]
            if agree or b.score >= strong_neighbors:
                frontal.append(b)
                frontal.extend(agree)
    else:
        frontal = [a for a in boxes("frontal_alt2", grey, "frontal")
                   if a.score >= strong_neighbors]
    found = merge_boxes(frontal)
    if profile:
        prof = boxes("profile", grey, "profile") + boxes(
            "profile", np.ascontiguousarray(grey[:, ::-1]), "profile", mirror=True)
        prof = [p for p in merge_boxes(prof) if p.score >= strong_neighbors
                and not any(p.overlap_small(f) > 0.3 for f in found)]
        found = merge_boxes(found + prof)
    return [b.scaled(1.0 / s) for b in found]


_DETECTIONS: OrderedDict[tuple[bytes, int, float, bool], list[Box]] = OrderedDict()
_DETECTIONS_LOCK = threading.Lock()
DETECTION_CACHE = 256  # frames


def detect_faces_cached(image: np.ndarray, *, work_side: int = 400,
                        min_face: float = 0.05, profile: bool = True) -> list[Box]:
    """`detect_faces` remembered by the image's content (a hash of its bytes): a
    temporal operator sees every frame in several windows, and the region masks and
    face restoration of one render look at the same frames. Pass small images (a
    detection thumbnail): hashing is per byte."""
    key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest()
           + str(image.shape).encode("ascii"), work_side, float(min_face), bool(profile))
    with _DETECTIONS_LOCK:
        found = _DETECTIONS.get(key)
        if found is not None:
            _DETECTIONS.move_to_end(key)
            return list(found)
    found = detect_faces(image, work_side=work_side, min_face=min_face, profile=profile)
    with _DETECTIONS_LOCK:
        _DETECTIONS[key] = found
        while len(_DETECTIONS) > DETECTION_CACHE:
            _DETECTIONS.popitem(last=False)
    return list(found)


# ----------------------------------------------------------------------------------
# tracking
# ----------------------------------------------------------------------------------
@dataclass
class TrackState:
    """A track after one `FaceTracker.update`."""

    id: int
    box: Box  # the detection matched this frame, or the prediction when missed
    missed: int  # consecutive frames without a detection (0 = detected now)
    hits: int  # frames with a detection so far


@dataclass
class _Track:
    id: int
    box: Box
    vx: float = 0.0
    vy: float = 0.0
    hits: int = 1
    missed: int = 0


class FaceTracker:
    """Online association of per-frame detections into tracks with stable ids.

    A detection joins the live track whose predicted box (last box moved by the
    track's velocity) it overlaps most, greedily from the best pair, when the IoU is
    at least `iou`; unmatched detections start new tracks; a track survives up to
    `max_missed` frames without a detection (its box keeps moving with its
    velocity) and is then dropped. Ids count up from 1 in order of appearance.
    """

    def __init__(self, *, iou: float = 0.25, max_missed: int = 2) -> None:
        self.iou = iou
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self._tracks = []

    def update(self, detections: Sequence[Box]) -> list[TrackState]:
        predicted = [t.box.shifted(t.vx, t.vy) for t in self._tracks]
        pairs = []
        for ti, p in enumerate(predicted):
            for di, d in enumerate(detections):
                # Also accept a detection whose centre falls inside the prediction:
                # a small fast face can overlap little but is plainly the same one.
                score = p.iou(d)
                if score < self.iou and abs(d.cx - p.cx) < 0.5 * p.w \
                        and abs(d.cy - p.cy) < 0.5 * p.h and 0.6 < d.w / max(p.w, 1) < 1.6:
                    score = self.iou
                if score >= self.iou:
                    pairs.append((-score, ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _neg, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            t = self._tracks[ti]
            d = detections[di]
            # Velocity: a damped estimate, so one noisy detection does not fling the
            # prediction away.
            t.vx = 0.5 * t.vx + 0.5 * (d.cx - t.box.cx)
            t.vy = 0.5 * t.vy + 0.5 * (d.cy - t.box.cy)
            t.box, t.hits, t.missed = d, t.hits + 1, 0
        alive = []
        for ti, t in enumerate(self._tracks):
            if ti not in used_t:
                t.missed += 1
                t.box = predicted[ti]
                if t.missed > self.max_missed:
                    continue
            alive.append(t)
        for di, d in enumerate(detections):
            if di not in used_d:
                alive.append(_Track(self._next_id, d))
                self._next_id += 1
        self._tracks = alive
        return [TrackState(t.id, t.box, t.missed, t.hits) for t in self._tracks]


@dataclass
class SmoothTrack:
    """A confirmed track over a run of frames: a smoothed box for each frame of it."""

    id: int
    boxes: dict[int, Box] = field(default_factory=dict)  # position in the run -> box
    detected: set[int] = field(default_factory=set)  # positions with a real detection


def smooth_tracks(detections: Sequence[Sequence[Box]], *, sigma: float = 1.5,
                  iou: float = 0.25, max_missed: int = 2, min_hits: int = 2,
                  hold: int = 2) -> list[SmoothTrack]:
    """Track the per-frame detections of a run of frames and smooth each track.

    A track counts when it was detected in at least `min_hits` frames (fewer when the
    run is shorter). Its box exists from `hold` frames before its first detection to
    `hold` frames after its last one, gaps are filled by linear interpolation, and
    every box is the Gaussian-weighted mean (sigma in frames) of the detected boxes
    around it, so the crop an operator takes moves smoothly.
    """
    n = len(detections)
    tracker = FaceTracker(iou=iou, max_missed=max_missed)
    raw: dict[int, dict[int, Box]] = {}
    for pos, dets in enumerate(detections):
        for st in tracker.update(list(dets)):
            if st.missed == 0:
                raw.setdefault(st.id, {})[pos] = st.box
    need = min(min_hits, n)
    out = []
    for tid in sorted(raw):
        seen = raw[tid]
        if len(seen) < need:
            continue
        positions = sorted(seen)
        first, last = positions[0], positions[-1]
        filled: dict[int, Box] = {}
        for a, b in zip(positions, positions[1:], strict=False):
            for p in range(a, b):
                filled[p] = _blend(seen[a], seen[b], (p - a) / (b - a))
        filled[last] = seen[last]
        for p in range(max(0, first - hold), first):
            filled[p] = seen[first]
        for p in range(last + 1, min(n, last + hold + 1)):
            filled[p] = seen[last]
        boxes = {}
        radius = max(1, int(math.ceil(2.5 * sigma)))
        for p in sorted(filled):
            acc = np.zeros(4)
            total = 0.0
            for q in range(p - radius, p + radius + 1):
                b = seen.get(q)
                if b is None:
                    continue
                wgt = math.exp(-0.5 * ((q - p) / max(sigma, 1e-6)) ** 2)
                acc += wgt * np.array(b.as_tuple())
                total += wgt
            if total > 0:
                x, y, w, h = acc / total
                boxes[p] = Box(float(x), float(y), float(w), float(h),
                               seen[p].score if p in seen else 0.0, filled[p].kind)
            else:
                boxes[p] = replace(filled[p], score=0.0)
        out.append(SmoothTrack(tid, boxes, set(positions)))
    return out
