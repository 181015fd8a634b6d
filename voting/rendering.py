"""Adapter to the restoration app's full-film render service.

Adopting a contest winner starts the full-film render. That service belongs to the
restoration app; this adapter finds it by name at call time, so voting neither imports
rendering internals at module load nor breaks while that service is being built: when
it is not available the adoption still happens and says the render was not started.
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
    """Start the full-film render of ``film`` with ``preset_version``; never raises for a
    missing service (the adoption itself must not be lost), but does for a failing one."""
    starter = find_starter()
    if starter is None:
        note = "full-film render not started: the rendering service is not available yet"
        log.warning("%s (film %s)", note, film.pk)
        return RenderStart(False, None, note)
    job = starter(film, preset_version, user)
    job_id = getattr(job, "pk", None)
    return RenderStart(True, job, f"full-film render started (job {job_id})" if job_id else "full-film render started")
