"""Start the whole site on one machine with no services to install.

    python manage.py run_embedded [--host 127.0.0.1] [--port 8000]

Runs, as supervised child processes: the ASGI web server (daphne, HTTP and
websockets), a Celery worker for the `default` queue (probing, analysis, bookkeeping)
and one for the `gpu` queue (rendering). They share SQLite (WAL mode), the local media
folder and a filesystem Celery broker under var/. Separate processes rather than
threads: a render that crashes or is killed takes down only its worker, which the
supervisor restarts. The filesystem broker does not hand the killed worker's job out
again: the supervisor also runs the lease sweeper (restoration.sweeper) every
SWEEP_INTERVAL_SECONDS in a thread, which sends again every unit of work whose lease
expired, or fails it with a reason past its attempts.
On first start it creates an admin account and the demo film.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

log = logging.getLogger(__name__)
DEFAULT_WORKER_CONCURRENCY = 2


class SweeperThread(threading.Thread):
    """The lease sweeper of the embedded default, every SWEEP_INTERVAL_SECONDS."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True, name="lease-sweeper")
        self.interval = interval
        self.stopping = threading.Event()
        self.sweeps = 0

    def run(self) -> None:
        from django.db import connection

        from restoration import sweeper

        try:
            while not self.stopping.wait(self.interval):
                try:
                    sweeper.sweep()
                    self.sweeps += 1
                except Exception:  # a locked database now and then: try at the next tick
                    log.warning("sweep failed", exc_info=True)
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class Command(BaseCommand):
    help = "Start web server, Celery workers and live updates on the embedded default."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="skip the demo film")

    def handle(self, *args, host: str, port: int, no_demo: bool, **options) -> None:
        if settings.DEBUG and not is_loopback(host):
            # Debug pages show settings, code and queries to whoever causes an error.
            raise CommandError(f"DEBUG is on: refusing to listen on {host}, which other machines can "
                               "reach. Serve on 127.0.0.1, or turn DEBUG off (DEBUG=0).")
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        children = self._children(host, port)
        for child in children:
            child.start()
        self.stdout.write(self.style.SUCCESS(f"Reel Arena is running at http://{host}:{port}/"))
        if not no_demo and settings.DEMO_FILM_ON_START:
            from restoration.services.demo import ensure_demo_film

            film = ensure_demo_film()
            if film is not None:
                self.stdout.write(f"Demo film: http://{host}:{port}{film.get_absolute_url()}")
        sweeper = SweeperThread(float(settings.SWEEP_INTERVAL_SECONDS))
        sweeper.start()
        try:
            self._supervise(children)
        finally:
            sweeper.stop()

    def _ensure_admin(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        User = get_user_model()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser("admin", "admin@localhost", password)
        user.groups.add(*Group.objects.filter(name__in=["technician", "curator"]))
        credentials = settings.VAR_DIR / "first-login.txt"
        credentials.write_text(f"username: admin\npassword: {password}\n")
        credentials.chmod(0o600)
        self.stdout.write(self.style.WARNING(
            f"Created the account admin / {password} (also in {credentials})"))

    def _children(self, host: str, port: int) -> list[Child]:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1")
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                  "--without-gossip", "--without-mingle", "--pool", "prefork"]
        return [
            Child("web", [python, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
                  dict(env, REEL_ARENA_PROCESS="web")),
            # Two at a time on the default queue, as in production: an analysis (the
            # demo film's on first start, tens of seconds) does not hold up the probe
            # of a clip someone has just uploaded.
            Child("default-worker", [*celery, "--concurrency", str(DEFAULT_WORKER_CONCURRENCY),
                                     "-Q", "default", "-n", "default@%h"],
                  dict(env, REEL_ARENA_PROCESS="worker")),
            Child("gpu-worker", [*celery, "--concurrency", "1", "-Q", "gpu", "-n", "gpu@%h"],
                  dict(env, REEL_ARENA_PROCESS="worker")),
        ]

    def _supervise(self, children: list[Child]) -> None:
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                time.sleep(0.5)
                for child in children:
                    if child.running() or stopping:
                        continue
                    now = time.monotonic()
                    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                    if len(child.restarts) > 5:
                        self.stderr.write(f"{child.name} keeps exiting; stopping everything")
                        stopping = True
                        break
                    self.stderr.write(f"{child.name} exited with {child.process.returncode}; restarting")
                    child.start()
        finally:
            for child in children:
                if child.running():
                    child.process.terminate()
            deadline = time.monotonic() + 15
            for child in children:
                if child.process is None:
                    continue
                try:
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
