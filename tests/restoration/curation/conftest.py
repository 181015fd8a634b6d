"""Fixtures shared by the curation tests: a probed clip, two finished variants of it,
a finished full-film render."""

from __future__ import annotations

import pytest

from restoration.models import RenderJob
from tests.factories import (
    FilmFactory,
    PresetVersionFactory,
    RenderJobFactory,
    VariantFactory,
)
from tests.media_factory import make_video
from tests.restoration.clip_helpers import ready_clip
from tests.restoration.curation.factories import BASE_SPEC, RENDERED


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made in nearly every test here; the real hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]



@pytest.fixture
def clip(tmp_path):
    source = make_video(tmp_path / "source.mp4", frames=24, width=64, height=48, audio=True)
    return ready_clip(source, FilmFactory(title="The General", year=1926), title="Reel 1")


@pytest.fixture
def variants(clip, tmp_path):
    base = PresetVersionFactory(preset__name="warm", spec=BASE_SPEC)
    out = []
    for n, amount in enumerate((0.6, 0.9)):
        video = make_video(tmp_path / f"v{n}.mp4", frames=24, width=64, height=48, audio=True)
        spec = {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": amount}},
                        *([{"op": "grain", "params": {"strength": 0.3}}] if n else [])], "seed": 0}
        out.append(VariantFactory(clip=clip, preset_version=base, spec=spec, output_path=video,
                                  overrides={"colour_scheme.amount": amount}, label=f"warm amount {amount}",
                                  **RENDERED))
    return out


@pytest.fixture
def film_job(clip, tmp_path):
    output = make_video(tmp_path / "film.mp4", frames=24, width=64, height=48, audio=True)
    return RenderJobFactory(film=clip.film, status=RenderJob.Status.DONE, output_path=output,
                            preset_version=PresetVersionFactory(preset__name="film preset", spec=BASE_SPEC),
                            frames_total=24, frames_done=24)
