"""Adapter to the restoration app's full-film render service.

Adopting a contest winner starts the full-film render
(``restoration.services.film_render.start_film_render``). The adapter finds it by name
at call time, so voting does not import rendering internals at module load, and a
render that cannot start (no service, a clip not probed yet, another render under way)
never undoes the adoption: the reason is returned and shown to the technician.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Where the starter may live, first match wins: (module, function name).
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("restoration.services.film_render", "start_film_render"),
    ("restoration.services.rendering", "start_film_render"),
    ("restoration.services.render", "start_film_render"),
    ("restoration.services.films", "start_film_render"),
    ("restoration.services", "start_film_render"),
)


@dataclass(frozen=True)
class RenderStart:
    started: bool
    job: Any | None
    note: str


def find_starter() -> Callable[..., Any] | None:
    for module_name, attr in CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        starter = getattr(module, attr, None)
        if callable(starter):
            return starter
    return None


def start_film_render(film, preset_version, user) -> RenderStart:
    """Start the full-film render of ``film`` with ``preset_version``; never raises (the
    adoption itself must not be lost), says why when the render did not start."""
    starter = find_starter()
    if starter is None:
        note = "full-film render not started: the rendering service is not available"
        log.warning("%s (film %s)", note, film.pk)
        return RenderStart(False, None, note)
    try:
        job = starter(film, preset_version, user)
    except Exception as err:  # e.g. FilmRenderError: a clip not probed, a render under way
        log.warning("full-film render of film %s not started: %s", film.pk, err)
        return RenderStart(False, None, f"full-film render not started: {err}")
    job_id = getattr(job, "pk", None)
    return RenderStart(True, job, f"full-film render started (job {job_id})" if job_id else "full-film render started")
