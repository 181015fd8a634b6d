"""Streaming scene-cut detection that old-film flicker does not fool.

Old film flickers: the exposure of consecutive frames jumps by 10-30 %, sometimes
with a colour shift, while the picture stays the same. Histogram or plain
pixel-difference detectors read every such jump as a cut. This detector compares
frames after removing each frame's own brightness and contrast (per channel z-scores
on a small, blurred thumbnail), so an exposure change is invisible to it and only a
change of *content* counts. Grain and dust vanish in the thumbnail.

The score of a frame is 1 - the correlation of its thumbnail with the previous one
(0 = same picture, ~1 = unrelated pictures). A cut is declared when the score is
both high in absolute terms and far above the recent scores of the running scene:
fast motion raises every score for a while, a cut is a lone spike (the adaptive
threshold, as in PySceneDetect's AdaptiveDetector, but causal so it can stream).

Used by the pipeline (windows never blend across a cut) and by the analysis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["SceneCutDetector", "detect_cuts", "thumbnail", "scene_ranges", "plan_segments"]

THUMB_WIDTH = 48


def thumbnail(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """(h, w, C) float32 thumbnail, each channel z-scored (brightness/contrast removed).

    Area averaging is the anti-aliasing filter: grain, dust and compression noise
    average out, so only the layout of the picture remains.
    """
    h, w = frame.shape[:2]
    th = max(4, int(round(h * width / w)))
    small = cv2.resize(frame, (width, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    if small.ndim == 2:
        small = small[:, :, None]
    small = cv2.GaussianBlur(small, (3, 3), 0).reshape(th, width, -1)
    mean = small.mean(axis=(0, 1), keepdims=True)
    std = small.std(axis=(0, 1), keepdims=True)
    # A flat channel (a black frame, a monochrome film's equal channels) has no
    # structure to compare: leave it at zero rather than amplifying noise.
    return np.where(std > 2.0, (small - mean) / np.maximum(std, 1e-6), 0.0).astype(np.float32)


def _dissimilarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 - mean per-channel Pearson correlation of two z-scored thumbnails, in [0, 2]."""
    n = a.shape[0] * a.shape[1]
    corr = (a * b).sum(axis=(0, 1)) / n  # correlation of z-scores
    live = (np.abs(a).sum(axis=(0, 1)) > 0) & (np.abs(b).sum(axis=(0, 1)) > 0)
    if not live.any():
        return 0.0  # two flat frames (fade to black held): same "scene"
    return float(1.0 - corr[live].mean())


@dataclass
class SceneCutDetector:
    """Feed frames in order with `push`; it says whether each one starts a new scene.

    threshold: minimum dissimilarity for a cut (0..2; unrelated pictures score ~1,
        fast camera or subject motion stays below ~0.35 at 48 px thumbnails).
    ratio: how far above the running scene's typical score a cut must be.
    window: how many recent scores make up the "typical" score.
    min_scene_len: frames; a second cut this soon after one is ignored (a flash
        frame or a splice with a single damaged frame is not two scenes).
    """

    threshold: float = 0.5
    ratio: float = 3.0
    window: int = 24
    min_scene_len: int = 6
    thumb_width: int = THUMB_WIDTH

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._recent: deque[float] = deque(maxlen=self.window)
        self._since_cut = 0
        self.frame_index = -1
        self.scores: list[float] = []  # one per pushed frame (0 for the first)
        self.cuts: list[int] = []

    def score(self, frame: np.ndarray) -> float:
        """Dissimilarity of `frame` to the previous one, without changing the state."""
        if self._prev is None:
            return 0.0
        return _dissimilarity(thumbnail(frame, self.thumb_width), self._prev)

    def push(self, frame: np.ndarray) -> bool:
        """Add the next frame ((H, W, 3) or (H, W) uint8); True if it starts a new scene.

        The first frame is not a cut: it starts the first scene by definition.
        """
        thumb = thumbnail(frame, self.thumb_width)
        self.frame_index += 1
        if self._prev is None:
            self._prev = thumb
            self.scores.append(0.0)
            self._since_cut = 1
            return False
        s = _dissimilarity(thumb, self._prev)
        self._prev = thumb
        self.scores.append(s)
        # The upper quartile, not the median: old films repeat frames (step-printed
        # to a higher rate), so half the recent scores can be zero.
        typical = float(np.percentile(self._recent, 75)) if self._recent else 0.0
        is_cut = (s >= self.threshold and s >= self.ratio * typical + 0.05
                  and self._since_cut >= self.min_scene_len)
        if is_cut:
            self.cuts.append(self.frame_index)
            self._recent.clear()  # the new scene's motion is judged on its own
            self._since_cut = 1
        else:
            self._recent.append(s)
            self._since_cut += 1
        return is_cut


def detect_cuts(frames: Iterable[np.ndarray], **kwargs: float) -> list[int]:
    """Frame numbers (0-based) that start a new scene, for a whole sequence."""
    detector = SceneCutDetector(**kwargs)
    for frame in frames:
        detector.push(frame)
    return detector.cuts


def scene_ranges(cuts: Iterable[int], frame_count: int) -> Iterator[tuple[int, int]]:
    """(start, end) half-open frame ranges of the scenes, given the cut frames."""
    start = 0
    for cut in sorted(set(cuts)):
        if 0 < cut < frame_count:
            yield start, cut
            start = cut
    if start < frame_count:
        yield start, frame_count


def plan_segments(cuts: Iterable[int], frame_count: int, *, min_frames: int = 240,
                  max_frames: int = 2400) -> list[tuple[int, int]]:
    """Split a film into render segments for parallel workers.

    Segments start at scene cuts where possible: consecutive short scenes are merged
    until a segment holds at least `min_frames`, and a scene longer than `max_frames`
    is split evenly. A split inside a scene is still seamless when each segment is
    rendered with `render(..., start, end, scene_cuts=cuts)`: the pipeline decodes the
    operators' temporal context on both sides of a range, so the windows at a segment
    edge are those of a full render.
    """
    if frame_count <= 0:
        return []
    if min_frames < 1 or max_frames < min_frames:
        raise ValueError("need 1 <= min_frames <= max_frames")
    segments: list[tuple[int, int]] = []
    start = 0
    for s_start, s_end in scene_ranges(cuts, frame_count):
        length = s_end - s_start
        if length > max_frames:
            if s_start > start:
                segments.append((start, s_start))
            pieces = -(-length // max_frames)
            bounds = [s_start + length * k // pieces for k in range(pieces + 1)]
            segments.extend(zip(bounds[:-1], bounds[1:], strict=True))
            start = s_end
        elif s_end - start >= min_frames:
            segments.append((start, s_end))
            start = s_end
    if start < frame_count:
        if segments and frame_count - start < min_frames and \
                segments[-1][1] - segments[-1][0] + frame_count - start <= max_frames:
            segments[-1] = (segments[-1][0], frame_count)  # a short tail joins the last
        else:
            segments.append((start, frame_count))
    return segments
