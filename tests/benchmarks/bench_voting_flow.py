"""Server time the voting flow adds, per request, against a plain static file.

    .venv/bin/python tests/benchmarks/bench_voting_flow.py [--sizes 0,1000,10000]
        [--repeats 15] [--ballot-repeats 4] [--redis-db 0] [--cache-db 15]

For each back end (the embedded default: SQLite and in-process cache; PostgreSQL +
Redis: a fresh database on 127.0.0.1:5432 and Redis on 127.0.0.1:6379) it starts one
Python process of its own (Django is configured once per process), migrates a fresh
database, collects the static files, and seeds one contest of six real H.264 excerpts
(blind copies made, as in production) whose ballot count it brings to each size in
``--sizes`` (synthetic raters, ten ballots each, over 120 networks and 30 browsers,
cast over two hours). At each size it times, through Django's test client in that
process (so: the whole request through the middleware, no network, no ASGI server):

- ``static``: a GET of a static file served by WhiteNoise (the baseline);
- ``next``: a new fan's first ``api/next/`` (the pair selector runs, a pairing is made)
  on the vote table and posterior cached for the contest's current ballots, and
  ``next, vote table rebuilt``: the same without that cache, as for the first pair
  asked after a ballot;
- ``media first byte``: a blind media GET until its first chunk;
- ``heartbeat``: a heartbeat POST after both sides were fetched;
- ``ballot``: a ballot POST that recomputes the tally inline (cool-down 0: reliability,
  anomaly checks, the Bradley-Terry fit with its bootstrap, the decision rule), and
  ``ballot, no recompute``: the same while the cool-down holds the recompute back
  (the common case under load: at most one recompute per cool-down);
- ``anomaly checks`` and ``tally``: ``voting.tally.detect_anomalies`` (+ storing the
  exclusions) and the whole ``voting.tally.compute``, called directly.

Each figure is the median wall time in ms (one thread, so wall ≈ the server's time, but
it includes waiting for a CPU on a shared machine) and the median CPU ms of the process;
the ratio is the median wall time over the static file's, in the same process and run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
VARIANTS = 6
STATIC = "/static/frontend/syncplayer.js"


# --------------------------------------------------------------------------- inside one back end's process


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    return {"n": len(samples), "wall_ms": round(statistics.median(s[0] for s in samples), 2),
            "cpu_ms": round(statistics.median(s[1] for s in samples), 2)}


def seed_contest(folder: Path):
    from django.core.files.base import ContentFile

    from restoration.models import Clip, Film, Preset, PresetVersion, Variant
    from tests.media_factory import make_video
    from voting import services

    film = Film.objects.create(title="Flow benchmark film")
    clip = Clip.objects.create(film=film, title="Excerpt", source="clips/flow/source.mp4",
                               status=Clip.Status.READY, fps=24.0)
    made = []
    for n in range(VARIANTS):
        video = make_video(folder / f"v{n}.mp4", frames=48 + 8 * n, width=320, height=240)
        spec = {"ops": [{"op": "grain", "params": {"strength": n}}], "seed": 1}
        preset = Preset.objects.create(name=f"flow-{n}")
        version = PresetVersion.objects.create(preset=preset, number=1, spec=spec, spec_hash=f"{n:064d}")
        variant = Variant.objects.create(clip=clip, preset_version=version, spec=spec, spec_hash=f"{n:064d}",
                                         start_frame=0, end_frame=48, status=Variant.Status.DONE)
        variant.output.save(f"flow-{n}.mp4", ContentFile(video.read_bytes()), save=True)
        made.append(variant)
    return services.open_contest(clip=clip, variants=made, min_watch_seconds=0.0, golden_rate=0.0,
                                 min_raters=10**6, auto_decide=False)


def add_ballots(contest, count: int, rng: random.Random) -> None:
    """Bring the contest up by ``count`` ballots: raters of ten ballots each (distinct
    pairs), 120 networks, 30 user agents, cast over the last two hours at human gaps."""
    from datetime import timedelta
    from itertools import combinations

    from django.utils import timezone

    from voting.integrity import context_hash, network_of
    from voting.models import Ballot, Pairing, Rater

    if count <= 0:
        return
    entries = list(contest.entries.order_by("pk"))
    pairs = list(combinations(entries, 2))
    now = timezone.now()
    uas = [context_hash(f"Mozilla/5.0 browser {k}") for k in range(30)]
    made = 0
    while made < count:
        batch = min(count - made, 2000)
        raters = Rater.objects.bulk_create([Rater(pow_solved_at=now, pow_bits=12)
                                            for _ in range(-(-batch // 10))])
        pairings, ballots = [], []
        for rater in raters:
            ip = f"10.{rng.randrange(120)}.{rng.randrange(4)}.{rng.randrange(1, 250)}"
            ua = rng.choice(uas)
            start = now - timedelta(seconds=rng.uniform(600, 7200))
            for k, (a, b) in enumerate(rng.sample(pairs, 10)):
                if len(pairings) >= batch:
                    break
                left, right = (a, b) if rng.random() < 0.5 else (b, a)
                cast = start + timedelta(seconds=40 * k + rng.uniform(5, 30))
                pairing = Pairing(contest=contest, rater=rater, left=left, right=right, answered=True,
                                  watched_left_seconds=8.0, watched_right_seconds=8.0, heartbeats=9)
                pairings.append(pairing)
                better = min(a.label, b.label) if rng.random() < 0.6 else max(a.label, b.label)
                choice = "same" if rng.random() < 0.1 else ("left" if left.label == better else "right")
                ballots.append(Ballot(contest=contest, rater=rater, left=left, right=right,
                                      entry_low_id=min(a.pk, b.pk), entry_high_id=max(a.pk, b.pk), choice=choice,
                                      watched_left_seconds=8.0, watched_right_seconds=8.0, heartbeats=9,
                                      served_at=cast - timedelta(seconds=12), ip_hash=context_hash(ip),
                                      net_hash=context_hash(network_of(ip)), ua_hash=ua))
                ballots[-1]._cast = cast
        Pairing.objects.bulk_create(pairings, batch_size=1000)
        for ballot, pairing in zip(ballots, pairings, strict=True):
            ballot.pairing = pairing
        Ballot.objects.bulk_create(ballots, batch_size=1000)
        for ballot in ballots:  # cast_at is auto_now_add: spread it over the two hours afterwards
            ballot.cast_at = ballot._cast
        Ballot.objects.bulk_update(ballots, ["cast_at"], batch_size=500)
        made += len(ballots)


class Fan:
    def __init__(self, contest, n: int) -> None:
        from django.test import Client

        from voting.integrity import solve

        self.client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR=f"10.200.{n // 250}.{n % 250 + 1}",
                             HTTP_USER_AGENT=f"bench-fan {n % 7}")
        self.base = f"/vote/c/{contest.slug}/"
        self.client.get(self.base)
        challenge = self.client.get(self.base + "api/pow/").json()
        if not challenge.get("solved"):
            self.client.post(self.base + "api/pow/", json.dumps(
                {"challenge": challenge["challenge"], "nonce": solve(challenge["challenge"], challenge["bits"])}),
                content_type="application/json")
        self.pair: dict = {}

    def post(self, path: str, body: dict):
        # The test client skips CSRF checks (the browser's token costs nothing measurable).
        return self.client.post(self.base + path, json.dumps(body), content_type="application/json")


def measure(contest, repeats: int, ballot_repeats: int, fan_counter: list[int]) -> dict[str, dict]:
    from django.test import Client, override_settings

    from voting import services, tally

    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in (
        "static", "next", "next, vote table rebuilt", "media first byte", "heartbeat", "ballot", "ballot, no recompute",
        "anomaly checks", "tally")}
    static_client = Client(HTTP_HOST="127.0.0.1")
    static_client.get(STATIC)  # warm

    def static() -> None:
        response = static_client.get(STATIC)
        assert response.status_code == 200, response.status_code
        b"".join(response.streaming_content) if response.streaming else response.content

    fans = []
    for _ in range(repeats + 2 * ballot_repeats):
        fan_counter[0] += 1
        fans.append(Fan(contest, fan_counter[0]))
    for _ in range(3):  # warm-up, not timed: first queries of a size, the OS file cache
        fan_counter[0] += 1
        warm = Fan(contest, fan_counter[0])
        pair = warm.client.get(warm.base + "api/next/").json()
        for side in ("left", "right"):
            b"".join(warm.client.get(pair[side]["src"]).streaming_content)
        warm.post("api/heartbeat/", {"pairing": pair["pairing"], "visible": "both", "playing": True})
    for k, fan in enumerate(fans):
        samples["static"].append(_timed(static))

        def next_pair(fan=fan) -> None:
            response = fan.client.get(fan.base + "api/next/")
            assert response.status_code == 200, response.content[:200]
            fan.pair = response.json()

        rebuilt = repeats <= k < repeats + ballot_repeats
        if rebuilt:  # as for the first pair asked after a ballot: no cached table
            services._table_cache.pop(contest.pk, None)
        timing = _timed(next_pair)
        if rebuilt:
            samples["next, vote table rebuilt"].append(timing)
        media = []
        for side in ("left", "right"):
            def first_byte(fan=fan, side=side) -> None:
                response = fan.client.get(fan.pair[side]["src"], HTTP_RANGE="bytes=0-")
                assert response.status_code == 206, response.status_code
                next(iter(response.streaming_content))
                response.close()

            media.append(_timed(first_byte))
        beat = _timed(lambda fan=fan: fan.post("api/heartbeat/", {"pairing": fan.pair["pairing"],
                                                                 "visible": "both", "playing": True,
                                                                 "position": 0.0}))
        if k < repeats:
            samples["next"].append(timing)
            samples["media first byte"].extend(media)
            samples["heartbeat"].append(beat)

    def vote(fan) -> None:
        response = fan.post("api/ballot/", {"pairing": fan.pair["pairing"], "choice": "left"})
        assert response.status_code == 200, response.content[:300]

    voters = fans[repeats:]
    with override_settings(VOTING_RATINGS_COOLDOWN=0):
        for fan in voters[:ballot_repeats]:
            samples["ballot"].append(_timed(lambda fan=fan: vote(fan)))
    with override_settings(VOTING_RATINGS_COOLDOWN=3600):
        from django.core.cache import cache

        cache.set(tally._cooldown_key(contest.pk), 1, timeout=3600)  # a recompute just ran
        for fan in voters[ballot_repeats:]:
            samples["ballot, no recompute"].append(_timed(lambda fan=fan: vote(fan)))
        cache.delete(tally._cooldown_key(contest.pk))
    for _ in range(ballot_repeats):
        samples["anomaly checks"].append(_timed(
            lambda: tally.store_exclusions(contest, tally.detect_anomalies(contest))))
        samples["tally"].append(_timed(lambda: tally.compute(contest)))
    return {k: _summary(v) for k, v in samples.items() if v}


def worker(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    cache.clear()
    rng = random.Random(20261207)
    out: dict = {"backend": args.worker, "database": connection.vendor,
                 "cache": type(cache).__name__, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        contest = seed_contest(Path(tmp))
        counter = [0]
        have = 0
        for size in sorted(args.sizes):
            from voting.models import Ballot

            add_ballots(contest, size - have, rng)
            have = Ballot.objects.filter(contest=contest).count()
            t0 = time.perf_counter()
            out["sizes"][str(size)] = {"ballots_at_start": have,
                                       "figures": measure(contest, args.repeats, args.ballot_repeats, counter)}
            out["sizes"][str(size)]["seconds"] = round(time.perf_counter() - t0, 1)
            have = Ballot.objects.filter(contest=contest).count()
            print(f"[{args.worker}] {size}: done in {out['sizes'][str(size)]['seconds']} s", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- the command


def run_backend(name: str, args: argparse.Namespace, var_dir: Path, database_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL", "MEDIA_ROOT", "STORAGE_BACKEND"}}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "REEL_ARENA_VAR_DIR": str(var_dir), "DEBUG": "0",
                "REEL_ARENA_PROCESS": "web", "VOTING_POW_BITS": "4", "VOTING_BALLOTS_PER_IP": "1000000",
                "VOTING_BOOTSTRAP": str(args.bootstrap), "PYTHONUNBUFFERED": "1"})
    if database_url:
        env.update({"DATABASE_URL": database_url, "REDIS_URL": f"{REDIS}/{args.redis_db}",
                    "REDIS_CACHE_URL": f"{REDIS}/{args.cache_db}"})
    command = [sys.executable, __file__, "--worker", name, "--sizes", ",".join(map(str, args.sizes)),
               "--repeats", str(args.repeats), "--ballot-repeats", str(args.ballot_repeats)]
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: list[dict]) -> str:
    kinds = ["static", "next", "next, vote table rebuilt", "media first byte", "heartbeat", "ballot, no recompute", "ballot",
             "anomaly checks", "tally"]
    lines = []
    for result in results:
        sizes = list(result["sizes"])
        lines.append(f"\n{result['backend']} ({result['database']}, {result['cache']}): median wall ms "
                     "(CPU ms) [× static]\n")
        lines.append("| request | " + " | ".join(f"{s} ballots" for s in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for kind in kinds:
            cells = []
            for s in sizes:
                figures = result["sizes"][s]["figures"]
                f, base = figures.get(kind), figures["static"]["wall_ms"]
                cells.append("–" if f is None else f"{f['wall_ms']:g} ({f['cpu_ms']:g}) [×{f['wall_ms'] / base:.0f}]")
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1000,10000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--ballot-repeats", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=200, help="VOTING_BOOTSTRAP (the site's default: 200)")
    parser.add_argument("--redis-db", type=int, default=0)
    parser.add_argument("--cache-db", type=int, default=15)
    parser.add_argument("--backends", default="embedded,postgres")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    results = []
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"flow-{name}-") as var_dir:
            if name == "embedded":
                results.append(run_backend(name, args, Path(var_dir), None))
                continue
            import psycopg

            database = f"bench_flow_{os.getpid()}"
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            try:
                results.append(run_backend(name, args, Path(var_dir), f"{PG}/{database}"))
            finally:
                with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
