"""Adopt a winning variant and render the whole film with it: the one entry point
through which the voting app hands a contest's winner to restoration.

A variant is a preset version plus overrides. Adopting only the preset version would
drop the overrides the audience voted for, so when they differ the variant's effective
spec is saved as a new version of the same preset through the presets service (with
its validation), or an existing version with that spec is reused. The adoption is
kept even when the full-film render cannot start (a clip not probed yet, another
render under way): the reason is returned for the technician to read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from restoration.models import Film, PresetVersion, RenderJob, Variant
from restoration.rendering.film import FilmRenderError, start_film_render
from restoration.services import presets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adoption:
    preset_version: PresetVersion
    job: RenderJob | None
    note: str

    @property
    def render_started(self) -> bool:
        return self.job is not None


def version_for_variant(variant: Variant, *, user: Any = None) -> PresetVersion:
    """The preset version that renders exactly what `variant` showed."""
    base = variant.preset_version
    if variant.spec_hash == base.spec_hash:
        return base
    existing = base.preset.versions.filter(spec_hash=variant.spec_hash).first()
    if existing is not None:
        return existing
    return presets.save_version(base.preset, variant.spec, user=user,
                                note=f"{base} with the overrides of variant {variant.pk}")


def adopt_and_render(film: Film, variant: Variant, *, user: Any = None) -> Adoption:
    """Make `variant`'s look the film's preset, then start the full-film render with it."""
    with transaction.atomic():
        version = version_for_variant(variant, user=user)
        Film.objects.filter(pk=film.pk).update(adopted_preset=version)
        film.adopted_preset = version
    try:
        job = start_film_render(film, version, user)
    except FilmRenderError as err:
        log.warning("full-film render of film %s not started: %s", film.pk, err)
        return Adoption(version, None, f"full-film render not started: {err}")
    return Adoption(version, job, f"full-film render started (job {job.pk})")
