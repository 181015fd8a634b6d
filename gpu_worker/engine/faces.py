"""Faces: detection (MTCNN, OpenCV's Haar cascades as a fallback), tracking across
frames, smoothing.

Detection. `detect_faces` runs MTCNN (`gpu_worker.engine.mtcnn`: the P-Net / R-Net /
O-Net cascade with facenet-pytorch's pretrained weights) on an RGB copy at most
`work_side` pixels long; every box comes with five landmarks (eyes, nose, mouth
corners), which face restoration aligns faces with. When the MTCNN weights are not
installed it logs a warning once and falls back to the Haar cascades below
(`detector="haar"` asks for them outright).

Haar fallback. OpenCV's own `cv2.CascadeClassifier` runs the three classic cascades that
the opencv-python wheels ship in `cv2.data.haarcascades` (frontal "default", frontal
"alt2", profile). OpenCV 5 dropped both the classifier and the files from its
wheels, hence the `opencv-python-headless<5` pin. Each classifier is loaded once per
process, on first use.

`detect_faces_haar` runs the cascades on a downscaled, contrast-equalised grey copy of the
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

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from gpu_worker.engine import mtcnn

__all__ = ["Box", "Cascade", "CASCADES", "DETECTORS", "cascade_path", "load_cascade",
           "detect_faces", "detect_faces_haar", "detect_faces_mtcnn", "active_detector",
           "detect_faces_cached", "Landmarks", "haar_frame", "MTCNN_TO_HAAR", "merge_boxes", "FaceTracker", "TrackState",
           "SmoothTrack", "smooth_tracks", "grey_for_detection"]

CASCADES = {
    "frontal": "haarcascade_frontalface_default.xml",
    "frontal_alt2": "haarcascade_frontalface_alt2.xml",
    "profile": "haarcascade_profileface.xml",
}
DETECTORS = ("auto", "mtcnn", "haar")
log = logging.getLogger(__name__)

# Five (x, y) points: left eye, right eye, nose, left and right mouth corner (left and
# right as seen in the picture).
Landmarks = tuple[tuple[float, float], ...]


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
    # Haar: neighbours that voted for it; MTCNN: the face probability (0 for
    # interpolated boxes)
    score: float = 0.0
    kind: str = "frontal"  # frontal | profile
    landmarks: Landmarks | None = None  # MTCNN's five points, in frame pixels

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
        marks = None if self.landmarks is None else tuple(
            (x * s, y * s) for x, y in self.landmarks)
        return replace(self, x=self.x * s, y=self.y * s, w=self.w * s, h=self.h * s,
                       landmarks=marks)

    def shifted(self, dx: float, dy: float) -> Box:
        marks = None if self.landmarks is None else tuple(
            (x + dx, y + dy) for x, y in self.landmarks)
        return replace(self, x=self.x + dx, y=self.y + dy, landmarks=marks)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "x": round(self.x, 2), "y": round(self.y, 2), "w": round(self.w, 2),
            "h": round(self.h, 2), "score": self.score, "kind": self.kind}
        if self.landmarks is not None:
            out["landmarks"] = [[round(x, 2), round(y, 2)] for x, y in self.landmarks]
        return out


def _blend(a: Box, b: Box, t: float) -> Box:
    marks = None
    if a.landmarks is not None and b.landmarks is not None:
        marks = tuple((pa[0] + (pb[0] - pa[0]) * t, pa[1] + (pb[1] - pa[1]) * t)
                      for pa, pb in zip(a.landmarks, b.landmarks, strict=True))
    return Box(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, a.w + (b.w - a.w) * t,
               a.h + (b.h - a.h) * t, 0.0, a.kind, marks)


# ----------------------------------------------------------------------------------
# cascades
# ----------------------------------------------------------------------------------
def cascade_path(name: str) -> Path:
    """The file of one of the cascades ("frontal", "frontal_alt2", "profile") in the
    installed OpenCV's `cv2.data.haarcascades` folder."""
    try:
        filename = CASCADES[name]
    except KeyError:
        raise ValueError(f"unknown cascade {name!r}; known: {', '.join(CASCADES)}") from None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder:
        raise FileNotFoundError(
            f"OpenCV {cv2.__version__} has no cv2.data.haarcascades folder, so the face "
            f"cascade {filename} cannot be found; install opencv-python-headless>=4.10,<5")
    path = Path(folder) / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"face cascade {filename} is missing from {folder} (OpenCV "
            f"{cv2.__version__}); install opencv-python-headless>=4.10,<5, whose wheels "
            "ship it")
    return path


class Cascade:
    """One of OpenCV's Haar cascades, run by `cv2.CascadeClassifier`."""

    def __init__(self, name: str) -> None:
        path = cascade_path(name)
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 removed "
                "it); install opencv-python-headless>=4.10,<5")
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"OpenCV could not load the face cascade {path}")
        self.name = name
        self.path = path
        self.width, self.height = (int(v) for v in classifier.getOriginalWindowSize())
        self._classifier = classifier
        # A classifier keeps per-call scratch data: one call at a time (the call
        # itself runs on OpenCV's threads).
        self._lock = threading.Lock()

    def detect_multi_scale(self, grey: np.ndarray, *, scale_factor: float = 1.1,
                           min_neighbors: int = 3, min_size: int = 0,
                           max_size: int = 0) -> list[tuple[int, int, int, int, int]]:
        """`detectMultiScale2`: (x, y, w, h, neighbours) of the grouped windows, sorted
        (OpenCV collects windows from its worker threads in no fixed order)."""
        if grey.dtype != np.uint8 or grey.ndim != 2:
            raise ValueError("detect_multi_scale needs a 2-D uint8 image")
        with self._lock:
            rects, counts = self._classifier.detectMultiScale2(
                np.ascontiguousarray(grey), scaleFactor=scale_factor,
                minNeighbors=min_neighbors, minSize=(min_size, min_size),
                maxSize=(max_size, max_size))
        return sorted((int(x), int(y), int(w), int(h), int(n))
                      for (x, y, w, h), n in zip(rects, counts, strict=True))


_CASCADE_CACHE: dict[str, Cascade] = {}
_CASCADE_LOCK = threading.Lock()


def load_cascade(name: str) -> Cascade:
    """One of the cascades ("frontal", "frontal_alt2", "profile"), loaded once per
    process, on first use."""
    with _CASCADE_LOCK:
        cascade = _CASCADE_CACHE.get(name)
        if cascade is None:
            cascade = Cascade(name)
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


def detect_faces_haar(image: np.ndarray, *, work_side: int = 400, min_face: float = 0.05,
                      profile: bool = True, min_neighbors: int = 3,
                      strong_neighbors: int = 8) -> list[Box]:
    """Faces in an (H, W, 3) RGB frame (uint8, or float in [0, 1]), in its pixels, by
    OpenCV's Haar cascades (no landmarks).

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


def rgb_for_detection(image: np.ndarray, work_side: int) -> tuple[np.ndarray, float]:
    """(RGB uint8 at most `work_side` on its long side; the scale from frame pixels to
    it). A grey frame is repeated into three channels."""
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    h, w = image.shape[:2]
    s = min(1.0, work_side / max(h, w))
    if s < 1.0:
        image = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[..., :3]), s


def _is_profile(marks: Landmarks) -> bool:
    """A face turned far to a side: its nose lies outside the span of its eyes."""
    (lx, _), (rx, _), (nx, _) = marks[0], marks[1], marks[2]
    return not min(lx, rx) <= nx <= max(lx, rx)


def detect_faces_mtcnn(image: np.ndarray, *, work_side: int = 400,
                       min_face: float = 0.05, profile: bool = True,
                       min_score: float = 0.8) -> list[Box]:
    """Faces in an (H, W, 3) RGB frame (uint8, or float in [0, 1]), in its pixels, by
    MTCNN, each with its five landmarks. Raises `mtcnn.MtcnnUnavailable` when the
    weights are not installed.

    min_face: smallest face side as a fraction of the frame's short side (MTCNN's
    smallest window is 12 px at the working size). min_score: the O-Net probability a
    face needs. profile=False drops faces turned so far that the nose is outside the
    eyes; they are kept as kind "profile" otherwise.
    """
    model = mtcnn.load_mtcnn()
    rgb, s = rgb_for_detection(image, work_side)
    min_px = max(12.0, min_face * min(rgb.shape[:2]))
    found = []
    for d in model.detect(rgb, min_size=min_px):
        if d.score < min_score or min(d.x1 - d.x0, d.y1 - d.y0) < min_px:
            continue
        kind = "profile" if _is_profile(d.landmarks) else "frontal"
        if kind == "profile" and not profile:
            continue
        found.append(Box(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0, round(d.score, 4), kind,
                         d.landmarks))
    found.sort(key=lambda b: (b.x, b.y))
    return [b.scaled(1.0 / s) for b in found]


MTCNN_TO_HAAR = 0.86  # an MTCNN box's height, as the side of the Haar box of the face


def haar_frame(box: Box) -> Box:
    """The square box the Haar cascades would give the face of an MTCNN box (brows to
    mouth rather than forehead to chin: about 0.86 of its height, the same centre),
    for geometry tuned on Haar boxes; a box without landmarks (a Haar box already)
    comes back as it is. The landmarks stay."""
    if box.landmarks is None:
        return box
    side = MTCNN_TO_HAAR * max(box.w, box.h)
    return replace(box, x=box.cx - side / 2, y=box.cy - side / 2, w=side, h=side)


_WARNED = threading.Event()


def active_detector() -> str:
    """The detector `detector="auto"` uses: "mtcnn" when its weights are installed,
    else "haar"."""
    return "mtcnn" if mtcnn.weights_dir() is not None else "haar"


def detect_faces(image: np.ndarray, *, work_side: int = 400, min_face: float = 0.05,
                 profile: bool = True, detector: str = "auto") -> list[Box]:
    """Faces in an (H, W, 3) RGB frame (uint8, or float in [0, 1]), in its pixels.

    detector: "mtcnn" (boxes with landmarks), "haar" (OpenCV's cascades), or "auto":
    MTCNN, falling back to Haar, with a warning logged once per process, when the
    MTCNN weights are not installed.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; known: {', '.join(DETECTORS)}")
    if detector != "haar":
        try:
            return detect_faces_mtcnn(image, work_side=work_side, min_face=min_face,
                                      profile=profile)
        except mtcnn.MtcnnUnavailable as exc:
            if detector == "mtcnn":
                raise
            if not _WARNED.is_set():
                _WARNED.set()
                log.warning("%s; detecting faces with OpenCV's Haar cascades instead "
                            "(fewer faces found, no landmarks)", exc)
    return detect_faces_haar(image, work_side=work_side, min_face=min_face, profile=profile)


_DETECTIONS: OrderedDict[tuple[bytes, int, float, bool, str], list[Box]] = OrderedDict()
_DETECTIONS_LOCK = threading.Lock()
DETECTION_CACHE = 256  # frames


def detect_faces_cached(image: np.ndarray, *, work_side: int = 400,
                        min_face: float = 0.05, profile: bool = True,
                        detector: str = "auto") -> list[Box]:
    """`detect_faces` remembered by the image's content (a hash of its bytes): a
    temporal operator sees every frame in several windows, and the region masks and
    face restoration of one render look at the same frames. Pass small images (a
    detection thumbnail): hashing is per byte."""
    key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest()
           + str(image.shape).encode("ascii"), work_side, float(min_face), bool(profile),
           active_detector() if detector == "auto" else detector)
    with _DETECTIONS_LOCK:
        found = _DETECTIONS.get(key)
        if found is not None:
            _DETECTIONS.move_to_end(key)
            return list(found)
    found = detect_faces(image, work_side=work_side, min_face=min_face, profile=profile,
                         detector=detector)
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
            acc_marks = np.zeros((5, 2))
            total_marks = 0.0
            for q in range(p - radius, p + radius + 1):
                b = seen.get(q)
                if b is None:
                    continue
                wgt = math.exp(-0.5 * ((q - p) / max(sigma, 1e-6)) ** 2)
                acc += wgt * np.array(b.as_tuple())
                total += wgt
                if b.landmarks is not None:  # MTCNN's points are smoothed the same way
                    acc_marks += wgt * np.asarray(b.landmarks, dtype=np.float64)
                    total_marks += wgt
            if total > 0:
                x, y, w, h = acc / total
                marks = filled[p].landmarks
                if total_marks > 0:
                    marks = tuple((float(mx), float(my))
                                  for mx, my in acc_marks / total_marks)
                boxes[p] = Box(float(x), float(y), float(w), float(h),
                               seen[p].score if p in seen else 0.0, filled[p].kind, marks)
            else:
                boxes[p] = replace(filled[p], score=0.0)
        out.append(SmoothTrack(tid, boxes, set(positions)))
    return out
