"""Real services for integration tests: PostgreSQL, Redis and a real Celery worker.

These tests skip, saying why, when the services are not there; on the CI machine
they are (scripts/test points DATABASE_URL and REDIS_URL at them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.utils.nodenames import host_format
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]


def require_real_services() -> None:
    if not settings.REDIS_URL:
        pytest.skip("integration test needs Redis: set REDIS_URL (scripts/test does when 127.0.0.1:6379 answers)")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("integration test needs PostgreSQL: set DATABASE_URL (scripts/test does when 127.0.0.1:5432 answers)")


@pytest.fixture(scope="module")
def shared_media_root(tmp_path_factory) -> Path:
    """One media folder for the test process and its worker processes."""
    return tmp_path_factory.mktemp("integration-media")


@pytest.fixture
def integration_settings(settings, shared_media_root):
    require_real_services()
    settings.MEDIA_ROOT = str(shared_media_root)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(shared_media_root), "base_url": "/media/"}}}
    return settings


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    nodename: str = ""  # as Celery's control commands address it (name@host)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker (main process and its pool children)."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def worker_environment(media_root: Path) -> dict[str, str]:
    db = settings.DATABASES["default"]
    database_url = (f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                    f"{db['PORT'] or 5432}/{db['NAME']}")  # NAME is the test database by now
    environ = dict(os.environ)
    environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(media_root),
        "REEL_ARENA_PROCESS": "worker",
        "PYTHONUNBUFFERED": "1",
    })
    return environ


def start_worker(media_root: Path, log_dir: Path, *, queues: str = "default,gpu", concurrency: int = 1,
                 name: str = "it", extra_env: dict[str, str] | None = None,
                 celery_app: str = "config") -> WorkerProcess:
    """Start `celery worker` as its own process group and wait until it is ready.

    `celery_app` is the site's app by default; "gpu_worker.worker.app" starts the
    Django-free worker a GPU machine runs.
    """
    from config.celery import app

    app.control.purge()  # messages left by an earlier, interrupted run
    log_path = log_dir / f"worker-{name}.log"
    environ = worker_environment(media_root) | (extra_env or {})
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", celery_app, "worker", "-Q", queues, "-n", f"{name}@%h",
         "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path, host_format(f"{name}@%h"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{worker.log()}")
        if " ready." in worker.log():
            return worker
        time.sleep(0.2)
    worker.kill()
    raise RuntimeError(f"celery worker did not become ready:\n{worker.log()}")


@pytest.fixture
def celery_worker_process(integration_settings, transactional_db, shared_media_root, tmp_path) -> Iterator[WorkerProcess]:
    """A real Celery worker consuming both queues from Redis, using the test database.

    Without the damage analysis a probe queues after it (ANALYZE_AFTER_PROBE=0): no test
    here looks at it, and the worker's warm shutdown at teardown waited for it (14 s)."""
    worker = start_worker(shared_media_root, tmp_path, extra_env={"ANALYZE_AFTER_PROBE": "0"})
    print(f"\nintegration backends: broker={settings.REDIS_URL} database={settings.DATABASES['default']['NAME']} "
          f"(PostgreSQL), worker pid {worker.process.pid}")
    yield worker
    worker.kill(signal.SIGTERM)


QUEUES = ("default", "gpu")


def wait_until_idle(timeout: float = 180.0, workers: Sequence[str] = ()) -> None:
    """Until no message waits in the broker's queues and no worker runs or holds a task.

    A test's follow-up tasks can outlive it: a sweep queues a comparison of its finished
    variants, whose answer the default worker records. The database is emptied between
    transactional tests (TRUNCATE), which deadlocks against such a task's open
    transaction, so module-scoped workers must be idle before a test's teardown.

    `workers` names the workers (nodenames) to ask: a question addressed to them returns
    once they have answered, one sent to all waits out its whole timeout (1 s) for
    whoever else might answer. Named workers must answer: silence is not idleness."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            queued = {queue: client.llen(queue) for queue in QUEUES}
        control = app.control.inspect(timeout=1.0, destination=list(workers) or None)
        replies = [reply or {} for reply in (control.active(), control.reserved())]
        running = {name: len(tasks) for reply in replies for name, tasks in reply.items()
                   if tasks}
        # A named worker that did not answer both questions is not known to be idle.
        silent = sorted(set(workers) - set.intersection(*(set(reply) for reply in replies)))
        if not any(queued.values()) and not running and not silent:
            return
        state = f"queued {queued}, running {running}, not answering {silent}"
        time.sleep(0.5)
    raise AssertionError(f"the workers were still busy after {timeout:.0f} s: {state}")


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition", log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f"\n{log()}" if log else ""))
