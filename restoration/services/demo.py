"""The demo film a newcomer sees on first start: generated, never downloaded."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from restoration.models import Film
from restoration.services.uploads import ingest_file

log = logging.getLogger(__name__)

DEMO_TITLE = "A Sunday in the Country (demo)"


def ensure_demo_film(*, seconds: float = 8.0) -> Film | None:
    """Create the demo film and its clip once; return it, or None if it already existed."""
    if Film.objects.filter(is_demo=True).exists():
        return None
    from gpu_worker.engine.demo import make_demo_film

    film = Film.objects.create(title=DEMO_TITLE, year=1927, is_demo=True,
                               description="A procedurally drawn short with synthetic film damage "
                                           "(grain, dust, scratches, flicker, fading), generated "
                                           "on first start so there is something to restore.")
    with tempfile.TemporaryDirectory() as tmp:
        path = make_demo_film(Path(tmp) / "demo.mp4", seconds=seconds)
        ingest_file(path, film=film, user=None, original_filename="sunday_in_the_country_demo.mp4",
                    title="Reel 1")
    log.info("created the demo film %s", film.pk)
    return film
