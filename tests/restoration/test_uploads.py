"""Upload validation: every kind of bad file is rejected clearly and leaves nothing behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from restoration.models import Clip, UploadSession
from restoration.services import uploads
from restoration.services.uploads import UploadRejected
from tests.conftest import media_file
from tests.factories import FilmFactory, technician
from tests.media_factory import make_audio_only, make_video, truncate

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def staging_files(settings) -> list[Path]:
    return [p for p in Path(settings.UPLOAD_STAGING_DIR).rglob("*") if p.is_file()]


def upload_through_session(path: Path, film, user, chunk: int = 4096) -> Clip:
    data = path.read_bytes()
    session = uploads.start_upload(user=user, film=film, filename=path.name, size=len(data))
    for offset in range(0, len(data), chunk):
        uploads.append_chunk(session, offset, [data[offset:offset + chunk]])
    return uploads.finish_upload(session)


def assert_rejected_cleanly(path: Path, settings, expected: str) -> None:
    film, user = FilmFactory(), technician()
    with pytest.raises(UploadRejected, match=expected):
        upload_through_session(path, film, user)
    assert Clip.objects.count() == 0
    assert stored_files(settings) == []
    assert staging_files(settings) == []
    session = UploadSession.objects.get()
    assert session.status == UploadSession.Status.REJECTED
    assert re.search(expected, session.error), session.error


def test_good_clip_is_stored_under_a_random_key_with_metadata(tmp_path, settings, eager_celery,
                                                             django_capture_on_commit_callbacks):
    path = make_video(tmp_path / "my holiday film.mp4", frames=24, audio=True)
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload_through_session(path, FilmFactory(), technician())
    clip.refresh_from_db()
    assert "holiday" not in clip.source.name and clip.source.name.startswith("clips/")
    assert clip.source.name.endswith("/source.mp4")
    assert clip.original_filename == "my holiday film.mp4"
    assert (clip.width, clip.height, clip.frame_count, clip.has_audio) == (64, 48, 24, True)
    assert clip.status == Clip.Status.READY and clip.frame_count_exact
    assert clip.poster.name.endswith("poster.jpg")
    assert staging_files(settings) == []


def test_real_old_film_probes_to_its_known_metadata(settings, eager_celery, django_capture_on_commit_callbacks):
    source = media_file("old_film/muybridge_buffalo.mp4")
    with django_capture_on_commit_callbacks(execute=True):
        clip = upload_through_session(source, FilmFactory(), technician(), chunk=256 * 1024)
    clip.refresh_from_db()
    assert (clip.width, clip.height) == (400, 300)
    assert clip.fps == pytest.approx(28.47, abs=0.01)
    assert clip.frame_count == 330 and clip.has_audio


def test_zero_byte_file_is_refused_before_any_byte_is_stored(settings):
    with pytest.raises(UploadRejected, match="empty"):
        uploads.start_upload(user=technician(), film=FilmFactory(), filename="x.mp4", size=0)
    assert UploadSession.objects.count() == 0 and staging_files(settings) == []


def test_truncated_file(tmp_path, settings):
    whole = make_video(tmp_path / "whole.mp4", frames=48, width=128, height=96)
    cut = truncate(whole, tmp_path / "cut.mp4", 0.6)
    assert_rejected_cleanly(cut, settings, "truncated|damaged|incomplete|moov")


def test_non_video_file(tmp_path, settings):
    fake = tmp_path / "film.mp4"
    fake.write_text("this is a shopping list, not a film\n" * 50)
    assert_rejected_cleanly(fake, settings, "not a video|not a media|not recognised|no video")


def test_audio_only_file(tmp_path, settings):
    audio = make_audio_only(tmp_path / "sound.mp4")
    assert_rejected_cleanly(audio, settings, "audio")


def test_tiny_dimensions(tmp_path, settings):
    tiny = make_video(tmp_path / "tiny.mp4", width=8, height=8, codec="mpeg4")
    assert_rejected_cleanly(tiny, settings, "dimensions")


def test_dimensions_over_the_configured_limit(tmp_path, settings):
    settings.MAX_VIDEO_PIXELS = 32 * 32
    big = make_video(tmp_path / "big.mp4", width=64, height=48)
    assert_rejected_cleanly(big, settings, "dimensions")


def test_unsupported_codec(tmp_path, settings):
    odd = make_video(tmp_path / "odd.avi", codec="snow", pix_fmt="yuv420p", container_format="avi")
    assert_rejected_cleanly(odd, settings, "unsupported video codec")


def test_still_image_is_not_a_clip(tmp_path, settings):
    import cv2
    import numpy as np

    image = tmp_path / "still.mp4"  # the extension lies: content decides
    cv2.imwrite(str(tmp_path / "still.png"), np.full((64, 64, 3), 128, np.uint8))
    image.write_bytes((tmp_path / "still.png").read_bytes())
    assert_rejected_cleanly(image, settings, "still image|not a video")


def test_over_limit_announced_size(settings):
    settings.MAX_UPLOAD_SIZE = 1000
    with pytest.raises(UploadRejected, match="over the upload limit"):
        uploads.start_upload(user=technician(), film=FilmFactory(), filename="big.mp4", size=1001)
    assert UploadSession.objects.count() == 0


def test_more_bytes_than_announced_are_refused(tmp_path, settings):
    session = uploads.start_upload(user=technician(), film=FilmFactory(), filename="a.mp4", size=10)
    with pytest.raises(UploadRejected, match="more bytes than announced"):
        uploads.append_chunk(session, 0, [b"x" * 11])
    assert session.staging_path.stat().st_size == 0


def test_a_chunk_longer_than_its_range_is_counted_and_refused(tmp_path, settings):
    session = uploads.start_upload(user=technician(), film=FilmFactory(), filename="a.mp4", size=100)
    with pytest.raises(UploadRejected, match="more than the 10 bytes its Content-Range names"):
        uploads.append_chunk(session, 0, [b"x" * 6, b"y" * 6], max_bytes=10)
    assert session.staging_path.stat().st_size == 0 and session.received == 0
    uploads.append_chunk(session, 0, [b"x" * 6, b"y" * 4], max_bytes=10)
    assert session.received == 10


def test_chunk_at_wrong_offset_is_refused_and_upload_resumes(tmp_path, settings):
    path = make_video(tmp_path / "a.mp4", frames=12)
    data = path.read_bytes()
    session = uploads.start_upload(user=technician(), film=FilmFactory(), filename="a.mp4", size=len(data))
    uploads.append_chunk(session, 0, [data[:1000]])
    with pytest.raises(UploadRejected, match="expected bytes from offset 1000"):
        uploads.append_chunk(session, 2000, [data[2000:3000]])
    uploads.append_chunk(session, session.received, [data[1000:]])
    clip = uploads.finish_upload(session)
    assert clip.frame_count == 12


def test_failure_after_storing_removes_the_stored_file(tmp_path, settings, monkeypatch):
    path = make_video(tmp_path / "a.mp4")

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Clip, "save", broken_save)
    with pytest.raises(RuntimeError):
        uploads.ingest_file(path, film=FilmFactory(), user=None, original_filename="a.mp4")
    assert stored_files(settings) == []


# --- completing: one clip whatever the concurrency, no lock held during the copy ----------------

def staged_session(tmp_path) -> UploadSession:
    path = make_video(tmp_path / "a.mp4", frames=12)
    data = path.read_bytes()
    session = uploads.start_upload(user=technician(), film=FilmFactory(), filename="a.mp4", size=len(data))
    uploads.append_chunk(session, 0, [data])
    return session


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_completes_make_one_clip(tmp_path, settings, monkeypatch):
    """Two requests (threads, each with its own database connection) complete the same
    upload at once: one clip; the other request is told to ask again or gets that clip."""
    import threading
    import time

    from django.db import connection

    session = staged_session(tmp_path)
    real_validate = uploads.validate_media
    both_in = threading.Barrier(2, timeout=10)

    def slow_validate(path):
        time.sleep(0.5)  # keep the first request busy while the second arrives
        return real_validate(path)

    monkeypatch.setattr(uploads, "validate_media", slow_validate)
    outcomes: list = []

    def complete() -> None:
        try:
            both_in.wait()
            outcomes.append(uploads.finish_upload(UploadSession.objects.get(pk=session.pk)))
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Clip.objects.count() == 1
    clip = Clip.objects.get()
    clips = [o for o in outcomes if isinstance(o, Clip)]
    others = [o for o in outcomes if not isinstance(o, Clip)]
    assert [c.pk for c in clips] == [clip.pk] and len(others) == 1
    assert isinstance(others[0], uploads.UploadInProgress), others
    # Asked again: the same clip, and still one.
    assert uploads.finish_upload(UploadSession.objects.get(pk=session.pk)).pk == clip.pk
    assert Clip.objects.count() == 1 and len(stored_files(settings)) == 1
    assert UploadSession.objects.get(pk=session.pk).status == UploadSession.Status.COMPLETE


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_file_is_copied(tmp_path, monkeypatch):
    from django.core.files.storage import FileSystemStorage
    from django.db import connection

    session = staged_session(tmp_path)
    real_save = FileSystemStorage._save
    seen: list[bool] = []

    def watching_save(self, name, content):
        seen.append(connection.in_atomic_block)
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", watching_save)
    uploads.finish_upload(session)
    assert seen == [False]


def test_a_failure_while_storing_hands_the_upload_back_for_another_try(tmp_path, settings, monkeypatch):
    session = staged_session(tmp_path)
    real_save = Clip.save

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Clip, "save", broken_save)
    with pytest.raises(RuntimeError):
        uploads.finish_upload(session)
    session.refresh_from_db()
    assert session.status == UploadSession.Status.RECEIVING and session.staging_path.exists()
    assert stored_files(settings) == []
    monkeypatch.setattr(Clip, "save", real_save)
    assert uploads.finish_upload(session).frame_count == 12
