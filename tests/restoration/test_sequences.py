"""restoration.services.sequences: a zip of scanned frames becomes a lossless clip."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from django.utils import timezone

from gpu_worker.engine.io import iter_decoded, probe
from restoration import leases, sweeper
from restoration.models import Clip, UploadSession, WorkLease
from restoration.services import sequences, uploads
from restoration.services.uploads import UploadRejected
from tests.factories import FilmFactory, technician
from tests.media_factory import encode_image, make_frame_zip, sequence_frame

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
    with django_capture_on_commit_callbacks() as callbacks:
        clip = upload(archive, frame_rate="24000/1001")
    # The request ends once the zip is checked by name and stored: the encode is a
    # worker's, under a lease the sweeper watches.
    assert clip.status == Clip.Status.INGESTING and not clip.source
    assert (clip.ingest_done, clip.ingest_total) == (0, 12)
    assert clip.sequence_archive.name.endswith("/sequence.zip")
    assert leases.get(WorkLease.Kind.SEQUENCE, clip.pk).expires_at is not None
    assert UploadSession.objects.get().status == UploadSession.Status.COMPLETE
    assert [p.name for p in Path(settings.UPLOAD_STAGING_DIR).iterdir()] == []
    published = []
    with django_capture_on_commit_callbacks(execute=True):
        with patch.object(uploads.outbox, "publish",
                          side_effect=lambda topic, payload: published.append(payload)):
            for callback in callbacks:
                callback()  # the worker's encode, then the probe
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert clip.source.name.endswith("/source.mkv") and clip.video_codec == "ffv1"
    assert clip.original_filename == archive.name
    assert (clip.width, clip.height, clip.frame_count) == (64, 48, 12)
    assert clip.fps_fraction == "24000/1001"
    assert not clip.sequence_archive and (clip.ingest_done, clip.ingest_total) == (12, 12)
    assert leases.get(WorkLease.Kind.SEQUENCE, clip.pk).expires_at is None
    # Progress went out on the clip's live topic, ending with every frame encoded.
    ingesting = [p for p in published if p["status"] == "ingesting"]
    assert ingesting and ingesting[-1]["ingest"] == {"done": 12, "total": 12}
    # Every frame, in numeric order (1, 2, ... 10, 11, 12), with all 16 bits.
    frames = list(iter_decoded(clip.source.path, high_bit_depth=True))
    assert len(frames) == 12
    for n, decoded in enumerate(frames, start=1):
        np.testing.assert_array_equal(decoded.image, sequence_frame(n))
    # The stored zip went: one master is left (with its poster and analysis plot).
    names = sorted(p.name for p in leftovers(settings))
    assert names.count("source.mkv") == 1 and not [n for n in names if "sequence" in n]


@pytest.mark.parametrize("codec", ["tiff", "png"])
def test_8_bit_scans_become_an_8_bit_rgb_master(codec, tmp_path, settings, eager_celery,
                                                django_capture_on_commit_callbacks):
    # FFmpeg's FFV1 has no 8-bit planar RGB (gbrp): 8-bit scans are kept as bgr0.
    archive = make_frame_zip(tmp_path / f"reel8_{codec}.zip", codec=codec, numbers=range(1, 5), bits=8)
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload(archive)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert clip.video_codec == "ffv1" and clip.frame_count == 4
    frames = list(iter_decoded(clip.source.path))
    for n, decoded in enumerate(frames, start=1):
        np.testing.assert_array_equal(decoded.image, (sequence_frame(n) >> 8).astype(np.uint8))


def test_an_encoder_refusal_fails_the_clip_as_the_masters_fault_not_the_scans(
        tmp_path, settings, eager_celery, django_capture_on_commit_callbacks):
    # gbrp: 8-bit planar RGB, which FFmpeg's FFV1 encoder does not take.
    archive = make_frame_zip(tmp_path / "reel8.zip", codec="png", numbers=range(1, 4), bits=8)
    with patch.object(sequences, "_master_pix_fmt", return_value="gbrp"):
        with django_capture_on_commit_callbacks(execute=True):
            clip = upload(archive)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error.startswith("the lossless master could not be written at scan_1.png: "), clip.error
    assert "cannot be decoded" not in clip.error
    assert not [p for p in leftovers(settings) if p.suffix == ".mkv"]


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


def test_mixed_frame_sizes_fail_the_clip_saying_which_frame(
    tmp_path, settings, eager_celery, django_capture_on_commit_callbacks
):
    archive = make_frame_zip(
        tmp_path / "mixed.zip", codec="png", numbers=range(1, 6), sizes={4: (80, 48)}
    )
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload(archive)
    clip.refresh_from_db()
    # Only decoding finds the sizes: the worker says it on the clip.
    assert clip.status == Clip.Status.FAILED
    assert "different sizes: scan_4.png is 80x48, the first frame 64x48" in clip.error
    assert not clip.source and not clip.sequence_archive and leftovers(settings) == []
    assert leases.get(WorkLease.Kind.SEQUENCE, clip.pk).expires_at is None


def test_a_worker_killed_mid_encode_is_replaced_by_the_sweeper(
    tmp_path, settings, eager_celery, django_capture_on_commit_callbacks
):
    archive = make_frame_zip(tmp_path / "reel.zip", codec="png", numbers=range(1, 7))
    with django_capture_on_commit_callbacks():  # the first worker never runs it
        clip = upload(archive)
    lease = leases.get(WorkLease.Kind.SEQUENCE, clip.pk)
    WorkLease.objects.filter(pk=lease.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1), started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        report = sweeper.sweep()
    assert report.redispatched == [f"sequence {clip.pk} (attempt 1)"]
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.frame_count == 6
    assert leases.get(WorkLease.Kind.SEQUENCE, clip.pk).attempt == 2


def test_a_sequence_nobody_encodes_fails_after_its_attempts(tmp_path, settings,
                                                           django_capture_on_commit_callbacks):
    settings.WORK_MAX_ATTEMPTS = 1
    archive = make_frame_zip(tmp_path / "reel.zip", codec="png", numbers=range(1, 4))
    with django_capture_on_commit_callbacks():
        clip = upload(archive)
    WorkLease.objects.filter(kind=WorkLease.Kind.SEQUENCE, object_id=clip.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    sweeper.sweep()
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error.startswith("image sequence: gave up after 1 attempt")


def test_encoding_twice_keeps_one_master(tmp_path, settings, django_capture_on_commit_callbacks):
    archive = make_frame_zip(tmp_path / "reel.zip", codec="png", numbers=range(1, 4))
    with django_capture_on_commit_callbacks():
        clip = upload(archive)
    stale = Clip.objects.get(pk=clip.pk)
    with django_capture_on_commit_callbacks():
        done = uploads.encode_sequence_clip(clip)
    assert done.status == Clip.Status.PROBING
    # A redelivered message finds the clip encoded and changes nothing.
    assert uploads.encode_sequence_clip(stale).source.name == done.source.name
    assert sorted(p.name for p in leftovers(settings)) == ["source.mkv"]


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


# --- loose frames (several files instead of a zip) ---------------------------------------

def frame_files(codec: str = "png", numbers=range(1, 13),
                sizes: dict[int, tuple[int, int]] | None = None) -> list[tuple[str, bytes]]:
    """(name, bytes) of numbered 16-bit frames, shuffled (the names give the order)."""
    import random

    suffix = {"tiff": ".tif", "png": ".png"}[codec]
    numbers = list(numbers)
    random.Random(3).shuffle(numbers)
    return [(f"scan_{n}{suffix}",
             encode_image(codec, sequence_frame(n, *(sizes or {}).get(n, (64, 48)))))
            for n in numbers]


def upload_files(files: list[tuple[str, bytes]], frame_rate: str = "25",
                 chunk: int = 4000) -> Clip:
    blob = b"".join(data for _name, data in files)
    session = uploads.start_upload(user=technician(), film=FilmFactory(), filename="",
                                   size=len(blob), frame_rate=frame_rate,
                                   members=[[name, len(data)] for name, data in files])
    for offset in range(0, len(blob), chunk):  # chunks cross the files' boundaries
        uploads.append_chunk(session, offset, [blob[offset:offset + chunk]])
    return uploads.finish_upload(session)


def test_loose_frames_become_the_same_master_as_a_zip(settings, eager_celery,
                                                      django_capture_on_commit_callbacks):
    files = frame_files("tiff")
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload_files(files)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert clip.original_filename == "scan_1.tif … scan_12.tif"
    assert (clip.frame_count, clip.fps_fraction, clip.video_codec) == (12, "25/1", "ffv1")
    frames = list(iter_decoded(clip.source.path, high_bit_depth=True))
    for n, decoded in enumerate(frames, start=1):
        np.testing.assert_array_equal(decoded.image, sequence_frame(n))
    names = sorted(p.name for p in leftovers(settings))
    assert names.count("source.mkv") == 1 and not [n for n in names if "sequence" in n]


@pytest.mark.parametrize(("members", "message"), [
    ([["scan_1.png", 10], ["scan_2.png", 10], ["scan_4.png", 10]], r"missing between 1 and 4 \(3\)"),
    ([["scan_1.png", 10], ["notes.txt", 10]], "notes.txt is not a DPX, TIFF, EXR or PNG frame"),
    ([["a/scan_1.png", 10], ["b/scan_1.png", 10]], "two files are named scan_1.png"),
    ([["scan_1.png", 0]], r"scan_1.png is empty"),
    ([["scan_1.png", 10], ["scan_2.png", 11]], "add up to 21 bytes, not the 20 announced"),
    ([["scan_1.png", 10], ["take_2.png", 10]], "more than one sequence"),
])
def test_a_bad_set_of_files_is_refused_before_any_byte_is_sent(settings, members, message):
    with pytest.raises(UploadRejected, match=message):
        uploads.start_upload(user=technician(), film=FilmFactory(), filename="", size=20,
                             frame_rate="24", members=members)
    assert UploadSession.objects.count() == 0 and leftovers(settings) == []


def test_loose_frames_of_different_sizes_fail_the_clip(settings, eager_celery,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload_files(frame_files("png", range(1, 5), sizes={3: (64, 40)}))
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert "scan_3.png is 64x40, the first frame 64x48" in clip.error
    assert leftovers(settings) == []


def test_several_files_in_one_request(settings, eager_celery,
                                      django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(name, data) for name, data in frame_files("png", range(1, 6))]
    with django_capture_on_commit_callbacks(execute=True):
        clip = uploads.upload_file_objects(
            user=technician(), film=FilmFactory(), frame_rate="24",
            files=[(f, f.name, f.size) for f in files])
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.frame_count == 5
    assert [p.name for p in Path(settings.UPLOAD_STAGING_DIR).iterdir()] == []
