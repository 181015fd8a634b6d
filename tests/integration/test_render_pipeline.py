"""Rendering with real Celery workers on Redis and PostgreSQL.

Two workers, as in production: one on the `gpu` queue (one process, like one GPU,
running the Django-free gpu_worker.worker.app) and one on `default` (the site's app:
bookkeeping, progress, results). A sweep of a real clip renders,
its progress reaches a websocket client through channels-redis, and a GPU worker
process killed with SIGKILL mid-render has its job redelivered and finished without
ever publishing a partial file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.storage import default_storage

from config.asgi import application
from restoration.models import RenderJob, Variant
from restoration.rendering import jobs, sweeps, variants
from restoration.services import presets
from tests.conftest import media_file
from tests.factories import technician
from tests.integration.conftest import (
    require_real_services,
    start_worker,
    wait_for,
    wait_until_idle,
)
from tests.restoration.clip_helpers import FAST_ENCODE, ready_clip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SPEC = {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.8}}],
        "seed": 0, "encode": FAST_ENCODE}


@pytest.fixture(scope="module")
def render_workers(django_db_setup, shared_media_root, tmp_path_factory):
    """A `gpu` worker (one process) and a `default` worker for the module's tests."""
    require_real_services()
    logs = tmp_path_factory.mktemp("worker-logs")
    # Started side by side: each spends its first seconds importing Django and the engine.
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(start_worker, shared_media_root, logs, queues=name, name=name,
                                     celery_app=celery_app)
                   for name, celery_app in (("gpu", "gpu_worker.worker.app"), ("default", "config"))}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        for future in futures.values():
            if future.exception() is None:
                future.result().kill()
        raise errors[0]
    gpu, default = futures["gpu"].result(), futures["default"].result()
    print(f"\nintegration backends: broker={settings.REDIS_URL} "
          f"database={settings.DATABASES['default']['NAME']} (PostgreSQL)")
    yield {"gpu": gpu, "default": default}
    for worker in (gpu, default):
        began = time.monotonic()
        worker.kill(signal.SIGKILL)  # nothing is running by now; no need to wait politely
        print(f"stopped {worker.log_path.name} in {time.monotonic() - began:.1f}s")


@pytest.fixture(autouse=True)
def workers_idle_after_each_test(render_workers):
    """The workers outlive each test (module scope): its follow-up tasks finish before
    the database is emptied for the next (see wait_until_idle)."""
    yield
    wait_until_idle(workers=[worker.nodename for worker in render_workers.values()])


def logs(workers) -> str:
    return "\n".join(f"--- {name} ---\n{w.log()[-6000:]}" for name, w in workers.items())


def decoded_frames(name: str) -> int:
    with av.open(default_storage.path(name)) as container:
        return sum(1 for _ in container.decode(video=0))


def pool_children(pid: int) -> list[int]:
    """Child processes of the Celery main process (its prefork pool)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


@pytest.mark.asyncio
async def test_sweep_renders_on_a_real_worker_with_live_progress(render_workers, integration_settings, client):
    user = await sync_to_async(technician)()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    clip = await sync_to_async(ready_clip)(media_file("old_film/roundhay_garden_scene.mp4"))
    version = await sync_to_async(presets.create_preset)("Integration sweep", SPEC, user=None)

    communicator = WebsocketCommunicator(application, f"/ws/live/clip-{clip.pk}/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)])
    assert (await communicator.connect(timeout=10))[0]
    assert (await communicator.receive_json_from(timeout=10))["snapshot"] is True

    axes = {"colour_scheme.look": ["neutral", "sepia"], "colour_scheme.amount": [0.5, 1.0]}
    started = time.monotonic()
    variants = await sync_to_async(sweeps.create_sweep)(clip, version, axes, start=10, end=34, user=user)
    assert len(variants) == 4
    job_ids = set(await sync_to_async(lambda: list(
        RenderJob.objects.filter(variant__in=variants).values_list("pk", flat=True)))())
    assert len(job_ids) == 4

    progress: dict[int, list[dict]] = {job_id: [] for job_id in job_ids}
    finished: set[int] = set()
    deadline = asyncio.get_running_loop().time() + 240
    while finished != job_ids:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"renders did not finish; messages: {progress}\n"
                                 + await sync_to_async(logs)(render_workers))
        message = await communicator.receive_json_from(timeout=remaining)
        if message.get("type") != "render.progress" or message["job"] not in job_ids:
            continue
        progress[message["job"]].append(message)
        if message["status"] in ("done", "failed", "cancelled"):
            assert message["status"] == "done", message
            finished.add(message["job"])
    elapsed = time.monotonic() - started
    await communicator.disconnect()

    for job_id, messages in progress.items():
        running = [m for m in messages if m["status"] == "running"]
        assert running, f"no live progress for job {job_id}"
        assert all(m["frames_total"] == 24 for m in running)
        assert messages[-1]["frames_done"] == 24 and messages[-1]["status"] == "done"

    @sync_to_async
    def check_outputs():
        fps = []
        for variant in Variant.objects.filter(pk__in=[v.pk for v in variants]):
            assert variant.status == Variant.Status.DONE, variant.error
            assert variant.frames == 24 and decoded_frames(variant.output.name) == 24
            fps.append(variant.metrics["render_fps"])
        return fps

    fps = await check_outputs()
    print(f"sweep of 4 variants × 24 frames (192x144) in {elapsed:.1f}s; render fps "
          f"{', '.join(f'{f:.1f}' for f in fps)}")


def test_killed_gpu_worker_process_is_redelivered_and_publishes_no_partial_file(
        render_workers, integration_settings):
    clip = ready_clip(media_file("old_film/muybridge_buffalo.mp4"))
    version = presets.create_preset("Crash test", SPEC, user=None)
    variant = sweeps.create_sweep(clip, version, {}, start=0, end=100, dispatch=False)[0]
    job = variants.dispatch_variant(variant)  # autocommit: sent at once
    output = Path(default_storage.path(job.output.name))
    gpu = render_workers["gpu"]

    # Wait until the render is under way (progress recorded), then kill the pool
    # process doing it, as a crashed GPU driver or the OOM killer would.
    wait_for(lambda: RenderJob.objects.filter(pk=job.pk, frames_done__gt=0).exists(),
             timeout=120, interval=0.1, what="the render to start", log=lambda: logs(render_workers))
    job.refresh_from_db()
    assert job.frames_done < job.frames_total, "the render finished before it could be killed"
    children = pool_children(gpu.process.pid)
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGKILL)
    killed_at = time.monotonic()
    assert not output.exists()  # nothing published by the killed attempt

    seen_partial_output = False
    while time.monotonic() - killed_at < 240:
        job.refresh_from_db()
        if output.exists() and job.status != RenderJob.Status.DONE:
            # Published before it was recorded is fine, but it must be whole already.
            seen_partial_output = decoded_frames(job.output.name) != 100
        if job.status in jobs.TERMINAL:
            break
        time.sleep(0.2)
    assert job.status == RenderJob.Status.DONE, f"{job.status}: {job.error}\n{logs(render_workers)}"
    assert job.attempts == 2  # the killed attempt was counted
    assert not seen_partial_output
    assert decoded_frames(job.output.name) == 100
    assert [p.name for p in output.parent.iterdir() if ".part" in p.name] == []
    assert "WorkerLostError" in gpu.log() or "SIGKILL" in gpu.log()
