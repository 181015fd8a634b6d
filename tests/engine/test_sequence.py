"""Image sequences: patterns, folders, natural numbering, gaps, and reading them."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from gpu_worker.engine import io
from gpu_worker.engine.sequence import (
    SequenceError,
    find_sequence,
    is_sequence_path,
    output_pattern_folder,
)
from tests.media_factory import make_image_sequence


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_pattern_with_padding_and_a_start_number(tmp_path):
    touch(tmp_path, "scan_000098.tif", "scan_000099.tif", "scan_000100.tif", "notes.txt")
    seq = find_sequence(tmp_path / "scan_%06d.tif", Fraction(24000, 1001))
    assert (seq.start, seq.count, seq.codec) == (98, 3, "tiff")
    assert seq.ffmpeg_options() == {"framerate": "24000/1001", "start_number": "98"}
    assert [p.name for p in seq.files] == ["scan_000098.tif", "scan_000099.tif",
                                           "scan_000100.tif"]


def test_folder_with_unpadded_numbers_is_ordered_naturally(tmp_path):
    touch(tmp_path, *[f"f{n}.png" for n in (1, 2, 9, 10, 11)], *[f"f{n}.png" for n in range(3, 9)])
    seq = find_sequence(tmp_path)
    assert seq.pattern.endswith("f%d.png")
    assert seq.numbers == list(range(1, 12)) and seq.rate == 24


def test_folder_with_padded_numbers(tmp_path):
    touch(tmp_path, "a0009.dpx", "a0010.dpx", "a0011.dpx")
    seq = find_sequence(tmp_path)
    assert seq.pattern.endswith("a%04d.dpx") and seq.count == 3 and seq.codec == "dpx"


def test_gaps_are_reported_not_skipped(tmp_path):
    touch(tmp_path, *[f"{n:04d}.exr" for n in (0, 1, 2, 5, 6)])
    with pytest.raises(SequenceError, match=r"gaps in the numbering: 2 frame\(s\) missing "
                                            r"between 0 and 6 \(3, 4\)"):
        find_sequence(tmp_path / "%04d.exr")


def test_bad_sequences_say_why(tmp_path):
    with pytest.raises(SequenceError, match="no numbered"):
        find_sequence(tmp_path)
    touch(tmp_path, "a1.tif", "b1.png")
    with pytest.raises(SequenceError, match="more than one sequence"):
        find_sequence(tmp_path)
    with pytest.raises(SequenceError, match="no file matches"):
        find_sequence(tmp_path / "c%03d.tif")
    with pytest.raises(SequenceError, match="not positive"):
        find_sequence(tmp_path / "a%d.tif", 0)


def test_what_counts_as_a_sequence_path(tmp_path):
    assert is_sequence_path(tmp_path) and is_sequence_path("x/%06d.dpx")
    assert not is_sequence_path("x/%06d.mp4") and not is_sequence_path("clip.mov")
    assert output_pattern_folder("out/f_%04d.exr").name == "out"
    assert output_pattern_folder("out/film.mov") is None


@pytest.mark.parametrize(("kind", "codec", "deep", "depth"), [
    ("tiff8", "tiff", False, 8), ("tiff16", "tiff", True, 16), ("png", "png", True, 16),
    ("exr_half", "exr", True, 16), ("exr_float", "exr", True, 32), ("dpx", "dpx", True, 10)])
def test_formats_read_at_their_depth(tmp_path, kind, codec, deep, depth):
    pattern = make_image_sequence(tmp_path / kind, kind=kind, frames=4)
    info = io.probe(find_sequence(pattern, Fraction(25)))
    assert (info.container, info.video_codec, info.frame_count) == ("image2", codec, 4)
    assert info.fps_fraction == "25/1" and info.bit_depth == depth
    frames = list(io.iter_decoded(pattern, start=1, high_bit_depth=True))
    assert [f.index for f in frames] == [1, 2, 3]
    image = frames[0].image
    assert image.dtype == (np.uint16 if deep else np.uint8)
    # Frame 1's red ramp at column 40 of 96 (+4 per frame): (40 + 4) / (96 + 16).
    scale = 65535 if deep else 255
    tolerance = 0.002 if deep and kind != "exr_half" else 0.005
    assert abs(image[10, 40, 0] / scale - 44 / 112) < tolerance
    assert abs(image[32, 7, 1] / scale - 32 / 64) < tolerance


def test_sixteen_bit_tiff_keeps_more_than_256_levels(tmp_path):
    pattern = make_image_sequence(tmp_path, kind="tiff16", frames=1, width=1024, height=8)
    image = next(io.iter_decoded(pattern, high_bit_depth=True)).image
    assert len(np.unique(image[0, :, 0])) > 900


def test_probe_refuses_a_sequence_with_a_gap(tmp_path):
    pattern = make_image_sequence(tmp_path, kind="png", frames=5, skip=(2,))
    with pytest.raises(io.MediaError, match=r"missing between 0 and 4 \(2\)"):
        io.probe(pattern)
