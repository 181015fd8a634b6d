"""After upload: exact probe, poster frame and damage analysis of a clip."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.db import transaction

from frontend.live import outbox
from gpu_worker.engine.io import MediaError, probe
from gpu_worker.engine.media import write_poster
from restoration.models import Clip
from restoration.selectors import clip_payload
from restoration.services.uploads import apply_media_info
from restoration.storage import local_path, save_file

log = logging.getLogger(__name__)


def poster_frame_number(frame_count: int) -> int:
    # A frame a little into the clip: first frames of old films are often leader or black.
    return min(max(frame_count - 1, 0), max(0, frame_count // 10))


def probe_and_poster(clip: Clip) -> Clip:
    """Count frames exactly, store a poster JPEG and mark the clip ready (or failed)."""
    try:
        with local_path(clip.source.name) as source:
            info = probe(source, deep=True)
            apply_media_info(clip, info)
            clip.frame_count_exact = True
            with tempfile.TemporaryDirectory() as tmp:
                poster_file = write_poster(source, Path(tmp) / "poster.jpg",
                                           frame_number=poster_frame_number(info.frame_count))
                stored = save_file(poster_file, f"{Path(clip.source.name).parent}/poster.jpg")
        if clip.poster and clip.poster.name != stored:
            clip.poster.storage.delete(clip.poster.name)
        clip.poster.name = stored
        clip.status = Clip.Status.READY
        clip.error = ""
    except MediaError as exc:
        clip.status = Clip.Status.FAILED
        clip.error = str(exc)
    with transaction.atomic():
        clip.save()
    outbox.publish(f"clip-{clip.pk}", clip_payload(clip))
    return clip
