"""Blind media: per-contest opaque, equal-size copies of the variants fans compare.

When a contest opens, each entry's playable file (the H.264 proxy, or the master when
it is itself H.264 MP4) is copied once per player side to
``contests/<random>/<random>.mp4`` in the media storage. Nothing in those names is
derived from an id (the variant, its render and its clip stay unknown), and both sides
of an identical golden pair are two different objects.

Every copy of a contest is padded to one size: the largest playable file of the contest
plus room for a padding box, rounded up to ``PAD_BLOCK``. The padding is an ISO BMFF
``free`` box appended at the end of the file (ISO/IEC 14496-12 §8.1.2: a top-level box
players skip), so the copy is still a valid MP4, range requests work on it as on any
file, and a fan learns nothing from Content-Length.

On local storage the voting media view streams the copy; on S3 it redirects to a
presigned GET of the copy that expires after ``VOTING_BLIND_URL_SECONDS``. The copies
are removed when the contest closes (or is decided, or deleted) and made again, lazily,
if it reopens.

No library appends top-level MP4 padding: mutagen and pymp4 rewrite ``moov`` (and its
chunk offsets) to pad metadata, which is more than a box at the end needs; the few
lines below only read top-level box headers.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext as _

from restoration.storage import local_path, save_file
from voting import conf
from voting.integrity import VotingError
from voting.models import BlindCopy, Contest, ContestEntry, Pairing

log = logging.getLogger(__name__)

SIDES = ("left", "right")
PAD_BLOCK = 64 * 1024  # copies are padded to a multiple of this
FREE_HEADER = 8  # size (32 bits) + "free"
FREE_HEADER_LARGE = 16  # size 1 + "free" + 64-bit size
FOLDER = "contests"


class BlindMediaError(VotingError):
    status, code = 409, "blind_media"


# --------------------------------------------------------------------------- padding


def top_level_boxes(path: Path) -> Iterator[tuple[int, bytes, int, int]]:
    """``(offset, type, size, header_length)`` of each top-level box of an ISO BMFF
    file (MP4, MOV); a box of size 0 ("to the end of the file") is reported as such."""
    total = path.stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset < total:
            handle.seek(offset)
            header = handle.read(8)
            if len(header) < 8:
                raise BlindMediaError(_("%(name)s is not an MP4 file: a box header is cut short.")
                                      % {"name": path.name})
            size, kind = struct.unpack(">I4s", header)
            length = 8
            if size == 1:
                large = handle.read(8)
                if len(large) < 8:
                    raise BlindMediaError(_("%(name)s is not an MP4 file: a box header is cut short.")
                                          % {"name": path.name})
                size, length = struct.unpack(">Q", large)[0], 16
            if not all(32 <= c < 127 for c in kind) or (size != 0 and (size < length or offset + size > total)):
                raise BlindMediaError(_("%(name)s is not an MP4 file: no valid box at byte %(offset)d.")
                                      % {"name": path.name, "offset": offset})
            yield offset, kind, size, length
            if size == 0:
                return
            offset += size


def padded_size(sizes: list[int]) -> int:
    """The common size every copy of a contest gets: room for a padding box after the
    largest file, rounded up to ``PAD_BLOCK``."""
    largest = max(sizes) + FREE_HEADER_LARGE
    return -(-largest // PAD_BLOCK) * PAD_BLOCK


def pad_mp4(path: Path, size: int) -> None:
    """Grow the MP4 file at ``path`` to exactly ``size`` bytes with a ``free`` box at
    the end. A last box of size 0 (it runs to the end of the file) gets its real size
    first, so the padding does not become part of it."""
    boxes = list(top_level_boxes(path))
    if not any(kind == b"moov" for _, kind, _, _ in boxes):
        raise BlindMediaError(_("%(name)s is not an MP4 file: it has no movie box.") % {"name": path.name})
    current = path.stat().st_size
    with open(path, "r+b") as handle:
        offset, _kind, box_size, length = boxes[-1]
        if box_size == 0:
            real = current - offset
            if length == 16:
                handle.seek(offset + 8)
                handle.write(struct.pack(">Q", real))
            elif real <= 0xFFFFFFFF:
                handle.seek(offset)
                handle.write(struct.pack(">I", real))
            else:
                raise BlindMediaError(_("%(name)s cannot be padded: its last box is too large.")
                                      % {"name": path.name})
        if size - current < FREE_HEADER:
            raise BlindMediaError(_("%(name)s is larger than the common size of the contest's copies.")
                                  % {"name": path.name})
        handle.seek(current)
        nbytes = size - current
        handle.write(struct.pack(">I4s", nbytes, b"free") if nbytes <= 0xFFFFFFFF
                     else struct.pack(">I4sQ", 1, b"free", nbytes))
        handle.truncate(size)  # the rest of the box: zeros, without holding them in memory


# --------------------------------------------------------------------------- copies


def _storage() -> Storage:
    return default_storage


def publish_blind_media(contest: Contest) -> list[BlindCopy]:
    """Make the contest's blind copies if it has none yet (safe to repeat, and to race:
    the contest row is locked while they are made). Returns them."""
    storage = _storage()
    with transaction.atomic():
        Contest.objects.select_for_update().filter(pk=contest.pk).first()
        existing = list(BlindCopy.objects.filter(contest=contest))
        if existing:
            return existing
        entries = list(ContestEntry.objects.filter(contest=contest).select_related("variant").order_by("pk"))
        files = {e.pk: e.variant.playable.name for e in entries}
        size = padded_size([storage.size(name) for name in files.values()])
        folder = f"{FOLDER}/{secrets.token_urlsafe(12)}"
        made: list[str] = []
        copies = []
        try:
            with tempfile.TemporaryDirectory(prefix="blind-") as tmp:
                for entry in entries:
                    padded = Path(tmp) / Path(files[entry.pk]).name
                    with local_path(files[entry.pk], storage) as source:
                        shutil.copyfile(source, padded)
                    try:
                        pad_mp4(padded, size)
                    except BlindMediaError as err:
                        raise BlindMediaError(_("Variant %(id)s cannot be shown to fans: %(reason)s")
                                              % {"id": entry.variant_id, "reason": err.message}) from None
                    for side in SIDES:
                        name = save_file(padded, f"{folder}/{secrets.token_urlsafe(12)}.mp4", storage)
                        made.append(name)
                        copies.append(BlindCopy(contest=contest, entry=entry, side=side, name=name, size=size))
                    padded.unlink()
            BlindCopy.objects.bulk_create(copies)
        except Exception:
            for name in made:
                _delete_quietly(storage, name)
            raise
    log.info("%s: %d blind copies of %d bytes in %s", contest, len(copies), size, folder)
    return copies


def withdraw_blind_media(contest: Contest) -> int:
    """Remove the contest's blind copies (rows now, stored files once the deletion is
    committed). Returns how many there were."""
    deleted, _detail = BlindCopy.objects.filter(contest=contest).delete()
    return deleted


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # a file already gone, or storage down: the copy is unreachable anyway
        log.warning("could not delete blind copy %s", name, exc_info=True)


@receiver(post_delete, sender=BlindCopy)
def _remove_stored_copy(sender: type, instance: BlindCopy, **kwargs) -> None:
    # Also for copies deleted with their contest (a cascade sends this signal too).
    name = instance.name
    transaction.on_commit(lambda: _delete_quietly(_storage(), name))


def copy_for(pairing: Pairing, side: str) -> BlindCopy:
    """The blind copy one side of a pairing plays: each entry's copy for that side, so the
    two sides of an identical golden pair are two different objects. Makes the contest's
    copies first if it has none (a contest opened before copies existed, or reopened)."""
    entry_id = pairing.left_id if side == "left" else pairing.right_id
    copy = BlindCopy.objects.filter(entry_id=entry_id, side=side).first()
    if copy is None and pairing.contest.is_open:  # a closed contest's copies are gone for good
        publish_blind_media(pairing.contest)
        copy = BlindCopy.objects.filter(entry_id=entry_id, side=side).first()
    if copy is None:
        raise BlindMediaError(_("This contest's media are not available."))
    return copy


def local_file(copy: BlindCopy) -> Path | None:
    """The copy's path on local storage; None on remote storage (S3)."""
    try:
        return Path(_storage().path(copy.name))
    except NotImplementedError:
        return None


def remote_url(copy: BlindCopy) -> str:
    """A presigned GET of the copy on S3, valid for ``VOTING_BLIND_URL_SECONDS``."""
    return _storage().url(copy.name, expire=conf.blind_url_seconds())
