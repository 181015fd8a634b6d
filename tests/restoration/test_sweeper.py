"""The sweeper: every unit whose lease expired is sent again under a new token, up to
its attempts, then failed with a reason people see; late results of a replaced
dispatch are ignored; expired upload staging files go."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from restoration import leases, sweeper
from restoration.models import Clip, RenderJob, UploadSession, Variant, WorkLease
from restoration.rendering import film as film_render
from restoration.rendering import jobs, results, sweeps, variants
from restoration.services import presets
from tests.factories import (
    ClipFactory,
    RenderJobFactory,
    RenderSegmentFactory,
    UploadSessionFactory,
)
from tests.media_factory import make_video
from tests.restoration.clip_helpers import cheap_spec, ready_clip

pytestmark = pytest.mark.django_db
Kind = WorkLease.Kind


@pytest.fixture
def sent(monkeypatch):
    """Jobs sent to the GPU queue (nothing really goes out)."""
    payloads: list[dict] = []
    monkeypatch.setattr(variants, "send_job", lambda payload, task_id: payloads.append(payload))
    return payloads


@pytest.fixture
def variant(tmp_path):
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=64, height=48))
    version = presets.create_preset("Sweep base", cheap_spec(), user=None)
    return sweeps.create_sweep(clip, version, {}, start=4, end=16, dispatch=False)[0]


def expire(kind: str, object_id: int) -> None:
    WorkLease.objects.filter(kind=kind, object_id=object_id).update(
        expires_at=timezone.now() - timedelta(seconds=1), started_at=timezone.now()
    )


def marker(job: RenderJob) -> str:
    with default_storage.open(jobs.control_name(job) + "lease") as handle:
        return handle.read().decode()


def test_a_variant_whose_worker_died_is_sent_again_under_a_new_token(
    variant, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    first = leases.get(Kind.VARIANT, job.pk)
    assert sent[-1]["lease"] == first.token == marker(job) and first.attempt == 1
    sweeper.sweep()
    assert len(sent) == 1  # not expired yet: left alone
    expire(Kind.VARIANT, job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweeper.sweep()
    assert report.redispatched == [f"variant {job.pk} (attempt 1)"]
    second = leases.get(Kind.VARIANT, job.pk)
    assert second.attempt == 2 and second.token != first.token
    assert len(sent) == 2 and sent[-1]["lease"] == second.token == marker(job)
    assert sent[-1]["output_uri"] == sent[0]["output_uri"]  # the same job, the same output

    # The killed attempt's result arrives late: recognised by its token and ignored.
    stale = {
        "job_id": job.pk,
        "segment": None,
        "status": "failed",
        "attempt": 1,
        "error": "worker lost",
        "lease": first.token,
    }
    results.record_result(stale)
    assert RenderJob.objects.get(pk=job.pk).status == RenderJob.Status.QUEUED
    # The current dispatch's result is recorded once, and releases the lease.
    done = {
        "job_id": job.pk,
        "segment": None,
        "status": "done",
        "frames": 12,
        "attempt": 2,
        "output_uri": sent[-1]["output_uri"],
        "lease": second.token,
    }
    results.record_result(done)
    results.record_result({**done, "frames": 11})  # repeated: changes nothing
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE and job.frames_done == 12
    assert leases.get(Kind.VARIANT, job.pk).expires_at is None


def test_a_unit_past_its_attempts_fails_with_a_visible_reason(
    variant, sent, django_capture_on_commit_callbacks, settings
):
    settings.WORK_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    RenderJob.objects.filter(pk=job.pk).update(max_attempts=2)
    for _ in range(2):
        expire(Kind.VARIANT, job.pk)
        with django_capture_on_commit_callbacks(execute=True):
            report = sweeper.sweep()
    assert report.failed == [f"variant {job.pk} (attempt 2)"] and len(sent) == 2
    job.refresh_from_db()
    variant.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED and "gave up after 2 attempts" in job.error
    assert variant.status == Variant.Status.FAILED and variant.error == job.error
    lease = leases.get(Kind.VARIANT, job.pk)
    assert lease.expires_at is None and "gave up" in lease.last_error
    assert not sweeper.sweep()  # nothing left to do


def test_a_finished_or_cancelled_unit_is_only_released(
    variant, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.CANCELLED)
    expire(Kind.VARIANT, job.pk)
    report = sweeper.sweep()
    assert report.released and not report.redispatched and len(sent) == 1


def test_only_the_lost_segment_of_a_film_is_sent_again(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[tuple] = []

    class Signature:
        def apply_async(self) -> None:
            pass

    def signatures(job, segments, *, fresh):
        sent.append(([s.index for s in segments], fresh))
        return [Signature() for _ in segments], [f"task-{s.pk}" for s in segments]

    monkeypatch.setattr(film_render, "_segment_signatures", signatures)
    job = RenderJobFactory(status=RenderJob.Status.RUNNING)
    done = RenderSegmentFactory(job=job, status=RenderJob.Status.DONE)
    lost = RenderSegmentFactory(job=job, status=RenderJob.Status.RUNNING)
    leases.take(Kind.SEGMENT, done.pk)
    leases.release(Kind.SEGMENT, done.pk)
    leases.take(Kind.SEGMENT, lost.pk)
    expire(Kind.SEGMENT, lost.pk)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweeper.sweep()
    assert report.redispatched == [f"segment {lost.pk} (attempt 1)"]
    assert sent == [([lost.index], False)]
    WorkLease.objects.filter(kind=Kind.SEGMENT, object_id=lost.pk).update(attempt=3)
    expire(Kind.SEGMENT, lost.pk)
    sweeper.sweep()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED
    assert f"segment {lost.index}" in job.error and "gave up after 3 attempts" in job.error


def test_an_assembly_killed_with_its_worker_is_queued_again_then_failed(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(
        "restoration.queue.send_after_commit", lambda name, *args: queued.append((name, *args))
    )
    job = RenderJobFactory(status=RenderJob.Status.RUNNING, result={"assembling": True})
    film_render.queue_assembly(job, fresh=True)
    expire(Kind.ASSEMBLY, job.pk)
    sweeper.sweep()
    assert queued[-1] == ("restoration.tasks.assemble_film", job.pk)
    assert leases.get(Kind.ASSEMBLY, job.pk).attempt == 2
    WorkLease.objects.filter(kind=Kind.ASSEMBLY, object_id=job.pk).update(attempt=3)
    expire(Kind.ASSEMBLY, job.pk)
    sweeper.sweep()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED and job.error.startswith("assembly: gave up")
    assert "assembling" not in job.result  # a resumed render will assemble again


def test_a_lost_probe_is_queued_again_then_the_clip_fails_saying_why(monkeypatch, settings):
    settings.WORK_MAX_ATTEMPTS = 2
    queued: list[tuple] = []
    monkeypatch.setattr(
        "restoration.queue.send_after_commit", lambda name, *args: queued.append((name, *args))
    )
    clip = ClipFactory(probing=True)
    leases.take(Kind.PROBE, clip.pk)
    expire(Kind.PROBE, clip.pk)
    sweeper.sweep()
    assert queued == [("restoration.tasks.probe_clip", clip.pk)]
    expire(Kind.PROBE, clip.pk)
    sweeper.sweep()
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED and "probe: gave up after 2 attempts" in clip.error


def test_expired_upload_staging_files_are_removed(settings):
    settings.UPLOAD_STAGING_TTL_SECONDS = 60
    old = UploadSessionFactory()
    old.staging_path.write_bytes(b"half a film")
    UploadSession.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    fresh = UploadSessionFactory()
    fresh.staging_path.write_bytes(b"arriving")
    stray = settings.UPLOAD_STAGING_DIR / "0123abcd.part"  # a killed single-request upload
    stray.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(stray, (an_hour_ago, an_hour_ago))
    recent_stray = settings.UPLOAD_STAGING_DIR / "tmp-in-flight.upload.mp4"
    recent_stray.write_bytes(b"y")
    report = sweeper.sweep()
    assert report.staging_removed == 2
    assert not old.staging_path.exists() and not stray.exists()
    assert fresh.staging_path.exists() and recent_stray.exists()
    old.refresh_from_db()
    assert old.status == UploadSession.Status.REJECTED and old.error.startswith("expired")


def test_sweep_command_once(capsys, variant, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    expire(Kind.VARIANT, job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep", "--once")
    out = capsys.readouterr().out
    assert "1 sent again" in out and f"sent again: variant {job.pk}" in out


def test_an_upload_whose_complete_was_killed_is_handed_back(settings):
    settings.UPLOAD_INGEST_TIMEOUT_SECONDS = 60
    stuck = UploadSessionFactory(status=UploadSession.Status.INGESTING)
    stuck.staging_path.write_bytes(b"all of it")
    UploadSession.objects.filter(pk=stuck.pk).update(
        updated_at=timezone.now() - timedelta(minutes=5)
    )
    busy = UploadSessionFactory(status=UploadSession.Status.INGESTING)
    sweeper.sweep()
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert stuck.status == UploadSession.Status.RECEIVING and stuck.staging_path.exists()
    assert busy.status == UploadSession.Status.INGESTING


def test_a_render_whose_worker_heartbeat_is_fresh_keeps_its_lease(
    variant, sent, django_capture_on_commit_callbacks
):
    """The bookkeeping queue lags (progress not recorded), but the GPU worker's own
    heartbeat marker is fresh: the lease is renewed, the render is not sent again."""
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    lease = leases.get(Kind.VARIANT, job.pk)
    default_storage.save(
        jobs.control_name(job) + "heartbeat", ContentFile(f"{lease.token} {time.time()}".encode())
    )
    expire(Kind.VARIANT, job.pk)
    report = sweeper.sweep()
    assert report.renewed == [f"variant {job.pk} (attempt 1)"] and len(sent) == 1
    assert leases.get(Kind.VARIANT, job.pk).expires_at > timezone.now()
    # A heartbeat of an older attempt (another token) does not count.
    expire(Kind.VARIANT, job.pk)
    WorkLease.objects.filter(kind=Kind.VARIANT, object_id=job.pk).update(token="newer")
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.sweep().redispatched


def test_a_render_killed_before_its_first_progress_was_recorded_is_found_on_the_short_lease(
    variant, sent, django_capture_on_commit_callbacks, settings
):
    settings.WORK_LEASE_SECONDS, settings.WORK_QUEUED_LEASE_SECONDS = 5, 3600
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    lease = leases.get(Kind.VARIANT, job.pk)
    name = default_storage.save(
        jobs.control_name(job) + "heartbeat", ContentFile(f"{lease.token} 0".encode())
    )
    then = time.time() - 60  # its worker wrote one heartbeat a minute ago, then died
    os.utime(default_storage.path(name), (then, then))
    with django_capture_on_commit_callbacks(execute=True):
        report = sweeper.sweep()
    assert report.redispatched == [f"variant {job.pk} (attempt 1)"] and len(sent) == 2


def test_the_live_event_outbox_is_pruned_without_any_websocket_open():
    from frontend.live import outbox
    from frontend.models import LiveEvent
    from tests.factories import LiveEventFactory

    old, recent = LiveEventFactory(), LiveEventFactory()
    LiveEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - outbox.OUTBOX_KEEP - timedelta(seconds=1)
    )
    assert sweeper.sweep().events_pruned == 1
    assert list(LiveEvent.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_result_lost_on_its_way_is_reported_again_without_rendering_again(
    variant, sent, django_capture_on_commit_callbacks, monkeypatch
):
    """The worker published the output, then its result never reached the site: the
    lease expires, the sweeper sends the job again, and the worker reports the
    published output under the new token instead of rendering it a second time."""
    import gpu_worker.engine.pipeline as pipeline
    from gpu_worker.worker import tasks as worker_tasks
    from restoration.rendering import progress

    renders = []
    real_render = pipeline.render
    monkeypatch.setattr(
        pipeline, "render", lambda *a, **k: renders.append(1) or real_render(*a, **k)
    )

    def site(lose_result: bool):
        def notify(name, payload):
            if name == worker_tasks.PROGRESS_TASK:
                progress.record_progress(payload)
            elif not lose_result:
                results.record_result(payload)

        return notify

    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    worker_tasks.run_job(sent[-1], site(lose_result=True))
    job.refresh_from_db()
    assert job.status == RenderJob.Status.RUNNING and len(renders) == 1
    expire(Kind.VARIANT, job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.sweep()
    result = worker_tasks.run_job(sent[-1], site(lose_result=False))
    job.refresh_from_db()
    assert result["reused"] and result["lease"] == leases.get(Kind.VARIANT, job.pk).token
    assert job.status == RenderJob.Status.DONE and job.frames_done == 12
    assert len(renders) == 1  # rendered once
