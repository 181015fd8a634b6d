"""A ready (probed) clip in the test's media storage, without running the upload flow."""

from __future__ import annotations

from pathlib import Path

from restoration.models import Clip, Film
from restoration.services.clips import probe_and_poster
from tests.factories import ClipFactory

FAST_ENCODE = {"codec": "h264", "crf": 28, "preset": "ultrafast", "threads": 1}


def probing_clip(path: Path, film: Film | None = None, **fields) -> Clip:
    """A clip just uploaded from the video at ``path``, its probe not yet run."""
    return ClipFactory(probing=True, source_path=path, **({"film": film} if film else {}), **fields)


def ready_clip(path: Path, film: Film | None = None, title: str = "") -> Clip:
    """The video at ``path`` as a clip, probed (and given its poster) by the real service."""
    clip = probing_clip(path, film, title=title, original_filename=path.name)
    clip = probe_and_poster(clip)
    assert clip.status == Clip.Status.READY, clip.error
    return clip


def cheap_spec(seed: int = 0) -> dict:
    """A fast spec for tests (a colour look, encoded quickly): the tests are about the
    plumbing, and heavier operators are slow on a shared CPU."""
    return {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.6}}],
            "seed": seed, "encode": FAST_ENCODE}
