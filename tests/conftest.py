"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a site a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def embedded_database(var_dir: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite database of an embedded site running from `var_dir` (the default of
    config.settings.DATABASES), opened read-only beside the running site: a look at its
    state without the seconds a `manage.py shell` takes to start."""
    uri = f"file:{Path(var_dir) / 'reel_arena.sqlite3'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        yield db


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


def pytest_report_header(config) -> list[str]:
    """Say which real backends this run uses (CI has PostgreSQL and Redis)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return [
        f"reel-arena backends: database={db['ENGINE'].rsplit('.', 1)[-1]} "
        f"({db.get('HOST') or db.get('NAME')}), channel layer={layer}, "
        f"cache={settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}, "
        f"celery broker={settings.CELERY_BROKER_URL.split('://')[0]}",
    ]


@pytest.fixture(autouse=True)
def _english_between_tests():
    """LocaleMiddleware leaves the request's language active in the thread; a test that
    fetched a page in Chinese must not leave the next test's messages in Chinese."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached ratings never leak from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_channel_layers():
    """Each async test runs on its own event loop; a Redis channel layer keeps
    connections bound to the loop that made them, so every test gets new layers."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database name of its own per run (test_<name>_<pid>), so two runs on one
    PostgreSQL server never drop each other's database."""
    from django.db import connections

    for alias in connections:
        test_settings = connections[alias].settings_dict.setdefault("TEST", {})
        base = connections[alias].settings_dict["NAME"]
        if connections[alias].vendor == "postgresql" and not test_settings.get("NAME"):
            test_settings["NAME"] = f"test_{base}_{os.getpid()}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's database set-up, plus: async tests reach the database from
    helper threads whose connections outlive the test; end them before the test
    database is dropped, or PostgreSQL refuses to drop it."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
