"""Encoding settings of a render: codec, quality, pixel format, container checks.

Kept apart from gpu_worker.engine.io (PyAV) because a spec carries its encoding and the
web process validates specs: this module needs nothing but the standard library.
gpu_worker.engine.io applies these settings to a PyAV encoder.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CODECS", "CONTAINERS", "EncodeError", "EncodeSettings", "container_format",
           "pix_fmt_bit_depth", "IMAGE_CODECS", "image_codec_for"]

CODECS = {"h264": "libx264", "h265": "libx265", "av1": "libsvtav1", "prores": "prores_ks",
          "ffv1": "ffv1", "tiff": "tiff", "dpx": "dpx", "exr": "exr", "png": "png"}
IMAGE_CODECS = {"tiff": (".tif", ".tiff"), "dpx": (".dpx",), "exr": (".exr",),
                "png": (".png",)}
"""Codecs written as image sequences (one file per frame, FFmpeg's image2 muxer),
with the suffixes their pattern may end in."""
CRF_RANGE = {"h264": (0, 51), "h265": (0, 51), "av1": (0, 63)}
DEFAULT_CRF = {"h264": 18, "h265": 20, "av1": 30}
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
DEFAULT_PRESET = {"h264": "medium", "h265": "medium", "av1": "8"}
DEFAULT_PIX_FMT = {"h264": "yuv420p", "h265": "yuv420p", "av1": "yuv420p",
                   "prores": "yuv422p10le", "ffv1": "yuv444p10le",
                   "tiff": "rgb48le", "dpx": "gbrp10le", "exr": "gbrpf32le", "png": "rgb48be"}
PIX_FMTS = {"h264": ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le"),
            "h265": ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le"),
            "av1": ("yuv420p", "yuv420p10le"),
            "prores": ("yuv422p10le", "yuv444p10le"),
            # FFV1: lossless archival masters, 8 to 16 bits, YUV or RGB planes.
            "ffv1": ("yuv420p", "yuv422p", "yuv444p", "yuv422p10le", "yuv444p10le",
                     "yuv444p12le", "yuv444p16le", "bgr0", "gbrp10le", "gbrp12le",
                     "gbrp16le"),
            "tiff": ("rgb24", "rgb48le"),
            "dpx": ("rgb24", "gbrp10le", "gbrp12le", "rgb48le"),
            "exr": ("gbrpf32le",),
            "png": ("rgb24", "rgb48be")}
PRORES_PROFILES = {0: "proxy", 1: "lt", 2: "standard", 3: "hq", 4: "4444", 5: "4444xq"}
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
              ".webm": "webm"}


class EncodeError(ValueError):
    """Encoding settings that cannot work (bad codec, range, container mismatch)."""


@dataclass
class EncodeSettings:
    """How the restored frames are encoded.

    `threads` is fixed (not "auto") on purpose: x264/x265 output depends on the thread
    count, and the same spec must give byte-identical files on every worker.
    """

    codec: str = "h264"  # h264 | h265 | av1 | prores | ffv1
    crf: int | None = None  # quality target; None = the codec's default
    preset: str | None = None  # x264/x265 speed preset, or SVT-AV1 preset 0..13
    pix_fmt: str | None = None
    bit_rate: int | None = None  # bits/s; replaces crf when set (h264/h265/av1)
    film_grain: int = 0  # AV1 only: film-grain synthesis level 0..50
    film_grain_denoise: bool = False  # AV1 only: let the encoder denoise before coding
    prores_profile: int = 3  # ProRes only: 0 proxy, 1 lt, 2 standard, 3 hq, 4 4444
    threads: int = 4
    options: dict[str, str] | None = None  # extra encoder options, passed as they are

    def __post_init__(self) -> None:
        self.validate()

    # -- validation / defaults ------------------------------------------------------
    def validate(self) -> None:
        if self.codec not in CODECS:
            raise EncodeError(f"encode.codec: {self.codec!r} is not one of "
                              f"{', '.join(CODECS)}")
        if self.crf is not None:
            if self.codec == "prores":
                raise EncodeError("encode.crf: ProRes has no crf; choose prores_profile")
            if self.codec == "ffv1":
                raise EncodeError("encode.crf: FFV1 is lossless and has no crf")
            if self.codec in IMAGE_CODECS:
                raise EncodeError(f"encode.crf: {self.codec} images have no crf")
            lo, hi = CRF_RANGE[self.codec]
            if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not lo <= self.crf <= hi:
                raise EncodeError(f"encode.crf: {self.crf!r} is outside the allowed range "
                                  f"[{lo}, {hi}] for {self.codec}")
        if self.preset is not None:
            if self.codec in ("h264", "h265") and self.preset not in X26X_PRESETS:
                raise EncodeError(f"encode.preset: {self.preset!r} is not one of "
                                  f"{', '.join(X26X_PRESETS)}")
            if self.codec == "av1" and not (str(self.preset).isdigit()
                                            and 0 <= int(self.preset) <= 13):
                raise EncodeError(f"encode.preset: {self.preset!r} is outside the allowed "
                                  "range [0, 13] for av1 (SVT-AV1)")
            if self.codec in ("prores", "ffv1", *IMAGE_CODECS):
                raise EncodeError(f"encode.preset: {self.codec} has no speed preset")
        if self.pix_fmt is not None and self.pix_fmt not in PIX_FMTS[self.codec]:
            raise EncodeError(f"encode.pix_fmt: {self.pix_fmt!r} is not one of "
                              f"{', '.join(PIX_FMTS[self.codec])} for {self.codec}")
        if not isinstance(self.film_grain, int) or not 0 <= self.film_grain <= 50:
            raise EncodeError(f"encode.film_grain: {self.film_grain!r} is outside the "
                              "allowed range [0, 50]")
        if self.film_grain and self.codec != "av1":
            raise EncodeError("encode.film_grain: film-grain synthesis needs codec av1")
        if self.prores_profile not in PRORES_PROFILES:
            raise EncodeError(f"encode.prores_profile: {self.prores_profile!r} is not one "
                              f"of {sorted(PRORES_PROFILES)}")
        if not isinstance(self.threads, int) or not 1 <= self.threads <= 64:
            raise EncodeError(f"encode.threads: {self.threads!r} is outside the allowed "
                              "range [1, 64]")
        if self.bit_rate is not None and (not isinstance(self.bit_rate, int)
                                          or self.bit_rate < 10_000):
            raise EncodeError(f"encode.bit_rate: {self.bit_rate!r} must be a whole number "
                              "of bits per second, at least 10000")

    @property
    def encoder(self) -> str:
        return CODECS[self.codec]

    @property
    def bit_depth(self) -> int:
        """Bits per component of the encoded picture: above 8, the pipeline hands the
        writer 16-bit RGB so nothing passes through 8 bits on the way."""
        return pix_fmt_bit_depth(self.effective_pix_fmt)

    @property
    def effective_pix_fmt(self) -> str:
        if self.pix_fmt:
            return self.pix_fmt
        if self.codec == "prores" and self.prores_profile >= 4:
            return "yuv444p10le"
        return DEFAULT_PIX_FMT[self.codec]

    def codec_options(self) -> dict[str, str]:
        """Encoder private options (what `-crf`, `-preset`, … set on the command line)."""
        opts: dict[str, str] = {}
        if self.codec in ("h264", "h265", "av1"):
            if self.bit_rate is None:
                opts["crf"] = str(self.crf if self.crf is not None else DEFAULT_CRF[self.codec])
            opts["preset"] = str(self.preset or DEFAULT_PRESET[self.codec])
        if self.codec == "h265":
            # Fixed pools/frame threads: x265 otherwise sizes them from the CPU count.
            opts["x265-params"] = f"pools={self.threads}:frame-threads=1:log-level=error"
        if self.codec == "av1":
            params = [f"lp={self.threads}"]
            if self.film_grain:
                params.append(f"film-grain={self.film_grain}")
                params.append(f"film-grain-denoise={1 if self.film_grain_denoise else 0}")
            opts["svtav1-params"] = ":".join(params)
        if self.codec == "prores":
            opts["profile"] = str(self.prores_profile)
        if self.codec == "ffv1":
            # The archival settings (as in the FFV1 guides of film archives): version
            # 3, per-slice checksums so damage is detected, every frame a keyframe.
            opts.update({"level": "3", "slicecrc": "1", "g": "1"})
        opts.update({str(k): str(v) for k, v in (self.options or {}).items()})
        return opts

    def check_container(self, fmt: str) -> None:
        if self.codec == "prores" and fmt not in ("mov", "matroska"):
            raise EncodeError("ProRes needs a .mov or .mkv output file")
        if self.codec == "ffv1" and fmt not in ("mov", "matroska"):
            raise EncodeError("FFV1 needs a .mkv or .mov output file")
        if (self.codec in IMAGE_CODECS) != (fmt == "image2"):
            raise EncodeError(f"codec {self.codec} needs " + (
                "an image-sequence output (a pattern such as frames/%06d.tif)"
                if self.codec in IMAGE_CODECS else "a video file, not an image sequence"))
        if fmt == "webm" and self.codec != "av1":
            raise EncodeError("a .webm output file needs codec av1")

    # -- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["options"]:
            out.pop("options")
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> EncodeSettings:
        raw = dict(raw or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise EncodeError(f"encode: unknown setting {unknown[0]!r}; known: "
                              f"{', '.join(sorted(known))}")
        if "preset" in raw and raw["preset"] is not None:
            raw["preset"] = str(raw["preset"])
        return cls(**raw)


def image_codec_for(path: str | os.PathLike[str]) -> str | None:
    """The image codec an output pattern's suffix asks for (None: a video file)."""
    suffix = Path(path).suffix.lower()
    return next((c for c, sfx in IMAGE_CODECS.items() if suffix in sfx), None)


def pix_fmt_bit_depth(pix_fmt: str) -> int:
    """Bits per component of an FFmpeg pixel format name (yuv420p10le -> 10, rgb48le
    -> 16, p010le -> 10), without PyAV: the web process validates specs too."""
    name = pix_fmt.lower()
    for suffix in ("le", "be"):
        if name.endswith(suffix):
            name = name[:-2]
            break
    if name in ("rgb48", "bgr48", "rgba64", "bgra64", "ya16"):
        return 16
    if name.startswith(("p010", "p210", "p410")):
        return 10
    if name.startswith(("p012",)):
        return 12
    if name.startswith(("p016", "p216", "p416")):
        return 16
    digits = ""
    for ch in reversed(name):
        if not ch.isdigit():
            break
        digits = ch + digits
    tail = name[:len(name) - len(digits)]
    if digits and tail.endswith(("p", "f")) and int(digits) in (9, 10, 12, 14, 16, 32):
        return int(digits)  # yuv444p12, gbrp16, gray16 (gray + digits), grayf32
    if digits and tail.startswith("gray") and int(digits) > 8:
        return int(digits)
    return 8


def container_format(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if any(suffix in suffixes for suffixes in IMAGE_CODECS.values()):
        if "%" not in Path(path).name:
            raise EncodeError(f"an image-sequence output needs a numbered pattern such as "
                              f"frames/%06d{suffix}")
        return "image2"
    try:
        return CONTAINERS[suffix]
    except KeyError:
        raise EncodeError(f"unsupported output file type {suffix or '(none)'!r}; use one "
                          f"of {', '.join(CONTAINERS)}") from None
