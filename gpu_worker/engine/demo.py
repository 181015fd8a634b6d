"""A short, procedurally drawn "old film" so that a fresh install has a real clip.

`make_demo_film(path)` draws three shots in numpy/OpenCV: a title card, a country
landscape (hills, a windmill turning, a motor car driving along the road, people
walking, birds), and after a cut a town square (houses, a tram crossing, a walker with an
umbrella). The clean frames are aged with the synthetic damage model (grain, dust,
blotches, vertical scratches, flicker, softness, fading and sepia toning) and encoded
as H.264 in MP4 together with an AAC soundtrack synthesised on the spot: a projector's
mains hum and sprocket clatter under a little waltz on a reed-organ-like voice.

Everything is seeded: the same arguments give the same film. Drawing, damage and
encoding of the default 8 s at 640x480 take a few seconds on one CPU core.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from gpu_worker.engine.damage import DamageConfig, degrade_frames

__all__ = ["make_demo_film", "demo_frames", "demo_damage", "demo_audio", "DEMO_TITLE"]

DEMO_TITLE = "A SUNDAY IN THE COUNTRY"
AUDIO_RATE = 48000


def demo_damage(fps: float) -> DamageConfig:
    """The damage applied to the demo film: clearly old, clearly repairable."""
    return DamageConfig(grain=0.035, grain_size=0.8, dust=220, dust_size=3.0, blotches=0.35,
                        blotch_size=10.0, scratches=0.9, scratch_max_frames=40, flicker=0.07,
                        blur=0.6, fade=0.3, cast="sepia", cast_strength=0.65, fps=fps)


# ----------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------
def _texture(rng: np.random.Generator, h: int, w: int, sigma: float, amp: float) -> np.ndarray:
    t = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma)
    return (t / max(float(t.std()), 1e-6) * amp)[..., None]


def _title_card(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    # uint8: OpenCV 5 draws text on 8-bit images only.
    img = np.clip(np.full((h, w, 3), 18, np.float32) + _texture(rng, h, w, 6, 6), 0, 255
                  ).astype(np.uint8)
    s = w / 640
    m = int(24 * s)
    cv2.rectangle(img, (m, m), (w - m, h - m), (200, 200, 200), max(1, int(3 * s)), cv2.LINE_AA)
    cv2.rectangle(img, (m + int(10 * s), m + int(10 * s)),
                  (w - m - int(10 * s), h - m - int(10 * s)), (150, 150, 150), 1, cv2.LINE_AA)
    for cx, cy in ((m, m), (w - m, m), (m, h - m), (w - m, h - m)):
        cv2.circle(img, (cx, cy), int(9 * s), (200, 200, 200), -1, cv2.LINE_AA)

    def centred(text: str, y: float, scale: float, thick: int, font: int) -> None:
        (tw, _), _ = cv2.getTextSize(text, font, scale * s, thick)
        cv2.putText(img, text, ((w - tw) // 2, int(y * h)), font, scale * s, (235, 235, 235),
                    max(1, int(thick * s)), cv2.LINE_AA)

    centred("REEL ARENA PICTURES", 0.25, 0.7, 1, cv2.FONT_HERSHEY_COMPLEX_SMALL)
    centred("presents", 0.33, 0.6, 1, cv2.FONT_HERSHEY_COMPLEX_SMALL)
    words = DEMO_TITLE.split(" ")
    half = (len(words) + 1) // 2
    centred(" ".join(words[:half]), 0.50, 1.3, 2, cv2.FONT_HERSHEY_TRIPLEX)
    centred(" ".join(words[half:]), 0.62, 1.3, 2, cv2.FONT_HERSHEY_TRIPLEX)
    cv2.line(img, (int(0.3 * w), int(0.70 * h)), (int(0.7 * w), int(0.70 * h)), (180, 180, 180),
             1, cv2.LINE_AA)
    centred("A restoration demonstration", 0.79, 0.75, 1, cv2.FONT_HERSHEY_COMPLEX_SMALL)
    return img.astype(np.float32)


def _landscape(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Background wider than the frame (the camera pans across it)."""
    ww = int(w * 1.25)
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = np.array([170, 200, 235], np.float32) * (1 - 0.35 * ys) + 25 * ys
    img = np.broadcast_to(sky, (h, ww, 3)).copy()
    for _ in range(5):  # clouds
        cx, cy = rng.uniform(0, ww), rng.uniform(0.05, 0.3) * h
        for j in range(6):
            cv2.ellipse(img, (int(cx + j * 18 * w / 640), int(cy + rng.uniform(-8, 8))),
                        (int(rng.uniform(25, 45) * w / 640), int(rng.uniform(10, 18) * w / 640)),
                        0, 0, 360, (240, 240, 245), -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 2)
    xs = np.arange(ww)
    layers = [(0.52, 0.05, (110, 135, 110)), (0.62, 0.04, (80, 120, 70)), (0.74, 0.03, (95, 140, 60))]
    for base, amp, colour in layers:
        ph = rng.uniform(0, 6.28)
        ridge = (base + amp * np.sin(xs / ww * 6.0 + ph) + amp * 0.5 * np.sin(xs / ww * 17 + 2 * ph)) * h
        mask = np.arange(h)[:, None] >= ridge[None, :]
        img[mask] = colour
    img += _texture(rng, h, ww, 1.5, 9) * (np.arange(h)[:, None, None] > 0.5 * h)
    # The road, fences and a tree.
    road_y = int(0.84 * h)
    cv2.rectangle(img, (0, road_y - int(0.03 * h)), (ww, road_y + int(0.04 * h)), (150, 140, 120), -1)
    for x in range(0, ww, int(34 * w / 640)):
        cv2.line(img, (x, road_y - int(0.07 * h)), (x, road_y - int(0.03 * h)), (70, 60, 50), 2, cv2.LINE_AA)
    cv2.line(img, (0, road_y - int(0.06 * h)), (ww, road_y - int(0.06 * h)), (70, 60, 50), 1, cv2.LINE_AA)
    tx, ty = int(0.18 * ww), int(0.78 * h)
    cv2.rectangle(img, (tx - 6, ty - int(0.18 * h)), (tx + 6, ty), (60, 45, 35), -1)
    for _ in range(40):
        cv2.circle(img, (int(tx + rng.normal(0, 30) * w / 640), int(ty - 0.25 * h + rng.normal(0, 22) * w / 640)),
                   int(rng.uniform(10, 22) * w / 640), (40 + rng.uniform(0, 30), 85 + rng.uniform(0, 30), 40), -1,
                   cv2.LINE_AA)
    # The windmill tower (the sails turn, drawn per frame).
    mx, my = int(0.72 * ww), int(0.55 * h)
    pts = np.array([[mx - 16, my + 70], [mx + 16, my + 70], [mx + 9, my], [mx - 9, my]], np.float32)
    pts = (pts - [mx, my]) * (w / 640) + [mx, my]
    cv2.fillPoly(img, [pts.astype(np.int32)], (210, 205, 195), cv2.LINE_AA)
    return np.clip(img, 0, 255)


def _street(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A town square in the sun: dark facades close to the camera over a bright,
    sunlit pavement, the opposite layout of the landscape (bright sky over dark
    fields), as a real cut between such shots would be."""
    img = np.full((h, w, 3), 200, np.float32)
    img[: int(0.12 * h)] = (185, 205, 230)
    x = 0
    while x < w:
        bw = int(rng.uniform(90, 150) * w / 640)
        top = int(rng.uniform(0.0, 0.12) * h)
        col = np.array([rng.uniform(80, 120), rng.uniform(70, 100), rng.uniform(60, 90)])
        cv2.rectangle(img, (x, top), (x + bw, int(0.66 * h)), col.tolist(), -1)
        cv2.rectangle(img, (x, top), (x + bw, top + int(8 * h / 480)), (col * 0.6).tolist(), -1)
        for wx in range(x + 12, x + bw - 20, int(30 * w / 640)):
            for wy in range(top + int(25 * h / 480), int(0.56 * h), int(45 * h / 480)):
                cv2.rectangle(img, (wx, wy), (wx + int(16 * w / 640), wy + int(24 * h / 480)),
                              (35, 40, 45), -1)
        cv2.rectangle(img, (x + bw // 2 - 10, int(0.54 * h)), (x + bw // 2 + 10, int(0.66 * h)),
                      (45, 35, 30), -1)
        x += bw + int(rng.uniform(4, 12))
    img[int(0.66 * h):] = (225, 215, 195)
    img[int(0.66 * h):] += _texture(rng, h - int(0.66 * h), w, 1.0, 10)
    for yy in (int(0.80 * h), int(0.86 * h)):  # tram rails
        cv2.line(img, (0, yy), (w, yy), (120, 120, 125), 2, cv2.LINE_AA)
    return np.clip(img + _texture(rng, h, w, 1.2, 4), 0, 255)


def _figure(img: np.ndarray, x: float, y: float, t: float, scale: float, colour: tuple,
            hat: bool = True, umbrella: bool = False) -> None:
    """A walking person: body, head, swinging legs; feet at (x, y)."""
    s = scale
    swing = math.sin(t * 7.0) * 9 * s
    hip = (int(x), int(y - 32 * s))
    cv2.line(img, hip, (int(x + swing), int(y)), colour, max(2, int(4 * s)), cv2.LINE_AA)
    cv2.line(img, hip, (int(x - swing), int(y)), colour, max(2, int(4 * s)), cv2.LINE_AA)
    cv2.ellipse(img, (int(x), int(y - 50 * s)), (int(9 * s), int(20 * s)), 0, 0, 360, colour, -1,
                cv2.LINE_AA)
    cv2.circle(img, (int(x), int(y - 76 * s)), int(7 * s), (205, 170, 150), -1, cv2.LINE_AA)
    if hat:
        cv2.rectangle(img, (int(x - 9 * s), int(y - 84 * s)), (int(x + 9 * s), int(y - 82 * s)),
                      (25, 25, 25), -1)
        cv2.rectangle(img, (int(x - 6 * s), int(y - 94 * s)), (int(x + 6 * s), int(y - 83 * s)),
                      (25, 25, 25), -1)
    if umbrella:
        cv2.ellipse(img, (int(x + 4 * s), int(y - 100 * s)), (int(26 * s), int(16 * s)), 0, 180, 360,
                    (20, 20, 25), -1, cv2.LINE_AA)
        cv2.line(img, (int(x + 4 * s), int(y - 100 * s)), (int(x + 4 * s), int(y - 60 * s)),
                 (20, 20, 20), max(1, int(2 * s)), cv2.LINE_AA)


def _car(img: np.ndarray, x: float, y: float, t: float, s: float) -> None:
    """An early motor car, wheels turning; (x, y) = rear bottom."""
    body = (40, 35, 60)
    cv2.rectangle(img, (int(x), int(y - 34 * s)), (int(x + 90 * s), int(y - 12 * s)), body, -1)
    cv2.rectangle(img, (int(x + 8 * s), int(y - 58 * s)), (int(x + 50 * s), int(y - 34 * s)), body, 2)
    cv2.rectangle(img, (int(x + 62 * s), int(y - 44 * s)), (int(x + 88 * s), int(y - 34 * s)), (70, 70, 80), -1)
    for wx in (x + 18 * s, x + 74 * s):
        c = (int(wx), int(y - 10 * s))
        cv2.circle(img, c, int(12 * s), (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, c, int(8 * s), (150, 150, 150), 1, cv2.LINE_AA)
        for k in range(4):
            a = t * 9.0 + k * math.pi / 4
            cv2.line(img, (int(c[0] - 8 * s * math.cos(a)), int(c[1] - 8 * s * math.sin(a))),
                     (int(c[0] + 8 * s * math.cos(a)), int(c[1] + 8 * s * math.sin(a))),
                     (150, 150, 150), 1, cv2.LINE_AA)
    _figure(img, x + 30 * s, y - 30 * s, 0.0, 0.45 * s, (30, 30, 30))


def _tram(img: np.ndarray, x: float, y: float, s: float) -> None:
    cv2.rectangle(img, (int(x), int(y - 120 * s)), (int(x + 260 * s), int(y - 12 * s)), (130, 60, 50), -1)
    cv2.rectangle(img, (int(x), int(y - 128 * s)), (int(x + 260 * s), int(y - 118 * s)), (60, 40, 35), -1)
    for k in range(7):
        wx = x + 14 * s + k * 35 * s
        cv2.rectangle(img, (int(wx), int(y - 105 * s)), (int(wx + 24 * s), int(y - 68 * s)), (200, 210, 215), -1)
    cv2.line(img, (int(x + 130 * s), int(y - 128 * s)), (int(x + 160 * s), int(y - 190 * s)), (30, 30, 30), 2)
    for wx in (x + 40 * s, x + 220 * s):
        cv2.circle(img, (int(wx), int(y - 10 * s)), int(11 * s), (25, 25, 25), -1, cv2.LINE_AA)


def demo_frames(*, seconds: float = 8.0, fps: float = 24, width: int = 640, height: int = 480,
                seed: int = 0) -> Iterator[np.ndarray]:
    """The clean frames of the demo film, (H, W, 3) uint8 RGB, one at a time.

    Shots: a title card (~20% of the running time), the landscape (~45%), a cut, the
    town square (the rest).
    """
    n = max(3, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    h, w = height, width
    s = w / 640
    title = _title_card(h, w, rng)
    land = _landscape(h, w, rng)
    street = _street(h, w, rng)
    n_title = max(1, int(round(0.2 * n)))
    n_land = max(1, int(round(0.45 * n)))
    birds = rng.uniform(0, 1, (5, 2))
    for i in range(n):
        t = i / fps
        if i < n_title:
            img = title.copy()
        elif i < n_title + n_land:
            k = (i - n_title) / max(1, n_land - 1)
            pan = int(k * (land.shape[1] - w))
            img = land[:, pan:pan + w].copy()
            # Windmill sails (fixed to the landscape, so they pan with it).
            mx, my = int(0.72 * land.shape[1]) - pan, int(0.55 * h)
            for j in range(4):
                a = t * 2.2 + j * math.pi / 2
                tip = (int(mx + 60 * s * math.cos(a)), int(my + 60 * s * math.sin(a)))
                cv2.line(img, (mx, my), tip, (235, 230, 220), max(2, int(6 * s)), cv2.LINE_AA)
            cv2.circle(img, (mx, my), int(5 * s), (60, 50, 40), -1, cv2.LINE_AA)
            road_y = int(0.85 * h)
            _car(img, -120 * s + k * (w + 160 * s), road_y, t, 1.1 * s)
            _figure(img, w * 0.85 - k * 120 * s, road_y - 0.01 * h, t, 0.9 * s, (50, 40, 60))
            _figure(img, w * 0.9 - k * 110 * s, road_y, t + 0.4, 0.75 * s, (120, 40, 40), hat=False)
            for bx, by in birds:
                x = (bx * w + t * 60 * s) % w
                y = by * 0.3 * h + 5 * math.sin(t * 3 + bx * 10)
                flap = int(4 * s * math.sin(t * 14 + by * 10))
                cv2.line(img, (int(x - 6 * s), int(y - flap)), (int(x), int(y)), (30, 30, 30), 1, cv2.LINE_AA)
                cv2.line(img, (int(x), int(y)), (int(x + 6 * s), int(y - flap)), (30, 30, 30), 1, cv2.LINE_AA)
        else:
            k = (i - n_title - n_land) / max(1, n - n_title - n_land - 1)
            img = street.copy()
            _tram(img, w - k * (w + 300 * s), int(0.86 * h), 1.0 * s)
            _figure(img, 0.15 * w + k * 0.35 * w, 0.95 * h, t, 1.3 * s, (35, 35, 45), umbrella=True)
        yield np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# sound
# ----------------------------------------------------------------------------
def demo_audio(seconds: float, fps: float, seed: int = 0, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 soundtrack in [-1, 1]: projector hum and clatter under a waltz."""
    rng = np.random.default_rng(seed + 1)
    n = int(round(seconds * rate))
    t = np.arange(n, dtype=np.float64) / rate
    hum = 0.05 * np.sin(2 * np.pi * 50 * t) + 0.025 * np.sin(2 * np.pi * 100 * t + 0.5)
    # Sprocket clatter: a short noise burst each frame, louder every fourth.
    clatter = np.zeros(n)
    burst = int(0.004 * rate)
    env = np.exp(-np.arange(burst) / (0.0012 * rate))
    for k, start in enumerate(np.arange(0, seconds, 1.0 / fps)):
        i = int(start * rate)
        seg = rng.standard_normal(burst) * env * (0.06 if k % 4 == 0 else 0.03)
        clatter[i:i + burst] += seg[: max(0, min(burst, n - i))]
    # A waltz in C on a reed-organ-ish voice: odd harmonics, soft attack.
    melody = [("E5", 1), ("G5", 1), ("C6", 1), ("B5", 2), ("G5", 1), ("A5", 1), ("F5", 1), ("D5", 1),
              ("G5", 2), ("F5", 1), ("E5", 1), ("G5", 1), ("C5", 1), ("D5", 2), ("B4", 1), ("C5", 3)]
    names = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}

    def freq(note: str) -> float:
        return 440.0 * 2 ** ((names[note[0]] + 12 * (int(note[1]) - 4)) / 12)

    music = np.zeros(n)
    beat = 0.42
    pos = 0.6
    while pos < seconds:
        for note, beats in melody:
            if pos >= seconds:
                break
            dur = beats * beat
            i0, i1 = int(pos * rate), min(n, int((pos + dur) * rate))
            tt = np.arange(i1 - i0) / rate
            f = freq(note)
            voice = sum(np.sin(2 * np.pi * f * h * tt) / h for h in (1, 3, 5))
            envl = np.minimum(1.0, tt / 0.03) * np.exp(-tt / (dur * 1.2))
            music[i0:i1] += 0.12 * voice * envl
            # Oom-pah-pah bass on the beat.
            bass_f = freq("C3") if int(pos / beat) % 6 < 3 else freq("G2")
            music[i0:i1] += 0.08 * np.sin(2 * np.pi * bass_f * tt) * np.exp(-tt / 0.25)
            pos += dur
    # Old optical sound: band-limited and a little noisy.
    sig = hum + clatter + music + 0.004 * rng.standard_normal(n)
    k = np.ones(5) / 5
    sig = np.convolve(sig, k, mode="same")
    fade = np.minimum(1.0, np.minimum(t / 0.3, (seconds - t) / 0.3))
    return np.clip(sig * fade, -1, 1).astype(np.float32)


# ----------------------------------------------------------------------------
# the film
# ----------------------------------------------------------------------------
def make_demo_film(path: str | Path, *, seconds: float = 8.0, fps: int = 24, width: int = 640,
                   height: int = 480, seed: int = 0, crf: int = 23) -> Path:
    """Draw, age and encode the demo film (H.264 + AAC in MP4); returns the path.

    Written to a temporary name and renamed at the end, so a crash never leaves a
    half-written demo that the site would then try to serve.
    """
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (H.264 4:2:0)")
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    rate = Fraction(fps).limit_denominator(1001)
    frames = degrade_frames(demo_frames(seconds=seconds, fps=fps, width=width, height=height,
                                        seed=seed), demo_damage(float(fps)), seed=seed)
    audio = demo_audio(seconds, float(fps), seed)
    with av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height = width, height
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": str(crf), "preset": "ultrafast"}
        vs.codec_context.color_range = 1  # limited ("tv") range, what players expect
        a_s = out.add_stream("aac", rate=AUDIO_RATE)
        a_s.layout = "mono"
        chunk = 1024
        a_pts = 0
        a_pos = 0
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
            # Interleave the sound with the pictures up to this frame's end.
            until = min(len(audio), int(round((i + 1) / float(rate) * AUDIO_RATE)))
            while a_pos + chunk <= until or (a_pos < until and until == len(audio)):
                block = audio[a_pos:a_pos + chunk]
                af = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
                af.sample_rate = AUDIO_RATE
                af.pts = a_pts
                af.time_base = Fraction(1, AUDIO_RATE)
                a_pts += len(block)
                a_pos += len(block)
                for packet in a_s.encode(af):
                    out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        for packet in a_s.encode():
            out.mux(packet)
    tmp.replace(path)
    return path
