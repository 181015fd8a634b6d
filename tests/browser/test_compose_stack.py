"""The docker-compose deployment, run as plain processes and used in chromium.

Docker cannot run on the development or CI machine, so this test runs what the images
would run: the Dockerfile's environment and static-files step, then the compose file's
own commands for `migrate`, `web`, `worker`, `beat` and `gpu-worker`, read from
docker-compose.yml (not copied here), against the machine's PostgreSQL and Redis. A fan
then votes in chromium on the production-mode site (DEBUG=0, static files served by
whitenoise from the collected folder, no development server), the readiness probe
sees every dependency, and beat's lease sweep reaches the worker.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import yaml
from celery.utils.nodenames import host_format

from tests.conftest import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
REDIS_DBS = (12, 13)  # the stack's broker and cache: apart from the other tests' databases


def answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def dockerfile_env() -> dict[str, str]:
    """The image's ENV lines (KEY=value pairs)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in shlex.split(line[4:])))
    return env


def dockerfile_collectstatic() -> str:
    """The image's static-files step, as the Dockerfile runs it."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [line[4:] for line in text.splitlines() if line.startswith("RUN ") and "collectstatic" in line]
    return line


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return result.stdout


def run_service(stack: Stack, name: str, command: str | list[str]) -> subprocess.Popen:
    """Start one compose service's command as a process in its own group."""
    argv = command if isinstance(command, list) else ["sh", "-c", command]
    log = open(stack.logs / f"{name}.log", "w")
    return subprocess.Popen(argv, cwd=REPO, env=stack.env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory) -> Iterator[Stack]:
    if not (answers(5432) and answers(6379)):
        pytest.skip("the compose stack needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    import psycopg
    import redis

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    database = f"reel_compose_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis_clients = [redis.Redis.from_url(f"{REDIS}/{db}") for db in REDIS_DBS]
    for client in redis_clients:
        client.flushdb()

    data = tmp_path_factory.mktemp("compose-data")
    port = free_port()
    # The image's environment, then the compose file's, with the hosts of the compose
    # network (db, redis) replaced by this machine's services.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL"}}
    env.update(dockerfile_env())
    for key, value in services["web"]["environment"].items():
        env[key] = str(value)
    env.update({
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "REDIS_URL": f"{REDIS}/{REDIS_DBS[0]}",
        "REDIS_CACHE_URL": f"{REDIS}/{REDIS_DBS[1]}",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REEL_ARENA_VAR_DIR": str(data),
        "MEDIA_ROOT": str(data / "media"),
        # so the test sees beat's lease sweep reach a worker within seconds
        "SWEEP_INTERVAL_SECONDS": "3",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    assert env["DEBUG"] == "0", "the image runs in production mode"
    logs = data / "logs"
    logs.mkdir()
    stack = Stack(f"http://127.0.0.1:{port}", env, logs)

    collect = subprocess.run(["sh", "-c", dockerfile_collectstatic()], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0, collect.stderr
    migrate = subprocess.run(shlex.split(services["migrate"]["command"]), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr

    web = services["web"]["command"].replace("-b 0.0.0.0", "-b 127.0.0.1").replace("-p 8000", f"-p {port}")
    assert f"-p {port}" in web, web
    try:
        stack.processes["web"] = run_service(stack, "web", web)
        for name in ("worker", "beat", "gpu-worker"):
            # `%h` is Celery's own host-name placeholder; the commands run unchanged.
            stack.processes[name] = run_service(stack, name, services[name]["command"])
        deadline = time.monotonic() + 120
        while True:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{name} exited:\n{stack.log(name)}")
            try:
                with urllib.request.urlopen(stack.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, stack.log("web")
            time.sleep(0.5)
        yield stack
    finally:
        for process in stack.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in stack.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for client in redis_clients:
            client.flushdb()
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_the_compose_services_serve_a_working_voting_page(compose_stack, browser, artifacts):
    stack = compose_stack

    # Ready: database, broker and storage answer.
    with urllib.request.urlopen(stack.url + "/readyz", timeout=10) as response:
        ready = json.loads(response.read())
    assert response.status == 200, ready
    assert ready["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}, ready

    out = stack.manage("shell", "-c", "from tests.browser.test_voting import seed_contest; seed_contest()")
    contest = json.loads(out.strip().splitlines()[-1])

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    static: list[tuple[str, int]] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("response", lambda r: static.append((r.url, r.status)) if "/static/" in r.url else None)
    page.goto(f"{stack.url}/vote/c/{contest['slug']}/")

    # The player's scripts and styles come from the collected static folder.
    page.wait_for_selector("#vote-app[data-state=watching]", timeout=30_000)
    scripts = [url for url, _ in static if url.endswith(".js")]
    assert any("vote" in url for url in scripts), static
    assert any(url.endswith(".css") for url, _ in static), static
    assert all(status == 200 for _, status in static), static
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "no stylesheet applied"

    page.wait_for_selector("#vote-left:not([disabled])", timeout=40_000)
    page.click("#vote-left")
    page.wait_for_selector("#after-vote:not([hidden])", timeout=20_000)
    page.screenshot(path=str(artifacts / "compose-vote.png"), full_page=True)
    assert errors == [], errors
    assert [url for url in failed if "/static/" in url] == [], failed
    context.close()

    # The database is read directly: a `manage.py shell` takes seconds to start.
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as db:
        counted = db.execute("SELECT count(*) FROM voting_ballot WHERE contest_id = %s",
                             (contest["id"],)).fetchone()[0]
    assert counted == 1

    # Beat sends the lease sweep and the CPU worker runs it: a lease left expired on the
    # (finished) clip's probe is released within a few sweep intervals.
    lease_id = stack.manage("shell", "-c", (
        "from datetime import timedelta; from django.utils import timezone; "
        "from restoration.models import WorkLease; from voting.models import Contest; "
        f"clip = Contest.objects.get(pk={contest['id']}).clip_id; "
        "print(WorkLease.objects.create(kind='probe', object_id=clip, token='x' * 32, attempt=1, "
        "expires_at=timezone.now() - timedelta(hours=1)).pk)")).strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as db:
        while True:
            (expires,) = db.execute("SELECT expires_at FROM restoration_worklease WHERE id = %s",
                                    (int(lease_id),)).fetchone()
            if expires is None:
                break
            assert time.monotonic() < deadline, (stack.log("beat")[-2000:], stack.log("worker")[-2000:])
            time.sleep(0.5)
    # The GPU worker came up on its queue and stays up.
    assert stack.processes["gpu-worker"].poll() is None, stack.log("gpu-worker")
    # Addressed to the two workers by name, the ping returns once both have answered; sent
    # to all, it waits out its whole timeout for whoever else might answer.
    workers = ",".join(host_format(name) for name in ("gpu@%h", "default@%h"))
    ping = subprocess.run(["celery", "-A", "config", "inspect", "ping", "--timeout", "10",
                           "--destination", workers], cwd=REPO,
                          env=stack.env, capture_output=True, text=True, timeout=60)
    assert re.search(r"gpu@\S+: OK", ping.stdout), ping.stdout + ping.stderr
    assert re.search(r"default@\S+: OK", ping.stdout), ping.stdout + ping.stderr
