"""Reaching stored media as local files, whatever the storage backend.

The engine works on local paths (PyAV seeks in files). On the local-folder storage a
stored file already has a path; on S3-compatible storage it is downloaded to a
temporary file for the duration of the work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.core.files.storage import Storage, default_storage


@contextmanager
def local_path(name: str, storage: Storage = default_storage) -> Iterator[Path]:
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass
    suffix = Path(name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with storage.open(name, "rb") as src:
            shutil.copyfileobj(src, tmp, length=1024 * 1024)
        tmp.flush()
        yield Path(tmp.name)


def replace_file(path: Path, name: str, storage: Storage = default_storage) -> str:
    """Store a local file under exactly `name`, replacing what is there, atomically:
    on a local folder it is copied beside the target and renamed into place (a crash
    leaves the old file or none, never half of the new one); on S3 an upload appears
    whole or not at all. Safe to repeat: the same name, never a second copy."""
    try:
        target = Path(storage.path(name))
    except NotImplementedError:
        if storage.exists(name):
            storage.delete(name)
        return save_file(path, name, storage)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        shutil.copyfile(path, part)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return name


def save_file(path: Path, name: str, storage: Storage = default_storage) -> str:
    """Store a local file under `name` (the storage may pick a free variant of it)."""
    with open(path, "rb") as handle:
        return storage.save(name, File(handle))
