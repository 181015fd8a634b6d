"""restoration.services.sequences: a zip of scanned frames becomes a lossless clip."""

from __future__ import annotations

import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gpu_worker.engine.io import iter_decoded, probe
from restoration.models import Clip, UploadSession
from restoration.services import sequences, uploads
from restoration.services.uploads import UploadRejected
from tests.factories import FilmFactory, technician
from tests.media_factory import make_frame_zip, sequence_frame

pytestmark = pytest.mark.django_db


def upload(path: Path, frame_rate: str = "", chunk: int = 65536) -> Clip:
    data = path.read_bytes()
    session = uploads.start_upload(
        user=technician(),
        film=FilmFactory(),
        filename=path.name,
        size=len(data),
        frame_rate=frame_rate,
    )
    for offset in range(0, len(data), chunk):
        uploads.append_chunk(session, offset, [data[offset : offset + chunk]])
    return uploads.finish_upload(session)


def leftovers(settings) -> list[Path]:
    return [
        p
        for root in (settings.MEDIA_ROOT, settings.UPLOAD_STAGING_DIR)
        for p in Path(root).rglob("*")
        if p.is_file()
    ]


@pytest.mark.parametrize("codec", ["tiff", "png"])
def test_16_bit_sequence_becomes_a_lossless_ffv1_master_in_natural_order(
    codec, tmp_path, settings, eager_celery, django_capture_on_commit_callbacks
):
    archive = make_frame_zip(tmp_path / f"reel1_{codec}.zip", codec=codec, numbers=range(1, 13))
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload(archive, frame_rate="24000/1001")
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert clip.source.name.endswith("/source.mkv") and clip.video_codec == "ffv1"
    assert clip.original_filename == archive.name
    assert (clip.width, clip.height, clip.frame_count) == (64, 48, 12)
    assert clip.fps_fraction == "24000/1001"
    assert UploadSession.objects.get().status == UploadSession.Status.COMPLETE
    # Every frame, in numeric order (1, 2, ... 10, 11, 12), with all 16 bits.
    frames = list(iter_decoded(clip.source.path, high_bit_depth=True))
    assert len(frames) == 12
    for n, decoded in enumerate(frames, start=1):
        np.testing.assert_array_equal(decoded.image, sequence_frame(n))
    assert [p.name for p in Path(settings.UPLOAD_STAGING_DIR).iterdir()] == []


def test_default_rate_is_24_and_decimal_ntsc_means_1001(tmp_path):
    assert sequences.parse_frame_rate("") == 24
    assert sequences.parse_frame_rate("23.976") == Fraction(24000, 1001)
    assert sequences.parse_frame_rate("25") == 25
    for bad in ("0", "fast", "1/0", "1000"):
        with pytest.raises(sequences.SequenceRejected, match="frame rate"):
            sequences.parse_frame_rate(bad)


def test_a_bad_frame_rate_is_refused_before_any_byte_is_sent():
    with pytest.raises(UploadRejected, match="frame rate"):
        uploads.start_upload(
            user=technician(), film=FilmFactory(), filename="a.zip", size=10, frame_rate="fast"
        )


def test_gaps_are_refused_naming_the_missing_frames(tmp_path, settings):
    archive = make_frame_zip(tmp_path / "gappy.zip", numbers=[1, 2, 3, 5, 6, 9, 10])
    with pytest.raises(UploadRejected, match=r"3 frame\(s\) missing between 1 and 10 \(4, 7, 8\)"):
        upload(archive)
    assert Clip.objects.count() == 0 and leftovers(settings) == []
    assert "(4, 7, 8)" in UploadSession.objects.get().error


def test_mixed_frame_sizes_are_refused(tmp_path, settings):
    archive = make_frame_zip(
        tmp_path / "mixed.zip", codec="png", numbers=range(1, 6), sizes={4: (80, 48)}
    )
    with pytest.raises(
        UploadRejected,
        match=r"different sizes: scan_4.png is 80x48, the first "
        r"frame 64x48",
    ):
        upload(archive)
    assert Clip.objects.count() == 0 and leftovers(settings) == []


def test_a_zip_without_frames_and_two_sequences_are_refused(tmp_path, settings):
    empty = tmp_path / "notes.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no frames here")
    with pytest.raises(UploadRejected, match="no DPX, TIFF, EXR or PNG frames"):
        upload(empty)
    two = make_frame_zip(tmp_path / "two.zip", numbers=range(1, 4))
    with zipfile.ZipFile(two, "a") as zf:
        zf.writestr("other_1.tif", b"x")
    with pytest.raises(UploadRejected, match="more than one sequence"):
        upload(two)
    assert Clip.objects.count() == 0 and leftovers(settings) == []


def test_member_paths_cannot_escape_the_unpack_folder(tmp_path):
    archive = make_frame_zip(tmp_path / "evil.zip", numbers=range(1, 4), folder="../../")
    out = tmp_path / "master.mkv"
    assert sequences.master_from_zip(archive, out, Fraction(24), max_bytes=10**9) == 3
    assert not (tmp_path.parent / "scan_1.tif").exists()
    assert probe(out).frame_count == 3


def test_frames_unpacking_past_the_limit_are_refused(tmp_path):
    archive = make_frame_zip(tmp_path / "big.zip", numbers=range(1, 4))
    with pytest.raises(sequences.SequenceRejected, match="upload limit"):
        sequences.master_from_zip(archive, tmp_path / "m.mkv", Fraction(24), max_bytes=20000)
    assert not (tmp_path / "m.mkv").exists()
