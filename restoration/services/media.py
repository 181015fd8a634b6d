"""Media housekeeping: files under the media storage that no row refers to.

Every file the site keeps is named by a FileField of some row (a clip's source,
poster and analysis plot, a variant's master and proxy, a render's output, a film
segment) or lies in a folder that belongs to a live row (a render's control markers,
`renders/control/job-<key>/`) or to people (`assets/`, the files specs may name).
Anything else is orphaned: a copy a killed upload left, the output of a render whose
job was deleted, a temporary `.part` file of a killed process. Files younger than
`min_age` are never reported, so work in flight (a render writing its temporary file,
an upload being stored) is left alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.apps import apps
from django.core.files.storage import Storage, default_storage
from django.db import models

from restoration.models import RenderJob

KEPT_FOLDERS = ("assets/",)
CONTROL_FOLDER = "renders/control/"


@dataclass(frozen=True)
class OrphanFile:
    name: str
    size: int
    age_seconds: float


def referenced_names() -> tuple[set[str], set[str]]:
    """(file names, folder prefixes) that rows refer to, across every installed app."""
    from restoration.rendering.jobs import job_key

    names: set[str] = set()
    prefixes: set[str] = set(KEPT_FOLDERS)
    for model in apps.get_models():
        fields = [f.name for f in model._meta.get_fields() if isinstance(f, models.FileField)]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                if not value:
                    continue
                if value.endswith("/"):  # an image-sequence output: a folder
                    prefixes.add(value)
                else:
                    names.add(value)
    for job in RenderJob.objects.only("pk", "created_at"):
        prefixes.add(f"{CONTROL_FOLDER}job-{job_key(job)}/")
    return names, prefixes


def walk(storage: Storage, folder: str = "") -> list[str]:
    """Every file name under `folder` of the storage, recursively."""
    folders, files = storage.listdir(folder)
    out = [str(PurePosixPath(folder) / name) if folder else name for name in files]
    for sub in folders:
        out.extend(walk(storage, str(PurePosixPath(folder) / sub) if folder else sub))
    return out


def orphaned_files(
    *, min_age: float = 3600.0, storage: Storage = default_storage
) -> list[OrphanFile]:
    """Files in the media storage no row refers to, older than `min_age` seconds."""
    names, prefixes = referenced_names()
    now = time.time()
    orphans = []
    for name in sorted(walk(storage)):
        if name in names or any(name.startswith(prefix) for prefix in prefixes):
            continue
        try:
            modified = storage.get_modified_time(name).timestamp()
            size = storage.size(name)
        except (OSError, NotImplementedError):
            continue
        if now - modified < min_age:
            continue
        orphans.append(OrphanFile(name=name, size=size, age_seconds=now - modified))
    return orphans


def remove(orphans: list[OrphanFile], storage: Storage = default_storage) -> int:
    """Delete the files; returns the bytes freed. Each is checked again first: a row
    may have come to refer to it since it was listed."""
    names, prefixes = referenced_names()
    freed = 0
    for orphan in orphans:
        if orphan.name in names or any(orphan.name.startswith(p) for p in prefixes):
            continue
        storage.delete(orphan.name)
        freed += orphan.size
    return freed
