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
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from frontend.live import outbox
from gpu_worker.engine.io import MediaError, MediaInfo, probe
from restoration import leases, queue
from restoration.models import Clip, Film, UploadSession, WorkLease
from restoration.selectors import METADATA_FIELDS, clip_payload
from restoration.services import sequences
from restoration.storage import local_path, save_file

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
SEQUENCE_PROGRESS_INTERVAL = 0.5  # seconds between progress reports of a sequence encode


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
                 frame_rate: str = "",
                 members: Sequence[Sequence[object]] | None = None) -> UploadSession:
    """frame_rate: of an image sequence (a zip of frames or loose frames); checked now,
    used at the end. members: for several image files sent as one sequence, their
    [[name, size], ...] in the order their bytes will follow one another; checked now
    (names, numbering, gaps, sizes adding up to `size`), so a bad set is refused
    before any byte is sent."""
    check_declared_size(size)
    stored_members = None
    try:
        rate = sequences.parse_frame_rate(frame_rate)
        if members is not None:
            pairs = _checked_members(members, rate, size)
            stored_members = [[name, n] for name, n in pairs]
            if filename in ("", "upload"):
                filename = _members_name(pairs)
    except sequences.SequenceRejected as exc:
        raise UploadRejected(str(exc)) from None
    _staging_dir()
    session = UploadSession.objects.create(
        film=film, filename=Path(filename).name[:255] or "upload", size=size, title=title[:200],
        frame_rate=frame_rate[:32], members=stored_members, created_by=user)
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
                           upload=session, frame_rate=session.frame_rate,
                           members=session.members)
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


def upload_file_objects(*, user: User, film: Film,
                        files: Sequence[tuple[IO[bytes], str, int]], title: str = "",
                        frame_rate: str = "") -> Clip:
    """Single-request upload of several image files as one sequence (the JSON API's
    multipart form with the file field repeated): (handle, filename, size) each, in any
    order (the names give the order). One file is an ordinary upload."""
    if len(files) == 1:
        handle, filename, size = files[0]
        return upload_file_object(user=user, film=film, handle=handle, filename=filename,
                                  size=size, title=title, frame_rate=frame_rate)
    total = sum(size for _handle, _name, size in files)
    check_declared_size(total)
    members = [[Path(name).name, size] for _handle, name, size in files]
    try:
        pairs = _checked_members(members, sequences.parse_frame_rate(frame_rate), total)
    except sequences.SequenceRejected as exc:
        raise UploadRejected(str(exc)) from None
    staging = _staging_dir() / f"{uuid.uuid4().hex}.part"
    try:
        with open(staging, "wb") as out:
            for handle, _name, _size in files:
                shutil.copyfileobj(handle, out, length=1024 * 1024)
        return ingest_file(staging, film=film, user=user, original_filename=_members_name(pairs),
                           title=title, frame_rate=frame_rate,
                           members=[[name, n] for name, n in pairs])
    finally:
        staging.unlink(missing_ok=True)


def _checked_members(members: Sequence[Sequence[object]], rate: Fraction,
                     size: int) -> list[tuple[str, int]]:
    pairs = sequences.check_members(members, rate)
    total = sum(n for _name, n in pairs)
    if total != size:
        raise sequences.SequenceRejected(
            _("the files add up to %(got)s bytes, not the %(want)s announced")
            % {"got": total, "want": size})
    return pairs


def _members_name(pairs: Sequence[tuple[str, int]]) -> str:
    """How an upload of loose frames is named: its first and last file (in order)."""
    names = sorted((name for name, _n in pairs), key=sequences.natural_key)
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"


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
                title: str = "", upload: UploadSession | None = None, frame_rate: str = "",
                members: Sequence[Sequence[object]] | None = None) -> Clip:
    """Validate, hash and store the file, then create its Clip (and mark `upload`,
    which this request has claimed, complete) in one short transaction. No
    transaction is open while the bytes are read or copied.

    An image sequence (a zip of frames, or loose frames one after another as `members`
    lists them) is checked by name here, stored as it came and handed to a
    default-queue worker that encodes its lossless FFV1 master at `frame_rate`
    (`encode_sequence_clip`): the clip is "ingesting" until then."""
    if members is not None or sequences.is_zip(path):
        return _ingest_sequence(path, film=film, user=user,
                                original_filename=original_filename, title=title,
                                upload=upload, frame_rate=frame_rate, members=members)
    return _ingest_checked(path, film=film, user=user, original_filename=original_filename,
                           title=title, upload=upload)


def _ingest_sequence(path: Path, *, film: Film, user: User | None, original_filename: str,
                     title: str, upload: UploadSession | None, frame_rate: str,
                     members: Sequence[Sequence[object]] | None) -> Clip:
    size = path.stat().st_size
    check_declared_size(size)
    try:
        rate = sequences.parse_frame_rate(frame_rate)
        if members is None:
            count = sequences.check_names(
                sequences.zip_frame_names(path, settings.MAX_UPLOAD_SIZE), rate)
            stored_members = None
        else:
            pairs = _checked_members(members, rate, size)
            count = len(pairs)
            stored_members = [[name, n] for name, n in pairs]
    except sequences.SequenceRejected as exc:
        raise UploadRejected(str(exc)) from None
    clip = Clip(film=film, uploaded_by=user, original_filename=Path(original_filename).name[:255],
                title=title or Path(original_filename).stem[:200], size_bytes=size,
                status=Clip.Status.INGESTING, sequence_rate=f"{rate.numerator}/{rate.denominator}",
                sequence_members=stored_members, ingest_total=count)
    suffix = ".zip" if members is None else ".frames"
    # The copy into media storage (where a worker on another machine finds it): no
    # transaction is open meanwhile.
    clip.sequence_archive.name = save_file(path, f"clips/{uuid.uuid4().hex}/sequence{suffix}")
    _commit_new_clip(clip, upload, clip.sequence_archive, WorkLease.Kind.SEQUENCE,
                     queue.ENCODE_SEQUENCE)
    return clip


def encode_sequence_clip(clip: Clip) -> Clip:
    """Encode an ingesting clip's image sequence into its FFV1 master (on a
    default-queue worker, under the clip's "sequence" lease), store it as the clip's
    source and hand the clip to the probe; or fail the clip with the reason (frames of
    different sizes, an undecodable frame). Progress (frames encoded) is kept on the
    clip and published on its live topic. Safe to run twice: only the run that moves
    the clip out of "ingesting" keeps its master."""
    clip.refresh_from_db()  # a redelivered message may find it done
    if clip.status != Clip.Status.INGESTING or not clip.sequence_archive:
        return clip
    archive_name = clip.sequence_archive.name
    last_report = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last_report[0] < SEQUENCE_PROGRESS_INTERVAL:
            return
        last_report[0] = now
        clip.ingest_done, clip.ingest_total = done, total
        Clip.objects.filter(pk=clip.pk, status=Clip.Status.INGESTING).update(
            ingest_done=done, ingest_total=total)
        outbox.publish(f"clip-{clip.pk}", clip_payload(clip))

    with tempfile.TemporaryDirectory(prefix="sequence-master-") as tmp:
        master = Path(tmp) / "master.mkv"
        try:
            rate = sequences.parse_frame_rate(clip.sequence_rate)
            with local_path(archive_name) as archive:
                if clip.sequence_members is None:
                    count = sequences.master_from_zip(archive, master, rate,
                                                      max_bytes=settings.MAX_UPLOAD_SIZE,
                                                      progress=progress)
                else:
                    count = sequences.master_from_files(archive, clip.sequence_members,
                                                        master, rate, progress=progress)
            info = validate_media(master)
        except (sequences.SequenceRejected, UploadRejected) as exc:
            return _fail_sequence(clip, str(exc))
        digest = _sha256(master)
        apply_media_info(clip, info)  # the stored name's suffix follows the container
        with open(master, "rb") as handle:
            clip.source.save("source", File(handle), save=False)  # the copy: no transaction
        stored_name = clip.source.name
        try:
            with transaction.atomic():
                fields = {name: getattr(clip, name) for name in METADATA_FIELDS}
                moved = Clip.objects.filter(pk=clip.pk, status=Clip.Status.INGESTING).update(
                    **fields, timecode=clip.timecode,
                    source=stored_name, sha256=digest, size_bytes=master.stat().st_size,
                    status=Clip.Status.PROBING, error="", ingest_done=count,
                    ingest_total=count, sequence_archive="")
                if moved:
                    leases.take(WorkLease.Kind.PROBE, clip.pk, holder="probe", fresh=True)
                    queue.send_after_commit(queue.PROBE_CLIP, clip.pk)
        except BaseException:
            default_storage.delete(stored_name)
            raise
        if not moved:  # another run finished it meanwhile: its master stays
            default_storage.delete(stored_name)
    default_storage.delete(archive_name)
    clip.refresh_from_db()
    outbox.publish(f"clip-{clip.pk}", clip_payload(clip))
    return clip


def _fail_sequence(clip: Clip, message: str) -> Clip:
    """The sequence cannot become a clip: say why on the clip, drop the stored frames."""
    archive_name = clip.sequence_archive.name
    Clip.objects.filter(pk=clip.pk, status=Clip.Status.INGESTING).update(
        status=Clip.Status.FAILED, error=message, sequence_archive="")
    if archive_name:
        default_storage.delete(archive_name)
    clip.refresh_from_db()
    outbox.publish(f"clip-{clip.pk}", clip_payload(clip))
    return clip


def _ingest_checked(path: Path, *, film: Film, user: User | None, original_filename: str,
                    title: str, upload: UploadSession | None) -> Clip:
    info = validate_media(path)
    digest = _sha256(path)
    clip = Clip(film=film, uploaded_by=user, original_filename=Path(original_filename).name[:255],
                title=title or Path(original_filename).stem[:200], size_bytes=path.stat().st_size,
                sha256=digest, status=Clip.Status.PROBING)
    apply_media_info(clip, info)
    with open(path, "rb") as handle:
        clip.source.save("source", File(handle), save=False)  # the copy: no transaction
    _commit_new_clip(clip, upload, clip.source, WorkLease.Kind.PROBE, queue.PROBE_CLIP)
    return clip


def _commit_new_clip(clip: Clip, upload: UploadSession | None, stored: FieldFile,
                     first_unit: str, task: str) -> None:
    """Save a clip whose file is already stored, mark its upload complete (a conditional
    UPDATE: of two concurrent completions one wins), take the lease of its first unit
    of work and send that once committed. If any of it fails, the stored file goes."""
    try:
        with transaction.atomic():
            clip.save()
            if upload is not None and not UploadSession.objects.filter(
                    pk=upload.pk, status=UploadSession.Status.INGESTING).update(
                    status=UploadSession.Status.COMPLETE, clip=clip, error="",
                    updated_at=timezone.now()):
                raise UploadInProgress("this upload was handed back while it was being completed")
            leases.take(first_unit, clip.pk, holder=first_unit, fresh=True)
            queue.send_after_commit(task, clip.pk)
    except BaseException:
        stored.storage.delete(stored.name)
        raise


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
