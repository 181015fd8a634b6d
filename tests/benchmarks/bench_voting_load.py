"""Load test of public voting against a real server process, PostgreSQL and Redis.

    .venv/bin/python tests/benchmarks/bench_voting_load.py [--voters 200] [--ballots 5]
        [--write docs/benchmarks-voting.md]

What it does: creates a database of its own on the PostgreSQL server at 127.0.0.1:5432
(trust auth), migrates it, seeds a contest of six variants, starts daphne (HTTP and
websockets, the production ASGI server of this project) on a free loopback port with
Redis as cache and channel layer, then lets N concurrent fans (threads with their own
HTTP session each) do what a browser does: load the page (cookies, CSRF), solve the
proof of work, and for each ballot fetch the next pair, send heartbeats a second apart
until the minimum watch time has passed, and vote. Every fan also double-submits one
ballot, and sends two copies of another at the same moment, the way a double tap or
a second tab would.

It then checks in the database that every accepted ballot is stored exactly once, that
every duplicate was refused, and that the counts match; and reports p50/p99 latencies
per request kind and accepted ballots per second.

Not part of the test run (it takes about a minute); tests/voting/test_load.py runs a
small version of it as an integration test.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def server_env(database_url: str, redis_db: int, extra: dict[str, str] | None = None,
               ) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    if settings.configured:
        # The server serves the stub renders seed_contest stored: the same media folder
        # (under pytest, each test has its own).
        env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url,
        "REDIS_URL": f"{REDIS}/0", "REDIS_CACHE_URL": f"{REDIS}/{redis_db}", "DEBUG": "1",
        "REEL_ARENA_PROCESS": "web", "PYTHONUNBUFFERED": "1",
        # All fans share 127.0.0.1 here: lift the per-IP limit (the per-session one stays).
        "VOTING_BALLOTS_PER_IP": "1000000", "VOTING_POW_BITS": "12",
    })
    env.update(extra or {})
    return env


def start_server(env: dict[str, str], log_path: Path, timeout: float = 60.0, pool: bool = True) -> Server:
    port = free_port()
    app = "tests.benchmarks.bench_asgi:application" if pool else "config.asgi:application"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/accounts/login/", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"daphne did not start:\n{log_path.read_text()}")


# --------------------------------------------------------------------------- the fans


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    accepted: list[int] = field(default_factory=list)  # ballot ids answered 200
    duplicates_refused: int = 0
    duplicates_accepted: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1


def fan(base: str, slug: str, ballots: int, results: Results, start: threading.Barrier) -> None:
    import requests

    from voting.integrity import solve

    session = requests.Session()
    root = f"{base}/vote/c/{slug}/"

    def call(kind: str, method: str, path: str, body: dict | None = None) -> requests.Response:
        headers = {"X-CSRFToken": session.cookies.get("csrftoken", "")} if method == "POST" else {}
        t0 = time.perf_counter()
        response = session.request(method, root + path, json=body, headers=headers, timeout=60)
        results.record(kind, time.perf_counter() - t0, response.status_code)
        return response

    try:
        start.wait()
        call("page", "GET", "")
        challenge = call("pow", "GET", "api/pow/").json()
        if not challenge.get("solved"):
            nonce = solve(challenge["challenge"], challenge["bits"])
            call("pow", "POST", "api/pow/", {"challenge": challenge["challenge"], "nonce": nonce})
        for k in range(ballots):
            pair = call("next", "GET", "api/next/").json()
            if pair.get("done"):
                break
            pid = pair["pairing"]
            # The players fetch both sides (blind URLs; watch time counts only after both
            # were served) and report their position with each heartbeat.
            for side in ("left", "right"):
                t0 = time.perf_counter()
                media = session.get(base + pair[side]["src"], headers={"Range": "bytes=0-65535"}, timeout=60)
                results.record("media", time.perf_counter() - t0, media.status_code)
            status = {}
            watching = time.monotonic()
            for _ in range(30):
                status = call("heartbeat", "POST", "api/heartbeat/",
                              {"pairing": pid, "visible": "both", "playing": True,
                               "position": time.monotonic() - watching}).json()
                if status.get("ready"):
                    break
                time.sleep(1.0)
            choice = ("left", "right", "same")[(pid + k) % 3]
            if k == 1:
                # Two tabs (or a double tap) sending the same ballot at the same moment.
                with ThreadPoolExecutor(2) as pool:
                    answers_ = list(pool.map(lambda _, pid=pid, choice=choice: call(
                        "ballot", "POST", "api/ballot/", {"pairing": pid, "choice": choice}), range(2)))
            else:
                answers_ = [call("ballot", "POST", "api/ballot/", {"pairing": pid, "choice": choice})]
                if k == 0:  # the double submit after the answer came back
                    answers_.append(call("ballot", "POST", "api/ballot/", {"pairing": pid, "choice": choice}))
            ok = [a for a in answers_ if a.status_code == 200]
            with results.lock:
                results.accepted.extend(a.json()["ballot"] for a in ok)
                for a in answers_:
                    if a.status_code == 409 and a.json().get("code") == "duplicate_ballot":
                        results.duplicates_refused += 1
                results.duplicates_accepted += max(0, len(ok) - 1)
                if not ok:
                    results.errors.append(f"ballot on pairing {pid} not accepted: "
                                          f"{[(a.status_code, a.text[:200]) for a in answers_]}")
    except Exception as err:  # a failed fan is a finding, not a crash of the benchmark
        with results.lock:
            results.errors.append(f"{type(err).__name__}: {err}")


def run_fans(base: str, slug: str, voters: int, ballots: int) -> tuple[Results, float]:
    results = Results()
    barrier = threading.Barrier(voters)
    threads = [threading.Thread(target=fan, args=(base, slug, ballots, results, barrier), daemon=True)
               for _ in range(voters)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results, time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report the server's cost per
    request independently of how busy the machine is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- seeding and checks (Django)


def seed_contest(min_watch: float = 1.0, variants: int = 6) -> tuple[int, str]:
    """A clip with finished variants (stub MP4 outputs: fans fetch them through the blind
    media URLs, which is what credits their watch time, but never decode them)."""
    import hashlib
    import random

    from django.core.files.base import ContentFile

    from restoration.models import Clip, Film, Preset, PresetVersion, Variant
    from tests.factories import STUB_MP4
    from voting import services

    film = Film.objects.create(title="Load test film")
    clip = Clip.objects.create(film=film, title="Excerpt", source="clips/load/source.mp4",
                               status=Clip.Status.READY, fps=24.0)
    made = []
    for n in range(variants):
        spec = {"ops": [{"op": "grain", "params": {"strength": n}}], "seed": 1}
        digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
        preset = Preset.objects.create(name=f"load-{n}-{digest[:8]}-{random.random():.6f}")
        version = PresetVersion.objects.create(preset=preset, number=1, spec=spec, spec_hash=digest)
        variant = Variant.objects.create(clip=clip, preset_version=version, spec=spec, spec_hash=digest,
                                         start_frame=0, end_frame=48, status=Variant.Status.DONE)
        variant.output.save(f"load-{n}.mp4", ContentFile(STUB_MP4), save=True)
        made.append(variant)
    contest = services.open_contest(clip=clip, variants=made, min_watch_seconds=min_watch, golden_rate=0.1,
                                    min_raters=10_000)  # never decided mid-run: keep it open
    return contest.pk, contest.slug


@dataclass
class Check:
    stored: int
    accepted: int
    distinct_accepted: int
    stored_ids_match: bool
    pairs_unique: bool
    pairings_answered_once: bool


def check_database(contest_id: int, results: Results) -> Check:
    from django.db.models import Count

    from voting.models import Ballot, Pairing

    stored_ids = set(Ballot.objects.filter(contest_id=contest_id).values_list("id", flat=True))
    per_pair = (Ballot.objects.filter(contest_id=contest_id).values("rater", "entry_low", "entry_high")
                .annotate(n=Count("id")).filter(n__gt=1).count())
    answered = Pairing.objects.filter(contest_id=contest_id, answered=True).count()
    return Check(stored=len(stored_ids), accepted=len(results.accepted),
                 distinct_accepted=len(set(results.accepted)), stored_ids_match=stored_ids == set(results.accepted),
                 pairs_unique=per_pair == 0, pairings_answered_once=answered == len(stored_ids))


def in_process_cpu(slug: str, repeats: int = 40) -> dict[str, float]:
    """CPU ms per request of the same endpoints through Django's test client in this
    process: the cost of Django and the voting code without the ASGI server."""
    from django.test import Client

    from voting.integrity import solve

    client = Client(HTTP_HOST="127.0.0.1")
    base = f"/vote/c/{slug}/"
    client.get(base)
    challenge = client.get(base + "api/pow/").json()
    client.post(base + "api/pow/", json.dumps({"challenge": challenge["challenge"],
                                               "nonce": solve(challenge["challenge"], challenge["bits"])}),
                content_type="application/json")
    pairing = client.get(base + "api/next/").json()["pairing"]
    calls = {
        "page": lambda: client.get(base),
        "next (pair already served)": lambda: client.get(base + "api/next/"),
        "heartbeat": lambda: client.post(base + "api/heartbeat/", json.dumps(
            {"pairing": pairing, "visible": "both", "playing": True}), content_type="application/json"),
        "tally": lambda: client.get(base + "api/tally/"),
    }
    out = {}
    for name, call in calls.items():
        call()
        t0 = time.process_time()
        for _ in range(repeats):
            call()
        out[name] = round(1000 * (time.process_time() - t0) / repeats, 2)
    return out


def summary(results: Results, wall: float, check: Check, voters: int, ballots: int,
            load: tuple[float, float] | None = None, server_cpu: float | None = None) -> dict:
    all_latencies = [x for values in results.latencies.values() for x in values]
    n_requests = len(all_latencies)
    ballot_ok = results.latencies["ballot"]
    return {
        "voters": voters, "ballots_per_voter": ballots, "wall_seconds": round(wall, 2),
        "accepted_ballots": check.accepted, "stored_ballots": check.stored,
        "ballots_per_second": round(check.accepted / wall, 1) if wall else None,
        "requests": len(all_latencies), "requests_per_second": round(len(all_latencies) / wall, 1),
        "duplicates_refused": results.duplicates_refused, "duplicates_accepted": results.duplicates_accepted,
        "latency_ms": {kind: {"n": len(v), "p50": round(1000 * percentile(v, 0.5), 1),
                              "p99": round(1000 * percentile(v, 0.99), 1),
                              "max": round(1000 * max(v), 1) if v else None}
                       for kind, v in sorted(results.latencies.items())},
        "ballot_latency_ms": {"p50": round(1000 * percentile(ballot_ok, 0.5), 1),
                              "p99": round(1000 * percentile(ballot_ok, 0.99), 1)},
        "statuses": {kind: dict(v) for kind, v in results.statuses.items()},
        "errors": results.errors[:10], "n_errors": len(results.errors),
        "check": check.__dict__,
        "load_average_before_after": load,
        "server_cpu_seconds": round(server_cpu, 2) if server_cpu is not None else None,
        "server_cpu_ms_per_request": round(1000 * server_cpu / n_requests, 2) if server_cpu and n_requests else None,
        "server_cpu_ms_per_ballot_cycle": (round(1000 * server_cpu / check.accepted, 1)
                                           if server_cpu and check.accepted else None),
    }


# --------------------------------------------------------------------------- the command


def _setup_django(database_url: str, redis_db: int) -> None:
    for key, value in server_env(database_url, redis_db).items():
        if key in {"DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}:
            os.environ[key] = value
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


#: Kept in the report: what the same load did before the pool (first run, 2026-11-23).
NO_POOL_NOTE = """
## Without a connection pool

`--no-pool` serves `config.asgi` with the project's settings unchanged (`CONN_MAX_AGE=60`, one
PostgreSQL connection per request thread). The first run of this benchmark did that, and with 200
fans arriving at once PostgreSQL (max_connections 100) refused connections: HTTP 500 on 61 of 200
page loads, 120 of 304 proof-of-work calls, 53 of 224 pair requests, 36 of 284 heartbeats and 31
ballot posts ("sorry, too many clients already"). Integrity still held in that run (93 ballots
accepted, 93 stored, no duplicate), but fans were turned away. Serving with Django's psycopg pool
(`OPTIONS["pool"]`, `CONN_MAX_AGE=0`, `tests/benchmarks/bench_asgi.py`) removed every error.
"""


def write_markdown(path: Path, figures: dict, machine: str) -> None:
    lat = figures["latency_ms"]
    rows = "\n".join(f"| {kind} | {v['n']} | {v['p50']} | {v['p99']} | {v['max']} |" for kind, v in lat.items())
    check = figures["check"]
    path.write_text(f"""# Voting load test

`tests/benchmarks/bench_voting_load.py` (run with `.venv/bin/python tests/benchmarks/bench_voting_load.py
--voters {figures['voters']} --ballots {figures['ballots_per_voter']} --write {path.as_posix()}`).

Set-up: one daphne process (HTTP + websockets, `config.asgi`) on loopback, PostgreSQL 127.0.0.1:5432
(a fresh database), Redis 127.0.0.1:6379 as cache (rate-limit counters, cached ratings) and channel
layer (live tallies). {figures['voters']} concurrent fans, one thread and HTTP session each, on the
same machine as the server ({machine}). Each fan loads the page, solves the proof of work (12 bits
here), then per ballot: next pair, heartbeats one second apart until the server says both sides
were watched for the minimum time (1 s here), vote. Every fan also re-submits its first ballot
after the answer and sends its second ballot twice at the same moment.

## Result

- accepted ballots: **{figures['accepted_ballots']}**, stored: **{figures['stored_ballots']}**;
  the stored ids are exactly the accepted ids: **{check['stored_ids_match']}**; one ballot per
  rater per pair: **{check['pairs_unique']}**; every answered pairing has one ballot:
  **{check['pairings_answered_once']}**
- duplicates refused with 409: **{figures['duplicates_refused']}**, duplicates accepted:
  **{figures['duplicates_accepted']}**
- throughput: **{figures['ballots_per_second']} ballots/s**, {figures['requests_per_second']} requests/s
  over {figures['wall_seconds']} s wall time (the minimum watch time and the one-second heartbeat
  cadence bound ballots/s per fan; the figure is what {figures['voters']} fans voting as fast as the
  rules allow produce)
- ballot POST latency: **p50 {figures['ballot_latency_ms']['p50']} ms, p99 {figures['ballot_latency_ms']['p99']} ms**
  (includes the single-flight ratings recompute for the request that wins the lock)
- failed fans / unexpected answers: {figures['n_errors']}
- server CPU: **{figures['server_cpu_ms_per_request']} ms per request**, {figures['server_cpu_ms_per_ballot_cycle']} ms per
  accepted ballot including its page share, proof of work, next pair and heartbeats
  ({figures['server_cpu_seconds']} CPU-s in all); unlike the latencies this hardly depends on how busy the
  machine is (contention inflates it a little: cache misses, context switches)
- machine load (1-minute load average before / after the run): {figures['load_average_before_after']}
  on {machine}; the fans' threads run on the same cores as the server and other jobs shared
  the machine, so the latencies above are mostly queueing for a CPU: at the CPU cost per request
  above, one core serves about {round(1000 / figures['server_cpu_ms_per_request']) if figures['server_cpu_ms_per_request'] else '?'} requests/s
- the same endpoints through Django's test client in one process (no ASGI server), CPU ms per
  request: `{json.dumps(figures.get('in_process_cpu_ms'))}`; the difference to the figure above is
  daphne's share (HTTP parsing, a thread per synchronous request under ASGI) plus the pair
  selection for new pairs and the ratings recomputes

| request | n | p50 ms | p99 ms | max ms |
|---|---|---|---|---|
{rows}

HTTP statuses: `{json.dumps(figures['statuses'])}`
""" + NO_POOL_NOTE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--ballots", type=int, default=5)
    parser.add_argument("--min-watch", type=float, default=1.0)
    parser.add_argument("--redis-db", type=int, default=3, help="Redis database for the cache")
    parser.add_argument("--write", type=Path, help="write the figures as Markdown here")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-pool", action="store_true",
                        help="plain project settings: one PostgreSQL connection per request thread")
    args = parser.parse_args(argv)
    if not (answers("127.0.0.1", 5432) and answers("127.0.0.1", 6379)):
        print("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379", file=sys.stderr)
        return 2

    import psycopg

    name = f"bench_voting_{os.getpid()}"
    with psycopg.connect(f"{PG}/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{PG}/{name}"
    env = server_env(database_url, args.redis_db)
    log_dir = REPO / "bench-results"
    log_dir.mkdir(exist_ok=True)
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env,
                       check=True)
        _setup_django(database_url, args.redis_db)
        from django.core.cache import cache

        cache.clear()  # only the benchmark's own Redis database
        contest_id, slug = seed_contest(args.min_watch)
        server = start_server(env, log_dir / "bench_voting_server.log", pool=not args.no_pool)
        print(f"server {server.url}, contest {contest_id}; {args.voters} fans x {args.ballots} ballots ...")
        load_before, cpu_before = os.getloadavg()[0], cpu_seconds(server.process.pid)
        results, wall = run_fans(server.url, slug, args.voters, args.ballots)
        load_after, cpu_used = os.getloadavg()[0], cpu_seconds(server.process.pid) - cpu_before
        check = check_database(contest_id, results)
        figures = summary(results, wall, check, args.voters, args.ballots, (round(load_before, 1), round(load_after, 1)), cpu_used)
        figures["in_process_cpu_ms"] = in_process_cpu(slug)
        print(json.dumps(figures, indent=2))
        (log_dir / "bench_voting_load.json").write_text(json.dumps(figures, indent=2))
        if args.write:
            machine = f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}"
            write_markdown(args.write, figures, machine)
        ok = (check.stored == check.accepted == check.distinct_accepted and check.stored_ids_match
              and check.pairs_unique and figures["duplicates_accepted"] == 0 and not results.errors)
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never got set up (e.g. the migration failed)
            pass
        if not args.keep_db:
            with psycopg.connect(f"{PG}/test", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
