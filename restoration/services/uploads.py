"""Uploading clips: resumable chunked sessions and single-request uploads.

Bytes are appended to a staging file on disk (never held in memory). When the last
byte arrives the file is identified by probing it with PyAV, never by its extension;
a rejected file is deleted and the session records why. Only a file that passed goes
into media storage, under a random key, and then the Clip row is created in a short
transaction: if anything fails after the copy, the stored file is removed again, so a
failed upload leaves nothing half-written behind.

Completing is atomic whatever the concurrency: a request claims the session by moving
it from "receiving" to "ingesting" in one conditional UPDATE (only one request can);
another "complete" meanwhile is told to ask again (UploadInProgress), and one after it
gets the same clip. The database is never locked while bytes are hashed or copied:
the copy runs outside any transaction, and only the row writes are inside one. A
process killed mid-copy leaves the session "ingesting": the sweeper hands it back
("receiving") after UPLOAD_INGEST_TIMEOUT_SECONDS, and `manage.py media` finds the
stray copy.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from gpu_worker.engine.io import MediaError, MediaInfo, probe
from restoration import leases, queue
from restoration.models import Clip, Film, UploadSession, WorkLease
from restoration.selectors import METADATA_FIELDS
from restoration.services import sequences

log = logging.getLogger(__name__)

# Containers/codecs the engine can decode and the players can show after rendering.
SUPPORTED_VIDEO_CODECS = {
    "h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg2video", "mpeg1video", "prores",
    "dnxhd", "mjpeg", "ffv1", "theora", "rawvideo", "png", "qtrle", "dvvideo", "huffyuv",
    "utvideo", "cfhd", "h263", "msmpeg4v2", "msmpeg4v3", "wmv2", "wmv3", "vc1", "cinepak",
    "indeo3", "jpeg2000", "gif",
}
# Image formats FFmpeg opens as one-frame "videos" are not clips.
IMAGE_CONTAINERS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "tiff_pipe", "webp_pipe",
                    "gif", "gif_pipe", "apng"}


class UploadRejected(Exception):
    """The upload cannot be accepted; the message is shown to the technician."""


class UploadInProgress(Exception):
    """Another request is completing this upload right now; ask again shortly."""


def _staging_dir() -> Path:
    settings.UPLOAD_STAGING_DIR.mkdir(parents=True, exist_ok=True)
    return settings.UPLOAD_STAGING_DIR


def check_declared_size(size: int) -> None:
    if size <= 0:
        raise UploadRejected(_("the file is empty (0 bytes)"))
    if size > settings.MAX_UPLOAD_SIZE:
        raise UploadRejected(
            _("the file is %(size)s, over the upload limit of %(limit)s")
            % {"size": _human(size), "limit": _human(settings.MAX_UPLOAD_SIZE)})


def start_upload(*, user: User, film: Film, filename: str, size: int, title: str = "",
                 frame_rate: str = "") -> UploadSession:
    """frame_rate: of an image sequence (a zip of frames); checked now, used at the end."""
    check_declared_size(size)
    if frame_rate:
        try:
            sequences.parse_frame_rate(frame_rate)
        except sequences.SequenceRejected as exc:
            raise UploadRejected(str(exc)) from None
    _staging_dir()
    session = UploadSession.objects.create(
        film=film, filename=Path(filename).name[:255] or "upload", size=size, title=title[:200],
        frame_rate=frame_rate[:32], created_by=user)
    session.staging_path.touch()
    return session


def append_chunk(session: UploadSession, offset: int, chunks: Iterable[bytes], *,
                 max_bytes: int | None = None) -> UploadSession:
    """Append bytes at `offset`; a client resuming after a dropped connection asks for
    `session.received` first and sends from there. ``max_bytes``: the most this chunk may
    carry (its Content-Range), counted as the bytes arrive."""
    if session.status != UploadSession.Status.RECEIVING:
        raise UploadRejected(_("this upload is %(status)s; start a new one") % {"status": session.get_status_display()})
    if offset != session.received:
        raise UploadRejected(_("expected bytes from offset %(expected)s, got %(got)s")
                             % {"expected": session.received, "got": offset})
    written = 0
    with open(session.staging_path, "r+b") as handle:
        handle.seek(offset)
        for chunk in chunks:
            if max_bytes is not None and written + len(chunk) > max_bytes:
                handle.truncate(offset)
                raise UploadRejected(_("the chunk carries more than the %(n)s bytes its Content-Range names")
                                     % {"n": max_bytes})
            if offset + written + len(chunk) > session.size:
                handle.truncate(offset)
                raise UploadRejected(
                    _("more bytes than announced (%(size)s); the upload limit is %(limit)s")
                    % {"size": session.size, "limit": _human(settings.MAX_UPLOAD_SIZE)})
            handle.write(chunk)
            written += len(chunk)
    session.received = offset + written
    session.save(update_fields=["received", "updated_at"])
    return session


def finish_upload(session: UploadSession) -> Clip:
    """Validate the complete staging file and turn it into a Clip, or reject it.

    Exactly one clip per upload: the first request claims the session, a concurrent
    one gets UploadInProgress, a later one (a retried "complete") the same clip.
    """
    claimed = UploadSession.objects.filter(
        pk=session.pk, status=UploadSession.Status.RECEIVING, received=F("size"),
    ).update(status=UploadSession.Status.INGESTING, updated_at=timezone.now())
    session.refresh_from_db()
    if not claimed:
        if session.status == UploadSession.Status.COMPLETE and session.clip_id:
            return session.clip  # a retried "complete" call is harmless
        if session.status == UploadSession.Status.INGESTING:
            raise UploadInProgress(_("this upload is being completed by another request; ask "
                                     "again in a moment"))
        if session.status == UploadSession.Status.REJECTED:
            raise UploadRejected(session.error or _("this upload was rejected"))
        raise UploadRejected(_("the upload is incomplete: %(received)s of %(size)s bytes")
                             % {"received": session.received, "size": session.size})
    try:
        clip = ingest_file(session.staging_path, film=session.film, user=session.created_by,
                           original_filename=session.filename, title=session.title,
                           upload=session, frame_rate=session.frame_rate)
    except UploadRejected as exc:
        UploadSession.objects.filter(pk=session.pk).update(
            status=UploadSession.Status.REJECTED, error=str(exc), updated_at=timezone.now())
        session.staging_path.unlink(missing_ok=True)
        raise
    except BaseException:
        # Anything else (storage, database): the bytes are still staged; let the
        # technician (or their client) complete it again.
        UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.INGESTING).update(
            status=UploadSession.Status.RECEIVING)
        raise
    session.staging_path.unlink(missing_ok=True)
    session.refresh_from_db()
    return clip


def abandon_upload(session: UploadSession) -> None:
    """Give up an upload: its staging file and its row go."""
    session.staging_path.unlink(missing_ok=True)
    session.delete()


def upload_file_object(*, user: User, film: Film, handle: IO[bytes], filename: str, size: int,
                       title: str = "", frame_rate: str = "") -> Clip:
    """Single-request upload (the JSON API's multipart form). Django has already
    streamed a large body to a temporary file; copy it to staging and validate."""
    check_declared_size(size)
    staging = _staging_dir() / f"{uuid.uuid4().hex}.part"
    try:
        with open(staging, "wb") as out:
            shutil.copyfileobj(handle, out, length=1024 * 1024)
        return ingest_file(staging, film=film, user=user, original_filename=filename, title=title,
                           frame_rate=frame_rate)
    finally:
        staging.unlink(missing_ok=True)


def validate_media(path: Path) -> MediaInfo:
    """Probe a file and apply the site's acceptance rules; raise UploadRejected."""
    size = path.stat().st_size
    check_declared_size(size)
    try:
        info = probe(path, max_pixels=settings.MAX_VIDEO_PIXELS)
    except MediaError as exc:
        raise UploadRejected(str(exc)) from None
    if info.container in IMAGE_CONTAINERS or (info.frame_count or 0) < 2:
        raise UploadRejected(_("this is a still image, not a video clip"))
    if info.video_codec not in SUPPORTED_VIDEO_CODECS:
        raise UploadRejected(_("unsupported video codec %(codec)r") % {"codec": info.video_codec})
    return info


def apply_media_info(clip: Clip, info: MediaInfo) -> None:
    """Copy probed metadata onto the clip (unknown text values are stored as "")."""
    for name in METADATA_FIELDS:
        value = getattr(info, name)
        setattr(clip, name, "" if value is None and isinstance(getattr(clip, name), str) else value)
    clip.audio_codec = info.audio_codec or ""
    clip.timecode = (info.timecode or "")[:16]


def ingest_file(path: Path, *, film: Film, user: User | None, original_filename: str,
                title: str = "", upload: UploadSession | None = None, frame_rate: str = "") -> Clip:
    """Validate, hash and store the file, then create its Clip (and mark `upload`,
    which this request has claimed, complete) in one short transaction. No
    transaction is open while the bytes are read or copied. A zip of image frames is
    first turned into a lossless FFV1 master at `frame_rate` (services.sequences)."""
    if sequences.is_zip(path):
        master = path.with_name(f"{path.name}.master.mkv")
        try:
            try:
                sequences.master_from_zip(path, master, sequences.parse_frame_rate(frame_rate),
                                          max_bytes=settings.MAX_UPLOAD_SIZE)
            except sequences.SequenceRejected as exc:
                raise UploadRejected(str(exc)) from None
            return _ingest_checked(master, film=film, user=user,
                                   original_filename=original_filename, title=title,
                                   upload=upload)
        finally:
            master.unlink(missing_ok=True)
    return _ingest_checked(path, film=film, user=user, original_filename=original_filename,
                           title=title, upload=upload)


def _ingest_checked(path: Path, *, film: Film, user: User | None, original_filename: str,
                    title: str, upload: UploadSession | None) -> Clip:
    info = validate_media(path)
    digest = _sha256(path)
    clip = Clip(film=film, uploaded_by=user, original_filename=Path(original_filename).name[:255],
                title=title or Path(original_filename).stem[:200], size_bytes=path.stat().st_size,
                sha256=digest, status=Clip.Status.PROBING)
    apply_media_info(clip, info)
    stored_name = None
    try:
        with open(path, "rb") as handle:
            clip.source.save("source", File(handle), save=False)  # the copy: no transaction
        stored_name = clip.source.name
        with transaction.atomic():
            clip.save()
            if upload is not None and not UploadSession.objects.filter(
                    pk=upload.pk, status=UploadSession.Status.INGESTING).update(
                    status=UploadSession.Status.COMPLETE, clip=clip, error="",
                    updated_at=timezone.now()):
                raise UploadInProgress("this upload was handed back while it was being completed")
            leases.take(WorkLease.Kind.PROBE, clip.pk, holder="probe", fresh=True)
            queue.send_after_commit(queue.PROBE_CLIP, clip.pk)
    except BaseException:
        if stored_name:
            clip.source.storage.delete(stored_name)
        raise
    return clip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover
