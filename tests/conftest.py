"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = Path(os.environ.get("REEL_ARENA_SHARED_MEDIA", REPO_ROOT.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The real media folder beside the checkout (../shared/media); skip when absent."""
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"real media not found at {SHARED_MEDIA} (set REEL_ARENA_SHARED_MEDIA)")
    return SHARED_MEDIA


def media_file(relative: str) -> Path:
    """Path of one file under ../shared/media, skipping the test when it is absent."""
    path = SHARED_MEDIA / relative
    if not path.is_file():
        pytest.skip(f"real media file not found: {path}")
    return path


# --- Django-wide test settings ----------------------------------------------------

@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path_factory):
    """Every test writes media and upload staging files into its own folders."""
    media = tmp_path_factory.mktemp("media")
    staging = tmp_path_factory.mktemp("staging")
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(media), "base_url": "/media/"}}}
    settings.UPLOAD_STAGING_DIR = staging
    settings.FILE_UPLOAD_TEMP_DIR = str(staging)
    yield


@pytest.fixture
def eager_celery():
    """Run Celery tasks in-process (unit tests only; integration tests use a real worker)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False
