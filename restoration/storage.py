"""Reaching stored media as local files, whatever the storage backend.

The engine works on local paths (PyAV seeks in files). On the local-folder storage a
stored file already has a path; on S3-compatible storage it is downloaded to a
temporary file for the duration of the work.
"""

from __future__ import annotations

import shutil
import tempfile
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


def save_file(path: Path, name: str, storage: Storage = default_storage) -> str:
    """Store a local file under `name` (the storage may pick a free variant of it)."""
    with open(path, "rb") as handle:
        return storage.save(name, File(handle))
