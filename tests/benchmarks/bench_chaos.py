"""Chaos benchmark: renders while workers are killed with SIGKILL at random moments.

    .venv/bin/python tests/benchmarks/bench_chaos.py [--renders 8] [--kills 6] [--seed 1]
    (CHAOS_REDIS_URL: the Redis database to use, redis://127.0.0.1:6379/7 by default)

What it does: creates a database of its own on the PostgreSQL server at 127.0.0.1:5432
(trust auth), migrates it, starts a `gpu` worker (the Django-free gpu_worker app, one
process) and a `default` worker (the site's app) on Redis, and dispatches N variant
renders of a real clip (shared/media/old_film/muybridge_buffalo.mp4, 150 frames each).
While they run it SIGKILLs a random worker (main process and pool together) at random
moments, `--kills` times, and starts a fresh one at once, as a supervisor would;
this process runs the lease sweeper every second (leases of 4 s).

Then it reports: renders done, failed (with their reasons), stuck (not ended within
the time limit), duplicated outputs (more than one file in a render's output
folder), partial files published (an output that does not decode to its frame
count), and the time from the last kill to the last render ending.

Not part of the test run; tests/integration/test_crash_recovery.py checks one kill of
each kind.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = os.environ.get("CHAOS_REDIS_URL", "redis://127.0.0.1:6379/7")
SOURCE = REPO.parent / "shared" / "media" / "old_film" / "muybridge_buffalo.mp4"
# A unit whose worker died after taking its message but before starting it has only
# the queued lease to expire: a minute here (a day by default).
LEASE_ENV = {"WORK_LEASE_SECONDS": "4", "WORK_QUEUED_LEASE_SECONDS": "60"}


def setup_django(database: str, media: Path) -> None:
    import psycopg

    sys.path.insert(0, str(REPO))  # this checkout's code, whatever is installed

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"{PG}/{database}",
            "REDIS_URL": REDIS,
            "REDIS_CACHE_URL": REDIS,
            "MEDIA_ROOT": str(media),
            **LEASE_ENV,
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Worker:
    def __init__(self, queue: str, log_dir: Path) -> None:
        self.queue = queue
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.starts += 1
        app = "gpu_worker.worker.app" if self.queue == "gpu" else "config"
        log = open(self.log_dir / f"{self.queue}-{self.starts}.log", "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-Q",
                self.queue,
                "-n",
                f"{self.queue}{self.starts}@%h",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO,
            env=dict(os.environ, REEL_ARENA_PROCESS="worker", PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=8)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=400.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="reel-chaos-"))
    media = work / "media"
    media.mkdir()
    database = f"reel_chaos_{os.getpid()}"
    setup_django(database, media)
    workers: dict[str, Worker] = {}
    try:
        run(args, rng, work, media, workers)
    finally:
        for worker in workers.values():
            worker.kill()
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        shutil.rmtree(work, ignore_errors=True)


def run(
    args: argparse.Namespace,
    rng: random.Random,
    work: Path,
    media: Path,
    workers: dict[str, Worker],
) -> None:

    import av
    from django.core.files.base import File

    from config.celery import app
    from restoration import leases, sweeper
    from restoration.models import Clip, Film, RenderJob, WorkLease
    from restoration.rendering import jobs, sweeps, variants
    from restoration.services import presets
    from restoration.services.clips import probe_and_poster

    app.control.purge()
    workers.update(gpu=Worker("gpu", work), default=Worker("default", work))
    for worker in workers.values():
        worker.start()
    film = Film.objects.create(title="Chaos")
    clip = Clip(film=film, title="buffalo", original_filename=SOURCE.name)
    with open(SOURCE, "rb") as handle:
        clip.source.save("source.mp4", File(handle), save=True)
    clip = probe_and_poster(clip)
    spec = {
        "ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.8}}],
        "seed": 0,
        "encode": {"codec": "h264", "crf": 28, "preset": "ultrafast", "threads": 1},
    }
    version = presets.create_preset("Chaos", spec, user=None)
    axes = {"colour_scheme.amount": [round(0.1 + 0.1 * i, 2) for i in range(args.renders)]}
    rows = sweeps.create_sweep(
        clip,
        version,
        axes,
        start=0,
        end=args.frames,
        dispatch=False,
        cap=max(args.renders, sweeps.MAX_VARIANTS),
    )
    began = time.monotonic()
    job_ids = [variants.dispatch_variant(v).pk for v in rows[: args.renders]]
    kill_times = sorted(rng.uniform(2, 8 * args.renders) for _ in range(args.kills))
    kills: list[tuple[float, str]] = []
    last_kill = began
    while time.monotonic() - began < args.timeout:
        now = time.monotonic() - began
        if kill_times and now >= kill_times[0]:
            kill_times.pop(0)
            name = rng.choice(sorted(workers))
            workers[name].kill()
            workers[name].start()
            kills.append((round(now, 1), name))
            last_kill = time.monotonic()
        sweeper.sweep()
        open_jobs = RenderJob.objects.filter(pk__in=job_ids).exclude(status__in=jobs.TERMINAL)
        if not open_jobs.exists() and not kill_times:
            break
        time.sleep(1.0)
    ended = time.monotonic()

    done = failed = stuck = duplicated = partial = 0
    reasons = []
    for job in RenderJob.objects.filter(pk__in=job_ids):
        if job.status == RenderJob.Status.DONE:
            done += 1
            path = Path(job.output.path)
            siblings = [
                p for p in path.parent.iterdir() if p.name.startswith(f"job-{jobs.job_key(job)}")
            ]
            duplicated += len(siblings) > 1
            with av.open(str(path)) as container:
                partial += sum(1 for _ in container.decode(video=0)) != job.frames_total
        elif job.status == RenderJob.Status.FAILED:
            failed += 1
            reasons.append(job.error)
        else:
            stuck += 1
        lease = leases.get(WorkLease.Kind.VARIANT, job.pk)
        stuck += bool(job.status in jobs.TERMINAL and lease is not None and lease.expires_at)
    leftovers = [p for p in media.rglob("*.part*")]
    print(
        f"renders: {len(job_ids)} × {args.frames} frames; kills: {len(kills)} "
        f"({', '.join(f'{name}@{at}s' for at, name in kills)})"
    )
    print(
        f"done {done}, failed {failed}, stuck {stuck}, duplicated outputs {duplicated}, "
        f"partial outputs published {partial}, temporary files left {len(leftovers)}"
    )
    print(
        f"wall time {ended - began:.1f}s; last render ended {ended - last_kill:.1f}s after the last kill"
    )
    for reason in reasons:
        print(f"  failed: {reason}")


if __name__ == "__main__":
    main()
