"""Crash recovery with real processes and real signals: nothing stuck, nothing lost.

A GPU worker (the Django-free gpu_worker.worker.app, one process like one GPU) is
killed outright with SIGKILL in the middle of a render, main process and pool
together, as a machine losing power or the OOM killer would. Redis keeps the message
unacknowledged for hours (the visibility timeout), and kombu's filesystem broker
drops it: recovery must come from the lease sweeper, not the broker. A fresh worker
is started, the sweeper runs (the lease is a few seconds long here), and the render
ends done, recorded once, with no partial file ever published; a render whose every
attempt dies ends failed with a reason.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import av
import pytest
from django.core.files.storage import default_storage

from restoration import leases, sweeper
from restoration.models import RenderJob, Variant, WorkLease
from restoration.rendering import jobs, sweeps, variants
from restoration.services import presets
from tests.conftest import media_file
from tests.integration.conftest import require_real_services, start_worker, wait_for
from tests.restoration.clip_helpers import FAST_ENCODE, ready_clip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SPEC = {
    "ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.8}}],
    "seed": 0,
    "encode": FAST_ENCODE,
}
LEASE_SECONDS = 4
# The default worker records progress and renews leases with the test's lease length.
LEASE_ENV = {"WORK_LEASE_SECONDS": str(LEASE_SECONDS), "WORK_QUEUED_LEASE_SECONDS": "60"}


@pytest.fixture(scope="module")
def default_worker(django_db_setup, shared_media_root, tmp_path_factory):
    require_real_services()
    worker = start_worker(
        shared_media_root,
        tmp_path_factory.mktemp("default-logs"),
        queues="default",
        name="default",
        extra_env=LEASE_ENV,
    )
    yield worker
    worker.kill(signal.SIGKILL)


@pytest.fixture
def short_leases(integration_settings):
    integration_settings.WORK_LEASE_SECONDS = LEASE_SECONDS
    integration_settings.WORK_QUEUED_LEASE_SECONDS = 60
    return integration_settings


def gpu_worker(shared_media_root, log_dir: Path, name: str):
    return start_worker(
        shared_media_root,
        log_dir,
        queues="gpu",
        name=name,
        celery_app="gpu_worker.worker.app",
        extra_env=LEASE_ENV,
    )


@pytest.fixture
def spawn_gpu_worker(shared_media_root, tmp_path):
    """Start GPU workers for one test; every one still running is killed at its end,
    whatever happens in between (a worker left behind would take the next test's jobs
    from the shared queue)."""
    started = []

    def spawn(name: str):
        worker = gpu_worker(shared_media_root, tmp_path, name)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill(signal.SIGKILL)


def decoded_frames(name: str) -> int:
    with av.open(default_storage.path(name)) as container:
        return sum(1 for _ in container.decode(video=0))


def start_render(frames: int, max_attempts: int = 3) -> RenderJob:
    clip = ready_clip(media_file("old_film/muybridge_buffalo.mp4"))
    version = presets.create_preset(f"Crash {time.monotonic_ns()}", SPEC, user=None)
    variant = sweeps.create_sweep(clip, version, {}, start=0, end=frames, dispatch=False)[0]
    job = variants.dispatch_variant(variant)  # autocommit: sent at once
    RenderJob.objects.filter(pk=job.pk).update(max_attempts=max_attempts)
    WorkLease.objects.filter(kind=WorkLease.Kind.VARIANT, object_id=job.pk).update(
        max_attempts=max_attempts
    )
    return job


def kill_mid_render(job: RenderJob, worker, logs) -> None:
    """SIGKILL the whole GPU worker once its render has reported progress."""
    wait_for(
        lambda: RenderJob.objects.filter(pk=job.pk, frames_done__gt=0).exists(),
        timeout=120,
        interval=0.1,
        what="the render to start",
        log=logs,
    )
    job.refresh_from_db()
    assert job.frames_done < job.frames_total, "the render finished before it could be killed"
    worker.kill(signal.SIGKILL)


def sweep_until_ended(job: RenderJob, output: Path, *, timeout: float) -> tuple[bool, int]:
    """Run the sweeper every half second until the job ends; returns whether a file
    was ever published at the output before it was whole, and the sweeps run."""
    seen_partial, sweeps_run = False, 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweeper.sweep()
        sweeps_run += 1
        job.refresh_from_db()
        if output.exists() and job.status != RenderJob.Status.DONE:
            seen_partial = seen_partial or decoded_frames(job.output.name) != job.frames_total
        if job.status in jobs.TERMINAL:
            break
        time.sleep(0.5)
    return seen_partial, sweeps_run


def test_a_render_killed_with_its_worker_is_recovered_by_the_sweeper(
    default_worker, short_leases, shared_media_root, spawn_gpu_worker
):
    first = spawn_gpu_worker("gpu-1")
    job = start_render(frames=100)
    output = Path(default_storage.path(job.output.name))
    logs = lambda: f"{first.log()[-4000:]}\n--- default ---\n{default_worker.log()[-4000:]}"  # noqa: E731
    kill_mid_render(job, first, logs)
    killed_at = time.monotonic()
    assert not output.exists()  # nothing published by the killed attempt
    token = leases.get(WorkLease.Kind.VARIANT, job.pk).token

    fresh = spawn_gpu_worker("gpu-2")
    try:
        seen_partial, sweeps_run = sweep_until_ended(job, output, timeout=120)
        recovered_in = time.monotonic() - killed_at
        job.refresh_from_db()
        assert job.status == RenderJob.Status.DONE, (
            f"{job.status}: {job.error}\n{fresh.log()[-4000:]}\n{default_worker.log()[-4000:]}"
        )
    finally:
        fresh.kill(signal.SIGKILL)
    lease = leases.get(WorkLease.Kind.VARIANT, job.pk)
    assert lease.attempt == 2 and lease.token != token and lease.expires_at is None
    assert (
        job.result["lease"] == lease.token and job.result["attempt"] == 2
    )  # one result: the new one
    assert Variant.objects.get(pk=job.variant_id).status == Variant.Status.DONE
    assert not seen_partial
    assert decoded_frames(job.output.name) == 100
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no .part, no copy
    print(
        f"\nrecovered {recovered_in:.1f}s after SIGKILL ({sweeps_run} sweeps, lease {LEASE_SECONDS}s)"
    )


def test_a_render_that_dies_on_every_attempt_fails_with_a_reason(
    default_worker, short_leases, shared_media_root, spawn_gpu_worker
):
    worker = spawn_gpu_worker("gpu-3")
    job = start_render(frames=100, max_attempts=1)
    output = Path(default_storage.path(job.output.name))
    kill_mid_render(job, worker, lambda: worker.log()[-4000:])
    # No worker comes back: the lease runs out, and its one attempt is spent.
    sweep_until_ended(job, output, timeout=60)
    job.refresh_from_db()
    variant = Variant.objects.get(pk=job.variant_id)
    assert job.status == RenderJob.Status.FAILED
    assert "gave up after 1 attempt: the variant render stopped reporting" in job.error
    assert variant.status == Variant.Status.FAILED and variant.error == job.error
    assert leases.get(WorkLease.Kind.VARIANT, job.pk).expires_at is None
    assert not output.exists()


def test_a_film_segment_killed_with_its_worker_is_recovered_and_assembled_once(
    default_worker, short_leases, shared_media_root, spawn_gpu_worker
):
    from restoration.models import RenderSegment
    from restoration.rendering import film as film_render
    from restoration.rendering.assembly import film_output_name
    from tests.factories import FilmFactory

    first = spawn_gpu_worker("gpu-4")
    film = FilmFactory(title="Crash film")
    ready_clip(media_file("old_film/muybridge_buffalo.mp4"), film=film, title="buffalo")
    version = presets.create_preset("Crash film look", SPEC, user=None)
    job = film_render.start_film_render(film, version)  # autocommit: planned by the worker
    wait_for(
        lambda: RenderSegment.objects.filter(job=job, frames_done__gt=0).exists(),
        timeout=120,
        interval=0.1,
        what="a segment to start",
        log=lambda: default_worker.log()[-4000:],
    )
    first.kill(signal.SIGKILL)
    fresh = spawn_gpu_worker("gpu-5")
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            sweeper.sweep()
            job.refresh_from_db()
            if job.status in jobs.TERMINAL:
                break
            time.sleep(0.5)
    finally:
        fresh.kill(signal.SIGKILL)
    assert job.status == RenderJob.Status.DONE, f"{job.status}: {job.error}"
    attempts = [
        leases.get(WorkLease.Kind.SEGMENT, s.pk).attempt for s in job.segments.order_by("index")
    ]
    assert 2 in attempts  # the killed segment was sent again
    assert job.output.name == film_output_name(job)
    frames = decoded_frames(job.output.name)
    assert frames == job.frames_total
    folder = Path(default_storage.path(job.output.name)).parent
    # One film, assembled once (its poster, made after assembly, sits beside it).
    films = [p.name for p in folder.iterdir()
             if p.name.startswith("film-") and not p.name.endswith(".poster.jpg")]
    assert films == [Path(job.output.name).name]
    assert leases.get(WorkLease.Kind.ASSEMBLY, job.pk).expires_at is None
