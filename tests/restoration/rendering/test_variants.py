"""The site's side of rendering: jobs out, progress and results recorded, cancel."""

from __future__ import annotations

import math
from fractions import Fraction

import av
import pytest
from django.core.files.storage import default_storage

from frontend.live import outbox
from restoration.models import RenderJob, Variant
from restoration.rendering import jobs, progress, results, sweeps, variants
from restoration.services import presets
from tests.factories import RenderJobFactory
from tests.media_factory import make_video
from tests.restoration.clip_helpers import cheap_spec, ready_clip
from tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    events = []
    monkeypatch.setattr(outbox, "publish", lambda topic, payload: events.append((topic, payload)))
    return events


@pytest.fixture
def variant(tmp_path):
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=64, height=48, audio=True))
    version = presets.create_preset("Render base", cheap_spec(), user=None)
    return sweeps.create_sweep(clip, version, {}, start=4, end=16, dispatch=False)[0]


def test_variant_renders_end_to_end_in_process(variant, eager_celery, published,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    job.refresh_from_db()
    variant.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert variant.status == Variant.Status.DONE and variant.frames == 12
    assert job.attempts == 1 and job.frames_done == 12 and job.output.name == variant.output.name
    with av.open(default_storage.path(variant.output.name)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
        assert container.streams.audio  # an excerpt keeps its sound
    statuses = [p["status"] for topic, p in published if topic == job.topic]
    assert statuses[0] == "running" and statuses[-1] == "done"
    assert variant.metrics["render_fps"] > 0


def interpolating_variant(tmp_path, fps: float = 59.94):
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=64, height=48, audio=True))
    spec = {**cheap_spec(), "ops": [*cheap_spec()["ops"],
                                    {"op": "interpolate", "params": {"fps": fps}}]}
    version = presets.create_preset("Smooth motion", spec, user=None)
    return sweeps.create_sweep(clip, version, {}, start=4, end=16, dispatch=False)[0]


def test_interpolating_variant_expects_and_accepts_the_higher_frame_count(
        tmp_path, eager_celery, published, django_capture_on_commit_callbacks):
    variant = interpolating_variant(tmp_path)
    rate = jobs.clip_rate(variant.clip)
    # 12 source frames at the clip's rate, brought to 59.94 fps.
    expected = math.ceil(16 * Fraction(60000, 1001) / rate) - math.ceil(4 * Fraction(60000, 1001) / rate)
    assert expected > 12
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    job.refresh_from_db()
    variant.refresh_from_db()
    assert job.frames_total == expected
    assert job.status == RenderJob.Status.DONE, job.error
    assert variant.frames == expected
    with av.open(default_storage.path(variant.output.name)) as container:
        assert sum(1 for _ in container.decode(video=0)) == expected
        assert abs(float(container.streams.video[0].average_rate) - 59.94) < 0.01


def test_progress_keeps_the_interpolating_variants_frame_total(tmp_path, published):
    variant = interpolating_variant(tmp_path)
    expected = jobs.expected_frames(variant.spec, variant.clip, 4, 16)
    job = RenderJobFactory(variant=variant, frames_total=expected)
    # A worker's first message counts source frames (it has not opened the clip yet).
    progress.record_progress({"job_id": job.pk, "segment": None, "status": "running",
                               "frames_done": 0, "frames_total": 12, "attempt": 1})
    job.refresh_from_db()
    assert expected > 12 and job.frames_total == expected
    assert published[-1][1]["frames_total"] == expected


def test_interpolating_variant_with_the_source_frame_count_fails(tmp_path, published):
    variant = interpolating_variant(tmp_path)
    job = RenderJobFactory(variant=variant,
                           frames_total=jobs.expected_frames(variant.spec, variant.clip, 4, 16))
    results.record_result({"job_id": job.pk, "segment": None, "status": "done", "frames": 12,
                             "output_uri": "file:///x.mp4", "attempt": 1})
    job.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED
    assert f"12 frames; {job.frames_total} were asked" in job.error


def test_a_target_rate_below_the_clip_rate_cannot_be_dispatched(tmp_path):
    variant = interpolating_variant(tmp_path, fps=5)
    with pytest.raises(jobs.RenderingError, match="below the source"):
        variants.dispatch_variant(variant)


def test_job_payload_uses_storage_uris(variant):
    job = RenderJobFactory(variant=variant, frames_total=12)
    payload = jobs.build_job(job, input_name=variant.clip.source.name, output_name="renders/x.mp4",
                                  spec=variant.spec, start=4, end=16, audio=True)
    assert payload["input_uri"] == "file://" + default_storage.path(variant.clip.source.name)
    assert payload["control_uri"].endswith(f"/renders/control/job-{jobs.job_key(job)}/")
    later = RenderJobFactory(variant=variant, frames_total=12)
    assert jobs.control_name(later) != jobs.control_name(job)
    assert jobs.storage_name_from_uri(payload["output_uri"]) == "renders/x.mp4"


def test_renders_over_the_global_size_and_frame_caps_are_refused_before_sending(variant, settings):
    job = RenderJobFactory(variant=variant, frames_total=12)

    def build(spec):
        return jobs.build_job(job, input_name=variant.clip.source.name, output_name="renders/x.mp4",
                              spec=spec, start=4, end=16, audio=False)

    chained = {"ops": [{"op": "resize", "params": {"scale": 8.0}}, {"op": "resize", "params": {"scale": 8.0}},
                       {"op": "super_resolution", "params": {"scale": 4, "method": "lanczos"}}]}
    settings.MAX_OUTPUT_PIXELS = 4096 * 4096
    with pytest.raises(jobs.RenderingError, match="would write 16384x12288 frames"):  # 64x48 x 8 x 8 x 4
        build(chained)
    settings.MAX_OUTPUT_PIXELS = 16384 * 12288
    assert build(chained)["spec"] == chained  # exactly at the cap
    interpolate = {"ops": [{"op": "interpolate", "params": {"multiplier": 4}}]}
    settings.MAX_OUTPUT_FRAMES = 40
    with pytest.raises(jobs.RenderingError, match="would write 48 frames; the limit is 40"):
        build(interpolate)
    settings.MAX_OUTPUT_FRAMES = 48
    build(interpolate)


def test_a_render_naming_a_file_outside_the_spec_folders_is_refused(variant, settings, tmp_path):
    settings.SPEC_FILE_ROOTS = [str(tmp_path / "assets")]
    job = RenderJobFactory(variant=variant, frames_total=12)
    with pytest.raises(jobs.RenderingError, match="outside the folders"):
        jobs.build_job(job, input_name=variant.clip.source.name, output_name="renders/x.mp4",
                       spec={"ops": [{"op": "lut", "params": {"path": "/dev/zero"}}]}, start=4, end=16, audio=False)


def test_storage_uri_for_s3_storage():
    class FakeS3:
        bucket_name = "films"
        location = "media"

        def path(self, name):
            raise NotImplementedError

        def _normalize_name(self, name):
            return f"media/{name}"

    assert jobs.storage_uri("clips/a/source.mp4", FakeS3()) == "s3://films/media/clips/a/source.mp4"


def running_job(variant) -> RenderJob:
    return RenderJobFactory(variant=variant, frames_total=12)


def test_progress_then_result_then_late_progress(variant, published):
    job = running_job(variant)
    progress.record_progress({"job_id": job.pk, "segment": None, "status": "running", "frames_done": 5,
                               "frames_total": 12, "fps": 10.0, "eta": 0.7, "attempt": 2})
    job.refresh_from_db()
    assert (job.status, job.frames_done, job.fps, job.eta_seconds, job.attempts) == ("running", 5, 10.0, 0.7, 2)
    assert Variant.objects.get(pk=variant.pk).status == Variant.Status.RENDERING
    results.record_result({"job_id": job.pk, "segment": None, "status": "done", "frames": 12,
                             "output_uri": "file:///nowhere/x.mp4", "attempt": 2, "fps": 9.0})
    progress.record_progress({"job_id": job.pk, "segment": None, "frames_done": 7, "attempt": 2})
    job.refresh_from_db()
    assert job.status == "done" and job.frames_done == 12  # the late message changed nothing
    payload = published[-1][1]
    assert payload["status"] == "done" and payload["frames_done"] == 12


def test_wrong_frame_count_fails_visibly(variant, published):
    job = running_job(variant)
    results.record_result({"job_id": job.pk, "segment": None, "status": "done", "frames": 11,
                             "output_uri": "file:///x.mp4", "attempt": 1})
    job.refresh_from_db()
    assert job.status == "failed" and "11 frames; 12 were asked" in job.error
    assert Variant.objects.get(pk=variant.pk).status == Variant.Status.FAILED


def test_gave_up_result_is_shown_with_attempts(variant, published):
    job = running_job(variant)
    results.record_result({"job_id": job.pk, "segment": None, "status": "failed", "attempt": 3,
                             "error": "gave up after 3 attempts: the render crashed"})
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 3 and "gave up" in job.error
    assert published[-1][1]["error"].startswith("gave up")


def test_cancel_writes_the_marker_and_revokes(variant, published, monkeypatch):
    from config.celery import app

    revoked = []
    monkeypatch.setattr(app.control, "revoke", lambda task_id, **kw: revoked.append(task_id))
    job = running_job(variant)
    job.task_ids = ["render-1-abc"]
    job.save()
    jobs.cancel_job(job)
    assert default_storage.exists(f"renders/control/job-{jobs.job_key(job)}/cancel")
    assert revoked == ["render-1-abc"] and job.status == "cancelled" and job.cancel_requested
    assert Variant.objects.get(pk=variant.pk).status == Variant.Status.CANCELLED
    # The worker's own "cancelled" result afterwards changes nothing.
    results.record_result({"job_id": job.pk, "segment": None, "status": "cancelled", "attempt": 1})
    assert RenderJob.objects.get(pk=job.pk).status == "cancelled"


def test_rerender_refuses_busy_or_done_variants(variant, monkeypatch):
    monkeypatch.setattr(variants, "send_job", lambda payload, task_id: None)
    Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.DONE)
    variant.refresh_from_db()
    with pytest.raises(jobs.RenderingError, match="already rendered"):
        variants.rerender_variant(variant)
    Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.FAILED)
    variant.refresh_from_db()
    job = variants.rerender_variant(variant)
    assert job.variant_id == variant.pk and job.status == RenderJob.Status.QUEUED


def test_variant_render_through_s3_storage(tmp_path, settings, s3_bucket, s3_endpoint,  # noqa: F811
                                           eager_celery, published, django_capture_on_commit_callbacks):
    """The same code with media on S3-compatible storage: the site stores through
    django-storages, the job carries s3:// URIs, the worker reads and writes the bucket."""
    from django.core.files.storage import storages

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": s3_bucket, "endpoint_url": s3_endpoint, "access_key": "testing",
                    "secret_key": "testing", "region_name": "us-east-1", "location": "media",
                    "file_overwrite": False, "default_acl": None}}}
    storages._storages.pop("default", None)
    from django.core.files.storage import default_storage as s3

    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=20, width=64, height=48, audio=True))
    assert clip.source.name.startswith("clips/") and s3.exists(clip.source.name)
    version = presets.create_preset("S3 base", cheap_spec(), user=None)
    variant = sweeps.create_sweep(clip, version, {}, start=2, end=12, dispatch=False)[0]
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    job.refresh_from_db()
    variant.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert job.result["output_uri"] == f"s3://{s3_bucket}/media/{variant.output.name}"
    assert s3.exists(variant.output.name) and variant.frames == 10
    from restoration.storage import local_path

    with local_path(variant.output.name) as local:
        with av.open(str(local)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 10
    storages._storages.pop("default", None)


def test_prores_variant_keeps_its_master_and_plays_its_proxy(tmp_path, eager_celery, published,
                                                             django_capture_on_commit_callbacks):
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=64, height=48, audio=True))
    spec = {**cheap_spec(), "encode": {"codec": "prores", "prores_profile": 0}}
    version = presets.create_preset("Archive master", spec, user=None)
    variant = sweeps.create_sweep(clip, version, {}, start=4, end=16, dispatch=False)[0]
    with django_capture_on_commit_callbacks(execute=True):
        job = variants.dispatch_variant(variant)
    job.refresh_from_db()
    variant.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert variant.output.name.endswith(".mov") and variant.proxy.name.endswith(".proxy.mp4")
    assert variant.playable == variant.proxy
    with av.open(default_storage.path(variant.output.name)) as master:
        assert master.streams.video[0].codec_context.name == "prores"
    with av.open(default_storage.path(variant.proxy.name)) as proxy:
        assert proxy.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in proxy.decode(video=0)) == 12


def test_an_h264_variant_plays_its_master(variant):
    variant.output.name = "renders/v.mp4"
    assert not variant.proxy and variant.playable == variant.output
