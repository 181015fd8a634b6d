"""A ready (probed) clip in the test's media storage, without running the upload flow."""

from __future__ import annotations

from pathlib import Path

from django.core.files import File

from restoration.models import Clip, Film
from restoration.services.clips import probe_and_poster
from tests.factories import FilmFactory

FAST_ENCODE = {"codec": "h264", "crf": 28, "preset": "ultrafast", "threads": 1}


def ready_clip(path: Path, film: Film | None = None, title: str = "") -> Clip:
    clip = Clip(film=film or FilmFactory(), status=Clip.Status.PROBING, title=title,
                container="mov,mp4,m4a,3gp,3g2,mj2", original_filename=path.name)
    with open(path, "rb") as handle:
        clip.source.save("source", File(handle), save=False)
    clip.save()
    clip = probe_and_poster(clip)
    assert clip.status == Clip.Status.READY, clip.error
    return clip


def cheap_spec(seed: int = 0) -> dict:
    """A fast spec for tests (a colour look, encoded quickly): the tests are about the
    plumbing, and heavier operators are slow on a shared CPU."""
    return {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.6}}],
            "seed": seed, "encode": FAST_ENCODE}
