"""Encoding settings: codecs, pixel formats and their bit depth (no PyAV needed)."""

from __future__ import annotations

import pytest

from gpu_worker.engine.encoding import EncodeError, EncodeSettings, pix_fmt_bit_depth


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


def test_depths_of_the_default_and_ten_bit_outputs():
    assert EncodeSettings().bit_depth == 8
    assert EncodeSettings(codec="prores").bit_depth == 10
    assert EncodeSettings(codec="prores", prores_profile=4).effective_pix_fmt == "yuv444p10le"
    assert EncodeSettings(codec="h265", pix_fmt="yuv420p10le").bit_depth == 10
    assert EncodeSettings(codec="av1", pix_fmt="yuv420p10le").bit_depth == 10
