"""Damage analysis of a clip, and the restoration spec it suggests.

`analyze(path)` streams the clip once (never holding it in memory) and measures, per
frame and for the whole clip: noise/grain, sharpness and fine detail, exposure and
flicker, fading and colour cast, scene cuts, repeated and dropped frames, dust and
blotches, vertical scratches, and faces. The report is a plain JSON-ready dict.

`suggest_spec(report)` turns the findings into a pipeline spec (the engine's "auto"
preset): each damage found gets its operator, at a strength matched to what was
measured. `plot_report(report, path)` draws the per-frame measures over time with the
scene cuts marked, for a technician to read.

Design notes (see docs/analysis.md for what every number means):

* Frames are analysed at most `ANALYSIS_SIDE` pixels on the long side: the measures
  are then comparable across resolutions and a 4K scan costs what an SD one does.
* Old transfers repeat frames (12-18 fps film shown at 24-30 fps). Repeats are found
  first, and everything temporal (flicker, dust, dropped frames) is measured on the
  distinct film frames only, or a repeat would hide the dust and halve the flicker.
* Dust and blotches are one-frame defects: they are found by the same
  motion-compensated spike test the dust operator uses (metrics.spike_map) on three
  consecutive distinct frames, then sorted by size.
* Scene cuts come from the engine's flicker-robust detector (scenes.py), so a dark
  frame is not a cut and flicker is never measured across a cut.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from gpu_worker.engine import faces as face_detection
from gpu_worker.engine import interlace
from gpu_worker.engine import metrics as M
from gpu_worker.engine.scenes import SceneCutDetector

if TYPE_CHECKING:
    from gpu_worker.engine.io import MediaInfo

__all__ = ["analyze", "analyze_frames", "suggest_spec", "plot_report", "detect_faces",
           "ANALYSIS_SIDE", "REPORT_VERSION"]

REPORT_VERSION = 1
ANALYSIS_SIDE = 480
FACE_SIDE = 360  # face detection runs at this size: faces of 1/20 of the short side and up
MAX_FACE_CHECKS = 12  # faces are checked on at most this many frames spread over the clip

ProgressFn = Callable[[int, int | None], None]

# Severity thresholds (see docs/analysis.md for how they were chosen).
FLICKER_LEVELS = (0.008, 0.02, 0.04)  # mean relative exposure deviation
NOISE_LEVELS = (0.006, 0.015, 0.03)  # sigma in [0, 1] units (1.5, 4, 8 levels of 8-bit)
DUST_LEVELS = (6.0, 15.0, 40.0)  # one-frame specks per distinct frame at analysis size
BLOTCH_LEVELS = (0.15, 0.5, 1.5)  # blotches per distinct frame
SCRATCH_LEVELS = (0.1, 0.3, 0.6)  # fraction of frames with a vertical scratch
FREE_CHROMA_TONED = 0.009  # below: colour explained by brightness alone (a toned print)
LEVEL_NAMES = ("none", "mild", "moderate", "strong")
# Tone evidence (see _tone_evidence): the darkest channel's floor, rising from no fade
# to certain fade over [0], [1], and falling back to none over [2], [3];
FADE_FLOOR = (0.06, 0.09, 0.18, 0.24)
# a cast's size on neutral pixels (hypot of R/G-1 and B/G-1): none below [0], full at
# [1]; and its spread across brightness bands relative to its size: full evidence up
# to [0], none from [1] (looser on a print the fade evidence already marks as faded).
CAST_SIZE = (0.03, 0.07)
CAST_SPREAD = (0.3, 0.5)
CAST_SPREAD_FADED = (0.6, 1.0)
MIN_TONE_CONFIDENCE = 0.25  # below: no colour_correct at all
# Lifted blacks alone do not make a fade: a bright daylight scene's own darkest tones
# sit near 0.1 too. The lift counts as a fade when something else corroborates it:
# a print cast (dyes fade at different rates, so a faded colour print is also tinted;
# full corroboration at CAST_CORROBORATES of cast evidence), or shadow mass (the
# share of the picture in its deepest tones, metrics.tone_stats "shadow"): where
# large areas sit at the floor, a lift of the floor is a lift of real blacks; where
# only a sliver of small shadows does, the floor is the scene's. None below
# SHADOW_MASS[0], full from [1].
CAST_CORROBORATES = 0.5
SHADOW_MASS = (0.03, 0.08)
FADE_REMOVE = 1.0  # share of the measured black lift that is removed, at full confidence
# Where the darkest channel of unfaded footage sits: near 0.02 only where much of the
# picture is deep shadow (NATURAL_FLOOR from DEEP_SHADOW_MASS: night, space), about
# NATURAL_FLOOR_MID where shadows are a fair share of it (SHADOW_MASS[1]), and up to
# NATURAL_FLOOR_THIN where the darkest tones are a sliver of small shadows
# (SHADOW_MASS[0]); linear between. Flare and the glare of bright areas keep modest
# shadows off black. The middle point was chosen on the six tone-tuning clips
# (docs/benchmarks-tone.md).
NATURAL_FLOOR = 0.02
NATURAL_FLOOR_MID = 0.04
NATURAL_FLOOR_THIN = 0.06
DEEP_SHADOW_MASS = 0.3
FADE_PIVOT = 0.63  # the level fading leaves in place: blacks rise far more than whites fall
# Once the tones of a colour film are corrected at all, at least this share of the
# channel imbalance its percentiles show is removed, even where the cast evidence is
# weak: that evidence asks for a tint alike from shadows to highlights, and it missed
# the print cast on 5 of the 20 clean clips aged by the damage model. Toned and
# monochrome prints keep their toning. Chosen on the six tone-tuning clips with
# tests/benchmarks/bench_auto_ablation.py (docs/benchmarks-tone.md).
MIN_WHITE_BALANCE = 0.5
# A source squeezed by a lossy codec at delivery rates (bits per pixel per frame: a
# web H.264 copy 0.05-0.5, DVD MPEG-2 about 0.6; ProRes and lossless masters 2 and
# more) has had its noise smeared into blotches that the noise estimates, which look
# at fine scales and at frame-to-frame change, read low. Its denoise strength is
# multiplied by up to COMPRESSED_DENOISE, ramping in from COMPRESSED_BPP[0] down to
# COMPRESSED_BPP[1] (ends set by those typical rates; the factor chosen on the six
# tone-tuning clips, docs/benchmarks-repairs.md).
COMPRESSED_BPP = (1.0, 0.4)
COMPRESSED_DENOISE = 2.0
AUDIO_BIT_RATE = 192_000  # taken off a container-wide rate that includes an audio track
SHARPEN_RADIUS = 1.2  # px, auto's sharpen on a picture whose fine detail reads intact
# Fine-detail ratio (summary detail.median) from which the radius starts to grow, and
# at which it is twice SHARPEN_RADIUS. Chosen on the six tone-tuning clips
# (docs/benchmarks-repairs.md).
SHARPEN_WIDER_DETAIL = (1.0, 0.6)


def _level(value: float, levels: tuple[float, float, float]) -> str:
    return LEVEL_NAMES[sum(value >= t for t in levels)]


def _severity(value: float, levels: tuple[float, float, float]) -> float:
    """0..1: 0 below the first threshold, 1 at twice the last."""
    lo, hi = levels[0], 2 * levels[2]
    return float(np.clip((value - lo) / (hi - lo), 0.0, 1.0)) if value > lo else 0.0


def _resize_for_analysis(frame: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    h, w = frame.shape[:2]
    s = side / max(h, w)
    if s >= 1.0:
        return frame
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------
# faces
# ----------------------------------------------------------------------------
def detect_faces(frame: np.ndarray) -> list[dict[str, Any]]:
    """Faces in an (H, W, 3) RGB frame: boxes {x, y, w, h} in its pixels, with the five
    landmarks [[x, y], ...] (eyes, nose, mouth corners) when MTCNN found them.

    The engine's face module (faces.detect_faces: MTCNN on an RGB copy `FACE_SIDE`
    pixels on the long side, OpenCV's Haar cascades when its weights are not
    installed), so the analysis reports the faces the face operators and region
    masks will work on.
    """
    found = face_detection.detect_faces(frame, work_side=FACE_SIDE)
    out: list[dict[str, Any]] = []
    for b in found:
        face: dict[str, Any] = {"x": int(round(b.x)), "y": int(round(b.y)),
                                "w": int(round(b.w)), "h": int(round(b.h))}
        if b.landmarks is not None:
            face["landmarks"] = [[int(round(x)), int(round(y))] for x, y in b.landmarks]
        out.append(face)
    return out


# ----------------------------------------------------------------------------
# one-frame spots
# ----------------------------------------------------------------------------
def _spot_counts(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> tuple[int, int]:
    """(dust, blotches) in `cur` from its distinct neighbours, at analysis size.

    Dust: small specks, up to 0.04% of the frame (about 9 px across at 480x360);
    blotches: larger one-frame patches up to 2% of the frame. Bigger one-frame
    regions are almost always motion the optical flow could not follow.
    """
    m = M.spike_map(prev, cur, nxt).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    area = stats[1:, cv2.CC_STAT_AREA]
    total = m.size
    dust_max = max(12, int(0.0004 * total))
    blotch_max = int(0.02 * total)
    dust = int(((area >= 3) & (area <= dust_max)).sum())
    blotches = int(((area > dust_max) & (area <= blotch_max)).sum())
    return dust, blotches


# ----------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------
def analyze(path: str | Path, *, max_frames: int | None = None, sample_every: int = 1,
            progress: ProgressFn | None = None, faces: bool = True) -> dict[str, Any]:
    """Analyse a video file; returns the JSON-serialisable report (see analyze_frames).

    max_frames: analyse only the first frames (None = all).
    sample_every: measure the per-frame quantities on every n-th frame only (cuts,
        repeats and exposure are still followed on every frame); 2-4 for long films.
    progress: called as progress(frames_done, frames_total_or_None).
    """
    from gpu_worker.engine.io import probe, read_frames

    info = probe(path)
    total = info.frame_count if info.frame_count else None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    report = analyze_frames(read_frames(path, end=max_frames), fps=info.fps,
                            sample_every=sample_every, progress=progress,
                            total=total, faces=faces, field_order=info.field_order)
    report["source"] = {
        "path": str(path), "width": info.width, "height": info.height, "fps": info.fps,
        "frame_count": info.frame_count, "duration": info.duration,
        "has_audio": info.has_audio, "video_codec": info.video_codec,
        "bits_per_pixel": bits_per_pixel(info),
    }
    report["findings"].extend(_source_findings(report["source"]))
    report["findings"].sort(key=lambda x: -x["severity"])  # most severe first, as documented
    return report


def _squeeze(source: Mapping[str, Any]) -> float:
    """How hard a lossy codec squeezed the file (report["source"]), 0..1 over
    COMPRESSED_BPP: 0 for lossless, intra-frame mezzanine and unknown rates."""
    bpp = source.get("bits_per_pixel")
    return _ramp(float(bpp), *COMPRESSED_BPP) if bpp else 0.0


def _source_findings(source: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings about the file rather than the pictures: a codec that squeezed it."""
    severity = _squeeze(source)
    if severity <= 0:
        return []
    bpp = float(source["bits_per_pixel"])
    return [{"kind": "compressed", "severity": round(severity, 3),
             "text": (f"Lossy compression: about {bpp:.2f} bits per pixel per frame; the "
                      "codec has smeared grain and noise into blotches, which read lower "
                      "than they are."),
             "params": {"bits": round(bpp, 2)}}]


def bits_per_pixel(info: MediaInfo) -> float | None:
    """The video stream's bits per pixel per frame (io.MediaInfo), None where the file
    gives no bit rate (image sequences, some containers). The video stream's own rate
    where the file has it; otherwise the container's, less a typical audio track."""
    rate = info.video_bit_rate or info.bit_rate
    if not rate or not info.width or not info.height or not info.fps:
        return None
    if not info.video_bit_rate and info.has_audio:
        rate = max(rate - AUDIO_BIT_RATE, rate // 2)
    return round(float(rate) / (info.width * info.height * info.fps), 4)


def analyze_frames(frames: Iterable[np.ndarray], *, fps: float = 24.0, sample_every: int = 1,
                   progress: ProgressFn | None = None, total: int | None = None,
                   faces: bool = True, field_order: str = "unknown") -> dict[str, Any]:
    """Analyse a stream of (H, W, 3) uint8 RGB frames (see the module docstring).

    field_order: what the stream declares (io.MediaInfo.field_order); the report's
    "interlace" section gives it beside what the pictures show.

    Returns {"version", "frames": [per-frame records], "summary": {...}, "interlace",
    "findings": [...], "source": {...}}.
    """
    sample_every = max(1, int(sample_every))
    detector = SceneCutDetector()
    per_frame: list[dict[str, Any]] = []
    lumas: list[float] = []
    diffs: list[float] = [0.0]
    prev_gray: np.ndarray | None = None
    distinct: deque[tuple[int, np.ndarray]] = deque(maxlen=3)  # (frame, analysis image)
    distinct_diffs: list[tuple[int, float]] = []  # (frame, change from previous distinct)
    face_frames: list[dict[str, Any]] = []
    # Faces: every 2 s, or sparser so that about MAX_FACE_CHECKS frames spread over the
    # clip are checked; when the length is unknown, the interval doubles as checks
    # pile up (keeping every other one), so a feature film costs what a reel does.
    face_every = max(1, int(round(fps * 2)))
    if total:
        face_every = max(face_every, total // MAX_FACE_CHECKS)
    distinct_seen = 0
    size = (0, 0)
    n = 0
    fields = interlace.InterlaceDetector()
    for n, frame in enumerate(frames):
        if frame.dtype != np.uint8:
            frame = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
        fields.push(M.gray(_narrow_for_fields(frame)))
        small = _resize_for_analysis(frame)
        size = (frame.shape[1], frame.shape[0])
        g = M.gray(small)
        is_cut = detector.push(small)
        diff = float(np.abs(g - prev_gray).mean()) if prev_gray is not None else 0.0
        if n > 0:
            diffs.append(diff)
        lumas.append(float(g.mean()))
        rec: dict[str, Any] = {"frame": n, "time": round(n / fps, 4), "luma": round(lumas[-1], 5),
                               "cut": bool(is_cut)}
        if n % sample_every == 0:
            noise = M.noise_sigma(small)
            cs = M.colour_stats(small)
            rec.update({
                "noise": round(noise, 5),
                "sharpness": round(M.sharpness(small), 6),
                "detail": round(M.detail_ratio(small, noise), 4),
                "contrast": round(cs["contrast"], 4),
                "saturation": round(cs["saturation"], 4),
                "free_chroma": round(cs["free_chroma"], 4),
                "cast_r": round(cs["cast_r"], 4),
                "cast_b": round(cs["cast_b"], 4),
                "black": round(cs["black"], 4),
                "white": round(cs["white"], 4),
                "scratches": M.scratch_count(small),
                **{k: [round(v, 4) for v in vals] for k, vals in M.tone_stats(small).items()},
            })
        if faces and n % face_every == 0:
            face_frames.append({"frame": n, "faces": detect_faces(frame)})
            if len(face_frames) >= 2 * MAX_FACE_CHECKS:
                face_every *= 2
                face_frames = [f for f in face_frames if f["frame"] % face_every == 0]
        per_frame.append(rec)
        # Distinct-frame bookkeeping for the temporal measures. A frame that hardly
        # differs from its predecessor is provisionally a repeat; repeat_flags below
        # settles it with the context of the whole clip.
        if is_cut:
            distinct.clear()
        if prev_gray is None or is_cut or diff >= 2.0 / 255:
            if distinct and not is_cut:
                distinct_diffs.append((n, _motion_change(g, M.gray(distinct[-1][1]))))
                if "noise" in rec:
                    # Grain is fresh on each film frame: the difference to the previous
                    # distinct frame also measures the correlated grain the
                    # single-frame estimate misses. The larger of the two counts.
                    temporal = M.temporal_noise_sigma(small, distinct[-1][1])
                    rec["noise_spatial"] = rec["noise"]
                    rec["noise_temporal"] = round(temporal, 5)
                    rec["noise"] = round(max(rec["noise"], temporal), 5)
            distinct.append((n, small))
            distinct_seen += 1
            if len(distinct) == 3:
                mid_n, mid = distinct[1]
                # Every n-th distinct frame (not frame number: with repeats, distinct
                # frames may all fall on odd numbers).
                if distinct_seen % sample_every == 0:
                    dust, blotches = _spot_counts(distinct[0][1], mid, distinct[2][1])
                    per_frame[mid_n]["dust"] = dust
                    per_frame[mid_n]["blotches"] = blotches
        prev_gray = g
        if progress is not None:
            progress(n + 1, total)
    count = len(per_frame)
    if count == 0:
        raise ValueError("no frames to analyse")
    report = _summarise(per_frame, lumas, diffs, detector, distinct_diffs, face_frames,
                        size, fps, sample_every)
    report["interlace"] = fields.summary(field_order)
    report["findings"] = _interlace_findings(report["interlace"]) + report["findings"]
    return report


def _narrow_for_fields(frame: np.ndarray) -> np.ndarray:
    """The frame at most ANALYSIS_SIDE wide but at full height: fields are adjacent
    lines, and any vertical scaling would blend them."""
    h, w = frame.shape[:2]
    if w <= ANALYSIS_SIDE:
        return frame
    return cv2.resize(frame, (ANALYSIS_SIDE, h), interpolation=cv2.INTER_AREA)


def _interlace_findings(il: dict[str, Any]) -> list[dict[str, Any]]:
    order = {"tff": "top field first", "bff": "bottom field first"}
    if il["telecine"]:
        t = il["telecine"]
        return [{"kind": "telecine", "severity": 1.0,
                 "text": f"3:2 pulldown (film transferred to video, "
                         f"{order[t['field_order']]}, cadence phase {t['offset']}): two "
                         "of every five frames mix two film frames; inverse telecine "
                         "recovers the film frames at 4/5 of the rate."
                         + (f" The cadence breaks (an edit after the transfer) at frame"
                            f"{'s' if len(t['breaks']) > 1 else ''} "
                            + ", ".join(str(b["frame"]) for b in t["breaks"]) + "."
                            if t.get("breaks") else ""),
                 "params": {"field_order": t["field_order"], "offset": t["offset"],
                            "breaks": [b["frame"] for b in t.get("breaks") or []]}}]
    if il["interlaced"]:
        return [{"kind": "interlaced", "severity": 1.0,
                 "text": f"Interlaced video ({order[il['field_order']]}; the stream says "
                         f"{il['stream_field_order']}, the pictures "
                         f"{il['picture_field_order']}): "
                         f"{100 * il['combed_fraction']:.0f}% of the frames comb.",
                 "params": {"field_order": il["field_order"],
                            "stream_field_order": il["stream_field_order"],
                            "picture_field_order": il["picture_field_order"],
                            "percent": round(100 * il["combed_fraction"])}}]
    return []


def _summarise(per_frame: list[dict[str, Any]], lumas: list[float], diffs: list[float],
               detector: SceneCutDetector, distinct_diffs: list[tuple[int, float]],
               face_frames: list[dict[str, Any]], size: tuple[int, int], fps: float,
               sample_every: int) -> dict[str, Any]:
    count = len(per_frame)
    cuts = list(detector.cuts)
    repeats = M.repeat_flags(diffs)
    for rec, rep in zip(per_frame, repeats, strict=True):
        rec["repeat"] = bool(rep)

    # Flicker on distinct frames, shot by shot.
    keep = [i for i in range(count) if not repeats[i]]
    kept_cuts = [keep.index(c) for c in cuts if c in keep]
    series = M.flicker_series([lumas[i] for i in keep], kept_cuts, radius=2)
    for i, dev in zip(keep, series, strict=True):
        per_frame[i]["flicker"] = round(float(dev), 5)
    flicker = float(np.abs(series).mean()) if len(series) else 0.0

    def values(key: str, where: str | None = None) -> np.ndarray:
        return np.array([r[key] for r in per_frame if key in r and (where is None or where in r)],
                        dtype=np.float64)

    def stat(key: str, where: str | None = None) -> dict[str, float]:
        v = values(key, where)
        if not len(v):
            return {"mean": 0.0, "median": 0.0, "p90": 0.0}
        return {"mean": round(float(v.mean()), 6), "median": round(float(np.median(v)), 6),
                "p90": round(float(np.percentile(v, 90)), 6)}

    # Where frame-to-frame noise was measured, those frames speak for the clip: the
    # first frame of each shot has only the single-frame estimate, which reads clumped
    # grain low, and in a clip of a few frames or shots it would pull the median down.
    temporal = any("noise_temporal" in r for r in per_frame)
    noise = stat("noise", "noise_temporal" if temporal else None)
    dust_v, blotch_v = values("dust"), values("blotches")
    dust_pf = float(dust_v.mean()) if len(dust_v) else 0.0
    blotch_pf = float(blotch_v.mean()) if len(blotch_v) else 0.0
    scratch_v = values("scratches")
    scratch_frac = float((scratch_v > 0).mean()) if len(scratch_v) else 0.0

    # Colour: fading (contrast, lifted blacks), saturation and channel balance.
    sat = float(np.median(values("saturation")))
    contrast = float(np.median(values("contrast")))
    black = float(np.median(values("black")))
    cast_r, cast_b = float(np.median(values("cast_r"))), float(np.median(values("cast_b")))
    monochrome = sat < 0.03
    cast = _cast_name(cast_r, cast_b)
    # Toned: one colour per brightness (a sepia or tinted black-and-white print),
    # which white balance would strip; a colour film under a cast keeps hues of its
    # own. FREE_CHROMA_TONED sits between toned prints (real ones and the damage
    # model's sepia on grey footage: 0.002-0.008) and colour footage under the same
    # sepia (0.010-0.021).
    free_chroma = float(np.median(values("free_chroma"))) if len(values("free_chroma")) else 0.0
    toned = bool(monochrome or free_chroma < FREE_CHROMA_TONED)
    tone = _tone_evidence([r for r in per_frame if "lo" in r])
    faded = tone["fade_confidence"] >= 0.5
    if tone["cast_confidence"] >= 0.5:
        cast = _cast_name(tone["neutral_r"], tone["neutral_b"])
    else:
        cast = "neutral"

    # Repeats and their cadence (each film frame shown k times).
    rep_frac = float(np.mean(repeats[1:])) if count > 1 else 0.0
    cadence = int(round(1.0 / max(1e-6, 1.0 - rep_frac))) if rep_frac > 0.25 else 1

    drops = _suspected_drops(distinct_diffs, cuts)

    face_checks = _thin(face_frames, MAX_FACE_CHECKS)
    face_hits = [f for f in face_checks if f["faces"]]

    summary: dict[str, Any] = {
        "frames": count,
        "frames_measured": int(len(values("noise"))),
        "distinct_frames": len(keep),
        "width": size[0], "height": size[1], "fps": fps,
        "duration": round(count / fps, 3) if fps else None,
        "sample_every": sample_every,
        "noise": {**noise, "level": _level(noise["median"], NOISE_LEVELS),
                  "levels_8bit": round(noise["median"] * 255, 2)},
        "sharpness": stat("sharpness"),
        "detail": {**stat("detail"),
                   "soft": bool(np.median(values("detail")) < 0.3)},
        "flicker": {"index": round(flicker, 5), "level": _level(flicker, FLICKER_LEVELS),
                    "max": round(float(np.abs(series).max()) if len(series) else 0.0, 5)},
        "exposure": {"mean": round(float(np.mean(lumas)), 4),
                     "min": round(float(np.min(lumas)), 4),
                     "max": round(float(np.max(lumas)), 4)},
        "colour": {"saturation": round(sat, 4), "contrast": round(contrast, 4),
                   "black": round(black, 4), "white": round(float(np.median(values("white"))), 4),
                   "cast_r": round(cast_r, 4), "cast_b": round(cast_b, 4),
                   "cast": cast, "monochrome": bool(monochrome), "faded": bool(faded),
                   "free_chroma": round(free_chroma, 4), "toned": toned, **tone},
        "scenes": {"cuts": cuts, "count": len(cuts) + 1},
        "repeats": {"count": int(sum(repeats)), "fraction": round(rep_frac, 4),
                    "cadence": cadence},
        "drops": {"suspected": drops, "count": len(drops)},
        "dust": {"per_frame": round(dust_pf, 3), "level": _level(dust_pf, DUST_LEVELS),
                 "frames_measured": int(len(dust_v))},
        "blotches": {"per_frame": round(blotch_pf, 3),
                     "level": _level(blotch_pf, BLOTCH_LEVELS)},
        "scratches": {"frames_fraction": round(scratch_frac, 4),
                      "per_frame": round(float(scratch_v.mean()) if len(scratch_v) else 0.0, 3),
                      "level": _level(scratch_frac, SCRATCH_LEVELS)},
        "faces": {"frames_checked": len(face_checks), "frames_with_faces": len(face_hits),
                  "max_faces": max((len(f["faces"]) for f in face_checks), default=0),
                  "detections": [{"frame": f["frame"], **b} for f in face_hits
                                 for b in f["faces"]][:50]},
    }
    return {"version": REPORT_VERSION, "summary": summary,
            "findings": _findings(summary), "frames": per_frame, "source": {}}


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at or below lo, 1 at or above hi, linear between (a falling ramp if lo > hi)."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def natural_floor(shadow_mass: float) -> float:
    """Where the darkest channel of the unfaded scene is taken to sit, given its shadow
    mass (see NATURAL_FLOOR)."""
    return float(np.interp(shadow_mass, (SHADOW_MASS[0], SHADOW_MASS[1], DEEP_SHADOW_MASS),
                           (NATURAL_FLOOR_THIN, NATURAL_FLOOR_MID, NATURAL_FLOOR)))


def _tone_evidence(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How sure the analysis is that the print is faded and that it carries a colour
    cast, from the per-frame tone statistics (metrics.tone_stats), as 0..1.

    Fading lifts the blacks of every channel: the darkest tones of every frame sit
    well above black (`floor`, the lowest channel's 0.5th percentile, median over
    the frames). A scene that is simply dark or warm keeps true blacks in at least
    one channel. Evidence starts at FADE_FLOOR[0] and is full at FADE_FLOOR[1]; it
    falls away again above FADE_FLOOR[2]..[3], where the lift exceeds what fading does
    to a print and the scene itself has no dark tones (fog, a grey car park, a
    bright wall): restretching such a scene invents contrast it never had.

    A cast from the print tints the near-neutral pixels by the same ratio at every
    brightness; the cast is the median of the per-band tints, and its evidence is
    scaled down as the bands disagree (spread / size of the cast), since a warm
    scene (a ginger cat, tungsten light) tints its shadows and highlights unequally.
    """
    if not records:
        return {"floor": 0.0, "black3": 0.0, "white3": 1.0, "neutral_r": 0.0,
                "neutral_b": 0.0, "neutral_spread": 0.0, "fade_confidence": 0.0,
                "cast_confidence": 0.0, "lift_confidence": 0.0, "shadow_mass": 0.0,
                "natural_floor": NATURAL_FLOOR}
    lo = np.median(np.array([r["lo"] for r in records], dtype=np.float64), axis=0)
    hi = np.median(np.array([r["hi"] for r in records], dtype=np.float64), axis=0)
    floor = float(lo.min())
    # The lift: the floor in the band fading puts it in.
    lift_c = _ramp(floor, *FADE_FLOOR[:2]) * _ramp(floor, FADE_FLOOR[3], FADE_FLOOR[2])
    shadows = [r["shadow"][0] for r in records if r.get("shadow")]
    # Reports measured before shadow mass existed: the lift alone, as then.
    shadow = float(np.median(shadows)) if shadows else 1.0
    deep = _ramp(shadow, *SHADOW_MASS)
    banded = [np.stack([r["neutral_r"], r["neutral_b"]], axis=1) for r in records
              if len(r.get("neutral_r") or ()) == M.NEUTRAL_BANDS]
    cast_r = cast_b = spread = 0.0
    cast_strict = cast_loose = 0.0
    if banded:
        bands = np.median(np.stack(banded), axis=0)  # (bands, 2)
        centre = np.median(bands, axis=0)
        cast_r, cast_b = float(centre[0]), float(centre[1])
        size = float(np.hypot(cast_r, cast_b))
        spread = float(np.hypot(*(bands - centre).T).max())
        if size > 0:
            cast_strict = _ramp(size, *CAST_SIZE) * _ramp(spread / size, *CAST_SPREAD[::-1])
            cast_loose = _ramp(size, *CAST_SIZE) * _ramp(spread / size,
                                                          *CAST_SPREAD_FADED[::-1])
    # A cast corroborates the lift only if it is a print's cast by the strict measure
    # (a cast cannot vouch for the fade that would excuse its own spread).
    fade_c = lift_c * max(deep, _ramp(cast_strict, 0.0, CAST_CORROBORATES))
    # Fading corroborates a print defect: the bands may then disagree more (the lift
    # itself is neutral and dilutes the tint of the darkest band).
    cast_c = cast_loose if fade_c >= 0.5 else cast_strict
    natural = natural_floor(shadow)
    return {"floor": round(floor, 4), "black3": round(float(lo.mean()), 4),
            "white3": round(float(hi.mean()), 4), "neutral_r": round(cast_r, 4),
            "neutral_b": round(cast_b, 4), "neutral_spread": round(spread, 4),
            "fade_confidence": round(fade_c, 3), "cast_confidence": round(cast_c, 3),
            "lift_confidence": round(lift_c, 3), "shadow_mass": round(shadow, 4),
            "natural_floor": round(natural, 4)}


def _thin(items: list[Any], k: int) -> list[Any]:
    if len(items) <= k:
        return items
    idx = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in idx]


def _cast_name(cast_r: float, cast_b: float) -> str:
    """Name the channel imbalance; 'neutral' when R, G and B means are within 4%."""
    if max(abs(cast_r), abs(cast_b)) < 0.04:
        return "neutral"
    if cast_r > 0.04 and cast_b < -0.04:
        return "sepia" if cast_r < 0.25 else "orange"
    if cast_r > 0.04 and cast_b > 0.04:
        return "magenta"
    if cast_r < -0.04 and cast_b > 0.04:
        return "cyan"
    if cast_r < -0.04 and cast_b < -0.04:
        return "green"
    if cast_b < -0.04:
        return "yellow"
    if cast_b > 0.04:
        return "blue"
    return "red" if cast_r > 0 else "cyan"


def _motion_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two luma frames after normalising each to zero mean
    and unit contrast, so that flicker does not read as motion."""
    za = (a - a.mean()) / max(float(a.std()), 1e-3)
    zb = (b - b.mean()) / max(float(b.std()), 1e-3)
    return float(np.abs(za - zb).mean())


def _suspected_drops(distinct_diffs: list[tuple[int, float]], cuts: list[int]) -> list[int]:
    """Frames after which film frames seem missing: within a shot, a change between
    consecutive distinct frames 1.5 times the typical change around it, while the
    picture is moving steadily (a gap in motion is a jump in difference)."""
    out: list[int] = []
    if len(distinct_diffs) < 7:
        return out
    frames_, d = zip(*distinct_diffs, strict=True)
    dd = np.asarray(d)
    cutset = set(cuts)
    for k in range(3, len(dd) - 3):
        ctx = np.r_[dd[k - 3:k], dd[k + 1:k + 4]]
        typical = float(np.median(ctx))
        steady = float(ctx.std()) < 0.35 * typical
        if (typical > 0.05 and steady and dd[k] > 1.5 * typical
                and frames_[k] not in cutset):
            out.append(int(frames_[k]))
    return out


def _findings(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Plain-language list of what was found, most severe first. Each finding has a
    stable `kind` and the figures its text quotes in `params` (rounded as in the
    text), so a reader can word it in another language; `text` is the English."""
    f: list[dict[str, Any]] = []

    def add(kind: str, severity: float, text: str, **params: Any) -> None:
        if severity > 0:
            f.append({"kind": kind, "severity": round(severity, 3), "text": text,
                      "params": params})

    fl = s["flicker"]["index"]
    add("flicker", _severity(fl, FLICKER_LEVELS),
        f"Exposure flicker: frames deviate by {100 * fl:.1f}% on average from their "
        f"neighbours ({s['flicker']['level']}).",
        percent=round(100 * fl, 1), level=s["flicker"]["level"])
    dpf = s["dust"]["per_frame"]
    add("dust", _severity(dpf, DUST_LEVELS),
        f"Dust and specks: about {dpf:.1f} one-frame spots per film frame "
        f"({s['dust']['level']}).",
        per_frame=round(dpf, 1), level=s["dust"]["level"])
    bpf = s["blotches"]["per_frame"]
    add("blotches", _severity(bpf, BLOTCH_LEVELS),
        f"Blotches (large one-frame dirt or emulsion damage): {bpf:.2f} per film frame "
        f"({s['blotches']['level']}).",
        per_frame=round(bpf, 2), level=s["blotches"]["level"])
    sf = s["scratches"]["frames_fraction"]
    add("scratches", _severity(sf, SCRATCH_LEVELS),
        f"Vertical scratches in {100 * sf:.0f}% of the frames ({s['scratches']['level']}).",
        percent=round(100 * sf), level=s["scratches"]["level"])
    nz = s["noise"]["median"]
    add("noise", _severity(nz, NOISE_LEVELS),
        f"Grain/noise: sigma about {255 * nz:.1f} levels of 8-bit ({s['noise']['level']}).",
        levels=round(255 * nz, 1), level=s["noise"]["level"])
    c = s["colour"]
    if c["faded"]:
        add("fade", float(np.clip(c["fade_confidence"], 0.1, 1.0)),
            f"Faded: the darkest tones of every channel sit at {c['floor']:.2f} or above "
            f"(lifted blacks); contrast {c['contrast']:.2f} of full range.",
            floor=round(c["floor"], 2), contrast=round(c["contrast"], 2))
    if c["cast"] != "neutral":
        add("cast", float(np.clip(c["cast_confidence"], 0.1, 1.0)),
            f"Colour cast: {c['cast']} (red {c['neutral_r']:+.2f}, blue {c['neutral_b']:+.2f} "
            f"relative to green on near-neutral tones, alike from shadows to highlights)"
            + (", on a monochrome (toned) image." if c["monochrome"] else "."),
            cast=c["cast"], red=round(c["neutral_r"], 2), blue=round(c["neutral_b"], 2),
            monochrome=bool(c["monochrome"]))
    if s["detail"]["soft"]:
        add("soft", float(np.clip((0.3 - s["detail"]["median"]) / 0.3, 0.1, 1.0)),
            f"Soft picture: fine-detail ratio {s['detail']['median']:.2f} (sharp is 0.5+).",
            ratio=round(s["detail"]["median"], 2))
    r = s["repeats"]
    if r["count"]:
        add("repeats", min(1.0, r["fraction"] * 1.5),
            f"{r['count']} repeated frames ({100 * r['fraction']:.0f}%)"
            + (f": each film frame is shown about {r['cadence']} times." if r["cadence"] > 1 else "."),
            count=r["count"], percent=round(100 * r["fraction"]), cadence=r["cadence"])
    if s["drops"]["count"]:
        add("drops", min(1.0, 0.2 * s["drops"]["count"]),
            f"{s['drops']['count']} suspected missing frames (jumps in motion).",
            count=s["drops"]["count"])
    if s["scenes"]["count"] > 1:
        f.append({"kind": "scenes", "severity": 0.0,
                  "text": f"{s['scenes']['count']} shots (cuts at frames "
                          f"{', '.join(map(str, s['scenes']['cuts'][:12]))}).",
                  "params": {"count": s["scenes"]["count"], "cuts": list(s["scenes"]["cuts"][:12])}})
    if s["faces"]["frames_with_faces"]:
        f.append({"kind": "faces", "severity": 0.0,
                  "text": f"Faces in {s['faces']['frames_with_faces']} of "
                          f"{s['faces']['frames_checked']} checked frames.",
                  "params": {"frames": s["faces"]["frames_with_faces"],
                             "checked": s["faces"]["frames_checked"]}})
    f.sort(key=lambda x: -x["severity"])
    return f


# ----------------------------------------------------------------------------
# suggested spec
# ----------------------------------------------------------------------------
def suggest_spec(report: dict[str, Any]) -> dict[str, Any]:
    """A pipeline spec {"ops": [...]} repairing what the report found.

    Order matters: exposure first (every later operator compares frames, and
    flicker would read as difference), then one-frame defects while the grain is
    still there to be carried into the holes, scratches, noise, colour and
    sharpening.
    """
    s = report["summary"]
    ops: list[dict[str, Any]] = []
    # Fields first: every later operator compares whole frames, and a frame mixing
    # two moments reads as damage everywhere it moves.
    il = report.get("interlace") or {}
    if il.get("telecine"):
        t = il["telecine"]
        params = {"offset": int(t["offset"]), "field_order": t["field_order"]}
        if t.get("breaks"):
            params["breaks"] = interlace.format_breaks(t["breaks"])
        ops.append({"op": "ivtc", "params": params})
    elif il.get("interlaced"):
        ops.append({"op": "deinterlace", "params": {"field_order": il["field_order"]}})
    cadence = int(s["repeats"]["cadence"])
    width = int(s.get("width") or 640)

    fl = s["flicker"]["index"]
    if fl >= FLICKER_LEVELS[0]:
        # Reach about 4 distinct film frames either side, whatever the repeat cadence.
        radius = int(np.clip(4 * cadence, 3, 15))
        ops.append({"op": "deflicker", "params": {
            "radius": radius, "strength": 1.0, "mode": "tone",
            "tiles": 3 if fl >= FLICKER_LEVELS[1] else 1}})

    dpf, bpf = s["dust"]["per_frame"], s["blotches"]["per_frame"]
    if dpf >= DUST_LEVELS[0] or bpf >= BLOTCH_LEVELS[0]:
        # Blotches need a larger maximum spot size, in the clip's own pixels.
        max_size = 24 if bpf < BLOTCH_LEVELS[0] else 48
        max_size = int(np.clip(round(max_size * max(1.0, width / ANALYSIS_SIDE)), 8, 256))
        sensitivity = 0.5 if dpf < DUST_LEVELS[1] else 0.65 if dpf < DUST_LEVELS[2] else 0.75
        ops.append({"op": "dust", "params": {
            "sensitivity": sensitivity, "max_size": max_size,
            "search": int(np.clip(cadence + 1, 1, 6)), "grow": 1}})

    if s["scratches"]["frames_fraction"] >= SCRATCH_LEVELS[0]:
        ops.append({"op": "scratch", "params": {
            "sensitivity": 0.5, "max_width": 3 if width <= 1280 else 5, "min_length": 0.5,
            "persistence": 0}})

    nz = float(s["noise"]["median"])
    denoised = 0.0
    if nz >= NOISE_LEVELS[0]:
        denoised = float(np.clip(nz / NOISE_LEVELS[1], 0.5, 2.0))
        strength = min(denoised * compression_denoise_factor(report), 4.0)
        ops.append({"op": "denoise", "params": {
            "strength": round(strength, 2), "temporal_radius": int(np.clip(cadence + 1, 2, 4)),
            "spatial": 1.0, "noise_level": 0.0, "detail": 0.0}})

    c = s["colour"]
    # Evidence, 0..1 (reports from before it was measured: the yes/no findings).
    fade_c = float(c.get("fade_confidence", 1.0 if c["faded"] else 0.0))
    cast_c = float(c.get("cast_confidence", 0.0 if c["cast"] == "neutral" else 1.0))
    if max(fade_c, cast_c) >= MIN_TONE_CONFIDENCE:
        warm = is_warm_cast(c)
        toned = is_toned_print(c)
        # A toned print: restore its range, keep most of the toning. A colour film
        # under a warm cast: remove most of it (some warmth is often the film's own).
        # Other casts (magenta, cyan...) are faded dyes: neutralise them. All scaled
        # by how sure the analysis is that the cast is the print's, not the scene's.
        white_balance = (0.3 if toned else 0.7 if warm else 1.0) * cast_c
        if not toned:
            white_balance = max(white_balance, MIN_WHITE_BALANCE)
        params: dict[str, Any] = {"method": "percentile",
                                  "white_balance": round(white_balance, 2), "clip": 0.5,
                                  "saturation": 0.0 if c["monochrome"] else round(0.5 * fade_c, 2),
                                  "temporal_radius": 6}
        if fade_c > 0 and "black3" in c:
            params.update(_fade_levels(c, fade_c))
        else:
            # Levels left alone (contrast 0), or, for reports without the tone
            # measures, half-way back to the range natural footage keeps.
            params.update({"contrast": 0.5 if c["faded"] and "black3" not in c else 0.0,
                           "black_point": 0.03, "white_point": 0.96})
        ops.append({"op": "colour_correct", "params": params})

    # Grain reads as fine detail, so on grainy film the "soft" measure cannot be
    # trusted; after a strong denoise (which also softens edges a little) a light
    # sharpen is applied either way. "Strong" is judged by the noise measured, before
    # the compression factor, as the factor was chosen with the sharpen rule unchanged.
    if (s["detail"]["soft"] and nz < NOISE_LEVELS[1]) or denoised >= 1.0:
        # The softer the picture reads, the wider the detail its blur took: the radius
        # doubles as the fine-detail ratio falls through SHARPEN_WIDER_DETAIL.
        detail = float(s["detail"].get("median", SHARPEN_WIDER_DETAIL[0]))
        radius = SHARPEN_RADIUS * (1.0 + _ramp(detail, *SHARPEN_WIDER_DETAIL))
        ops.append({"op": "sharpen", "params": {"amount": 0.5, "radius": round(radius, 2),
                                                "threshold": 3.0, "luma_only": True}})

    # No grain is put back: `auto` repairs what was measured, and grain is a look,
    # not a repair. How much of it a restoration should keep is for the technician
    # (faithful keeps some, a sweep on grain.strength inserts it into any preset)
    # and for the audience to choose.
    return {"ops": ops}


def compression_denoise_factor(report: dict[str, Any]) -> float:
    """How much harder `auto` denoises because the source was squeezed by a lossy codec
    (see COMPRESSED_BPP): 1 for lossless, intra-frame mezzanine and unknown rates,
    up to COMPRESSED_DENOISE for a web-rate copy."""
    return 1.0 + (COMPRESSED_DENOISE - 1.0) * _squeeze(report.get("source") or {})


def is_warm_cast(colour: dict[str, Any]) -> bool:
    """Whether the report's colour summary found a warm (sepia, orange) cast."""
    return colour["cast"] in ("sepia", "orange")


def is_toned_print(colour: dict[str, Any]) -> bool:
    """Whether the report's colour summary reads as a toned or monochrome print, whose
    toning `auto` keeps. A warm cast is toning (sepia) or a colour film gone brown;
    reports from before "toned" was measured count every warm cast as toning."""
    return bool(colour["monochrome"]) or (is_warm_cast(colour) and bool(colour.get("toned", True)))


def _fade_levels(c: dict[str, Any], fade_c: float) -> dict[str, float]:
    """colour_correct's black and white points undoing the measured fade.

    The black lift is the darkest channel's floor above NATURAL_FLOOR, removed in
    proportion to the evidence. Fading compresses tones towards a light level
    (FADE_PIVOT): blacks rise far more than whites fall, so the white point moves by
    the same compression around the pivot instead of being stretched to full white,
    which would brighten a low-key scene that never had whites.
    """
    black, white = float(c["black3"]), float(c["white3"])
    natural = float(c.get("natural_floor", NATURAL_FLOOR))
    lift = FADE_REMOVE * fade_c * max(0.0, float(c["floor"]) - natural)
    target = max(0.0, black - lift)
    k = (FADE_PIVOT - black) / max(FADE_PIVOT - target, 1e-3)  # the fade's compression
    white_t = FADE_PIVOT + (white - FADE_PIVOT) / max(k, 0.25)
    return {"contrast": 1.0, "black_point": round(float(np.clip(target, 0.0, 0.2)), 3),
            "white_point": round(float(np.clip(white_t, 0.3, 1.0)), 3)}


# ----------------------------------------------------------------------------
# plot
# ----------------------------------------------------------------------------
# The plot's words, in English. A caller showing the plot to readers of another
# language passes its own (same keys, same {placeholders}) to plot_report.
PLOT_TEXT: dict[str, str] = {
    "brightness_legend": "mean brightness",
    "flicker_legend": "flicker",
    "flicker_axis": "flicker %",
    "brightness_axis": "brightness",
    "flicker_title": "Flicker index {index:.2f}% ({level})",
    "noise_axis": "noise σ\n(8-bit levels)",
    "detail_axis": "fine detail\n(sharpness)",
    "dust_legend": "dust",
    "blotches_legend": "blotches",
    "spots_axis": "one-frame\nspots",
    "scratches_axis": "vertical\nscratches",
    "frame_axis": "frame",
    "clip": "clip",
    "head": ("{name}: {width}x{height}, {fps:.2f} fps, {frames} frames, {shots} shot(s) "
             "(dashed lines = cuts, grey ticks = repeated frames)"),
    "suggested": "Suggested: {ops}",
    "nothing": "nothing to repair",
}


def plot_report(report: dict[str, Any], path: str | Path, *, text: Mapping[str, str] | None = None,
                findings: Sequence[str] | None = None, levels: Mapping[str, str] | None = None,
                op_names: Mapping[str, str] | None = None,
                font_family: Sequence[str] | None = None) -> Path:
    """Draw the per-frame measures over time (scene cuts as vertical lines, repeats as
    ticks) with a text summary; PNG or SVG by the file extension.

    In English by default; for another language pass `text` (PLOT_TEXT's keys),
    `findings` (the findings' sentences), `levels` (LEVEL_NAMES worded), `op_names`
    (operator names worded) and a `font_family` with glyphs for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = {**PLOT_TEXT, **(text or {})}
    rc = {"font.family": list(font_family)} if font_family else {}
    with matplotlib.rc_context(rc):
        return _draw_report(plt, report, Path(path), words, findings, levels or {}, op_names or {},
                            monospace=not font_family)


def _draw_report(plt: Any, report: dict[str, Any], path: Path, words: Mapping[str, str],
                 findings: Sequence[str] | None, levels: Mapping[str, str],
                 op_names: Mapping[str, str], *, monospace: bool) -> Path:
    s = report["summary"]
    frames = report["frames"]

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(r["frame"], r[key]) for r in frames if key in r and r[key] is not None]
        if not pts:
            return np.zeros(0), np.zeros(0)
        a = np.asarray(pts, dtype=np.float64)
        return a[:, 0], a[:, 1]

    fig = plt.figure(figsize=(11, 9.5), constrained_layout=True)
    grid = fig.add_gridspec(6, 1, height_ratios=[1.5, 1, 1, 1, 1, 1.6])
    axes = [fig.add_subplot(grid[i]) for i in range(5)]
    for a in axes[1:]:
        a.sharex(axes[0])
    x, y = series("luma")
    axes[0].plot(x, y, color="0.3", lw=1, label=words["brightness_legend"])
    fx, fy = series("flicker")
    ax2 = axes[0].twinx()
    ax2.bar(fx, 100 * fy, color="tab:orange", alpha=0.6, width=1.0, label=words["flicker_legend"])
    ax2.set_ylabel(words["flicker_axis"])
    axes[0].set_ylabel(words["brightness_axis"])
    level = s["flicker"]["level"]
    axes[0].set_title(words["flicker_title"].format(index=100 * s["flicker"]["index"],
                                                    level=levels.get(level, level)),
                      loc="left", fontsize=10)
    x, y = series("noise")
    axes[1].plot(x, 255 * y, color="tab:blue", lw=1)
    axes[1].set_ylabel(words["noise_axis"])
    x, y = series("detail")
    axes[2].plot(x, y, color="tab:green", lw=1)
    axes[2].axhline(0.3, color="tab:green", ls=":", lw=0.8)
    axes[2].set_ylabel(words["detail_axis"])
    x, y = series("dust")
    axes[3].plot(x, y, ".", color="tab:red", ms=3, label=words["dust_legend"])
    x, y = series("blotches")
    axes[3].plot(x, y, "s", color="tab:purple", ms=3, label=words["blotches_legend"])
    axes[3].set_ylabel(words["spots_axis"])
    axes[3].legend(loc="upper right", fontsize=8)
    x, y = series("scratches")
    axes[4].step(x, y, where="mid", color="tab:brown", lw=1)
    axes[4].set_ylabel(words["scratches_axis"])
    axes[4].set_xlabel(words["frame_axis"])
    reps = [r["frame"] for r in frames if r.get("repeat")]
    for a in axes:
        for c in s["scenes"]["cuts"]:
            a.axvline(c, color="k", ls="--", lw=0.8)
        a.grid(alpha=0.25)
    if reps:
        axes[4].plot(reps, np.zeros(len(reps)), "|", color="0.5", ms=6)
    text_ax = fig.add_subplot(grid[5])
    text_ax.axis("off")
    src = report.get("source") or {}
    head = words["head"].format(
        name=Path(src["path"]).name if src.get("path") else words["clip"], width=s["width"],
        height=s["height"], fps=s["fps"], frames=s["frames"], shots=s["scenes"]["count"])
    if findings is None:
        findings = [f["text"] for f in report.get("findings", [])]
    lines = [head] + [f"• {line}" for line in list(findings)[:9]]
    ops = suggest_spec(report)["ops"]
    lines.append(words["suggested"].format(
        ops=" → ".join(op_names.get(o["op"], o["op"]) for o in ops) if ops else words["nothing"]))
    # With a caller's font_family (one with glyphs for its language) that draws the
    # summary too; the default keeps the English summary in a monospace face.
    text_ax.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9, wrap=True,
                 **({"family": "monospace"} if monospace else {}))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
