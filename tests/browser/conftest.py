"""Browser tests: Debian's chromium driven by Playwright against the real site.

The site runs exactly as `scripts/start` runs it (manage.py run_embedded: daphne,
two Celery workers, SQLite, the filesystem broker) in a temporary var/ folder, so a
browser test also proves that the embedded default starts from nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


@dataclass
class EmbeddedSite:
    url: str
    var_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def add_user(self, username: str, *roles: str, password: str = "pass-word-1") -> tuple[str, str]:
        return self.add_users((username, *roles), password=password)[0]

    def add_users(self, *users: tuple[str, ...], password: str = "pass-word-1") -> list[tuple[str, str]]:
        """`add_user` for each (username, *roles), all in one manage.py process: each
        process spends seconds starting Django."""
        calls = "".join(f"call_command('add_user', {name!r}, '--password', {password!r}"
                        + "".join(f", '--role', {role!r}" for role in roles) + "); "
                        for name, *roles in users)
        self.manage("shell", "-c", "from django.core.management import call_command; " + calls)
        return [(name, password) for name, *_ in users]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def embedded_environment(var_dir: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL", "MEDIA_ROOT"}}
    environ.update({"REEL_ARENA_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings",
                    "PYTHONUNBUFFERED": "1", "DEBUG": "1"})
    return environ


@pytest.fixture(scope="session")
def embedded_site(tmp_path_factory) -> Iterator[EmbeddedSite]:
    var_dir = tmp_path_factory.mktemp("embedded-var")
    port = free_port()
    env = embedded_environment(var_dir)
    log_path = var_dir / "site.log"
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "manage.py", "run_embedded", "--port", str(port)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    site = EmbeddedSite(f"http://127.0.0.1:{port}", var_dir, env, process, log_path)
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded site exited:\n{site.log()}")
        try:
            with urllib.request.urlopen(site.url + "/", timeout=2) as response:
                if response.status == 200 and "Demo film" in site.log():
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded site did not come up:\n{site.log()}")
        time.sleep(0.5)
    yield site
    # Every browser test is done with the site: the whole process group goes at once. A
    # SIGTERM to the group took 6-16 s (each Celery worker's warm shutdown starts a new
    # pool process in place of the one the same signal ended, then stops it).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request) -> Path:
    """Folder for this test's screenshots (kept after the run for people to look at)."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def log_in(page, site: EmbeddedSite, username: str, password: str) -> None:
    page.goto(site.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
