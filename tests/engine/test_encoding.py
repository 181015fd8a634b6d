"""Encoding settings: codecs, pixel formats and their bit depth (PyAV only where a test asks
FFmpeg's own encoder)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpu_worker.engine.encoding import PIX_FMTS, EncodeError, EncodeSettings, pix_fmt_bit_depth


@pytest.mark.parametrize(("pix_fmt", "bits"), [
    ("yuv420p", 8), ("yuvj420p", 8), ("rgb24", 8), ("gbrp", 8), ("nv12", 8), ("yuv411p", 8),
    ("yuv420p10le", 10), ("p010le", 10), ("yuv422p12le", 12), ("gbrp16le", 16),
    ("rgb48le", 16), ("gray16le", 16), ("gray10le", 10), ("yuv444p16le", 16),
])
def test_bit_depth_of_pixel_formats(pix_fmt, bits):
    assert pix_fmt_bit_depth(pix_fmt) == bits


def test_ffv1_is_a_lossless_archival_codec():
    ffv1 = EncodeSettings(codec="ffv1")
    assert ffv1.effective_pix_fmt == "yuv444p10le" and ffv1.bit_depth == 10
    assert ffv1.codec_options() == {"level": "3", "slicecrc": "1", "g": "1"}
    assert EncodeSettings(codec="ffv1", pix_fmt="gbrp16le").bit_depth == 16
    with pytest.raises(EncodeError, match="lossless and has no crf"):
        EncodeSettings(codec="ffv1", crf=10)
    with pytest.raises(EncodeError, match="is not one of"):
        EncodeSettings(codec="ffv1", pix_fmt="yuv420p10le")
    with pytest.raises(EncodeError, match="FFV1 needs a .mkv or .mov"):
        ffv1.check_container("mp4")
    ffv1.check_container("matroska")


def test_every_ffv1_pixel_format_offered_opens_ffmpegs_encoder():
    # An offered format FFmpeg's encoder refuses (8-bit planar RGB, gbrp) would fail
    # only at the end of a render; 8-bit RGB is offered as bgr0.
    import av

    for pix_fmt in PIX_FMTS["ffv1"]:
        cc = av.CodecContext.create("ffv1", "w")
        cc.width, cc.height, cc.pix_fmt = 64, 48, pix_fmt
        cc.time_base = Fraction(1, 24)
        cc.options = EncodeSettings(codec="ffv1", pix_fmt=pix_fmt).codec_options()
        cc.open()
    assert EncodeSettings(codec="ffv1", pix_fmt="bgr0").bit_depth == 8


def test_depths_of_the_default_and_ten_bit_outputs():
    assert EncodeSettings().bit_depth == 8
    assert EncodeSettings(codec="prores").bit_depth == 10
    assert EncodeSettings(codec="prores", prores_profile=4).effective_pix_fmt == "yuv444p10le"
    assert EncodeSettings(codec="h265", pix_fmt="yuv420p10le").bit_depth == 10
    assert EncodeSettings(codec="av1", pix_fmt="yuv420p10le").bit_depth == 10
