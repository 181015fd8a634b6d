"""The site's side of distinctness: which pairs are compared and when, what comes back,
and the warning with its suggestion."""

from __future__ import annotations

import pytest

from restoration import queue
from restoration.models import RenderJob, Variant, VariantComparison
from restoration.rendering import distinctness, results, sweeps
from restoration.rendering.jobs import storage_uri
from restoration.services import presets
from tests.factories import (
    PresetVersionFactory,
    RenderJobFactory,
    VariantComparisonFactory,
    VariantFactory,
)
from tests.media_factory import make_video
from tests.restoration.clip_helpers import cheap_spec, ready_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """The comparisons sent to the GPU queue (task name, id, message)."""
    out = []
    monkeypatch.setattr(
        queue, "send_with_id", lambda name, task_id, *args: out.append((name, task_id, *args))
    )
    return out


def sweep_of_three(**fields):
    version = PresetVersionFactory(recipe={"ops": [{"op": "denoise"}]})
    first = VariantFactory(preset_version=version, overrides={"denoise.strength": 0.3}, **fields)
    rest = [
        VariantFactory(
            preset_version=version, clip=first.clip, overrides={"denoise.strength": s}, **fields
        )
        for s in (1.0, 2.0)
    ]
    return [first, *rest]


def test_comparisons_wait_for_the_last_variant_of_the_sweep(
    sent, django_capture_on_commit_callbacks
):
    a, b, c = sweep_of_three()
    Variant.objects.filter(pk=c.pk).update(status=Variant.Status.RENDERING)
    assert distinctness.compare_finished_sweep(a) == []
    Variant.objects.filter(pk=c.pk).update(status=Variant.Status.DONE)
    # Another sweep of the same clip (other version or excerpt) is not part of it.
    VariantFactory(clip=a.clip)
    VariantFactory(clip=a.clip, preset_version=a.preset_version, start_frame=1)
    with django_capture_on_commit_callbacks(execute=True):
        made = distinctness.compare_finished_sweep(c)
    pairs = {(m.variant_a_id, m.variant_b_id) for m in made}
    assert pairs == {(a.pk, b.pk), (a.pk, c.pk), (b.pk, c.pk)}
    assert all(m.status == VariantComparison.Status.PENDING for m in made)
    assert [s[0] for s in sent] == [queue.COMPARE_VARIANTS] * 3
    message = sent[0][2]
    assert message["comparison_id"] == made[0].pk and message["a_uri"].startswith("file://")
    assert message["map_uri"].endswith(".png")
    # Asked again: nothing new is queued for pairs pending or measured…
    with django_capture_on_commit_callbacks(execute=True):
        distinctness.compare_finished_sweep(a)
    assert len(sent) == 3 and VariantComparison.objects.count() == 3
    # … unless asked to measure again.
    with django_capture_on_commit_callbacks(execute=True):
        distinctness.compare_variants([a, b], again=True)
    assert len(sent) == 4


def test_a_failed_variant_is_left_out(sent):
    a, b, c = sweep_of_three()
    Variant.objects.filter(pk=b.pk).update(status=Variant.Status.FAILED)
    made = distinctness.compare_finished_sweep(a)
    assert [(m.variant_a_id, m.variant_b_id) for m in made] == [(a.pk, c.pk)]
    Variant.objects.filter(pk=c.pk).update(status=Variant.Status.CANCELLED)
    VariantComparison.objects.all().delete()
    assert distinctness.compare_finished_sweep(a) == []  # one rendered variant: nothing to compare


def test_pairs_must_be_the_same_excerpt():
    a = VariantFactory()
    with pytest.raises(ValueError, match="same excerpt"):
        distinctness.compare_pair(a, VariantFactory(clip=a.clip, end_frame=40))
    with pytest.raises(ValueError, match="itself"):
        distinctness.compare_pair(a, a)


def test_the_workers_answer_is_recorded(sent):
    a, b, _ = sweep_of_three()
    row = distinctness.compare_pair(b, a)  # stored in id order whatever the call order
    assert (row.variant_a_id, row.variant_b_id) == (a.pk, b.pk)
    distinctness.record_comparison(
        {
            "comparison_id": row.pk,
            "status": "done",
            "jod": 9.76,
            "details": {"per_frame": [9.78, 9.74], "positions": [9, 19]},
            "map_uri": "file:///elsewhere/map.png",
            "error": "",
        }
    )
    row.refresh_from_db()
    assert row.status == VariantComparison.Status.DONE and row.jod == 9.76
    assert row.difference == 0.24 and row.details["positions"] == [9, 19]
    assert row.diff_map.name == ""  # a file outside the media storage is not linked
    failed = distinctness.compare_pair(
        a,
        VariantFactory(
            clip=a.clip, preset_version=a.preset_version, overrides={"denoise.strength": 4.0}
        ),
    )
    distinctness.record_comparison(
        {
            "comparison_id": failed.pk,
            "status": "failed",
            "error": "DistinctnessError: the renders differ in size",
        }
    )
    failed.refresh_from_db()
    assert failed.status == VariantComparison.Status.FAILED and "differ in size" in failed.error
    assert (
        distinctness.record_comparison({"comparison_id": 10**9, "status": "done", "jod": 1}) is None
    )
    assert distinctness.record_comparison({"status": "done"}) is None
    # A failed pair is measured again when asked, without "again".
    distinctness.compare_pair(failed.variant_a, failed.variant_b)
    failed.refresh_from_db()
    assert failed.status == VariantComparison.Status.PENDING


def test_pairs_below_the_threshold_are_flagged_with_wider_values(settings):
    close = VariantComparisonFactory(
        variant_a__overrides={"denoise.strength": 0.3},
        variant_a__preset_version__recipe={"ops": ["denoise"]},
        variant_b__overrides={"denoise.strength": 2.0},
        jod=9.76,
    )
    rows = distinctness.pair_rows([close.variant_a, close.variant_b])
    assert len(rows) == 1 and rows[0]["indistinct"] and rows[0]["difference"] == 0.24
    tip = rows[0]["suggestion"]
    # 0.3 .. 2.0 pushed apart by its own span, within the range [0, 4].
    assert "denoise · strength" in tip and "0 and 3.7" in tip and "[0.0, 4.0]" in tip
    assert distinctness.indistinct_warnings([close.variant_a, close.variant_b])
    settings.VARIANT_JND_JOD = 0.2
    assert not distinctness.pair_rows([close.variant_a, close.variant_b])[0]["indistinct"]
    far = VariantComparisonFactory(jod=8.0)
    assert not distinctness.pair_rows([far.variant_a, far.variant_b])[0]["indistinct"]
    pending = VariantComparisonFactory(status=VariantComparison.Status.PENDING, jod=None)
    assert not distinctness.indistinct_warnings([pending.variant_a, pending.variant_b])


def test_a_parameter_already_at_its_range_ends_suggests_another():
    c = VariantComparisonFactory(
        variant_a__overrides={"grain.strength": 0.0},
        variant_a__preset_version__recipe={"ops": ["grain"]},
        variant_b__overrides={"grain.strength": 40.0},
        jod=9.9,
    )
    assert "vary another" in distinctness.suggestion(c.variant_a, c.variant_b)
    d = VariantComparisonFactory(
        variant_a__overrides={"colour_scheme.look": "neutral"},
        variant_a__preset_version__recipe={"ops": ["colour_scheme"]},
        variant_b__overrides={"colour_scheme.look": "cool"},
        jod=9.9,
    )
    assert "further apart" in distinctness.suggestion(d.variant_a, d.variant_b)


def test_the_last_result_of_a_sweep_queues_its_comparisons(
    sent, django_capture_on_commit_callbacks
):
    a, b = sweep_of_three()[:2]
    Variant.objects.exclude(pk__in=[a.pk, b.pk]).delete()
    Variant.objects.filter(pk=b.pk).update(status=Variant.Status.QUEUED)
    job = RenderJobFactory(variant=b, frames_total=12)
    with django_capture_on_commit_callbacks(execute=True):
        results.record_result(
            {
                "job_id": job.pk,
                "segment": None,
                "status": "done",
                "frames": 12,
                "output_uri": storage_uri(b.output.name),
                "attempt": 1,
            }
        )
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE
    assert [(s[0], s[2]["comparison_id"]) for s in sent] == [
        (queue.COMPARE_VARIANTS, VariantComparison.objects.get().pk)
    ]


def test_a_comparison_that_cannot_be_queued_never_loses_the_result(monkeypatch, caplog):
    a = VariantFactory()
    job = RenderJobFactory(variant=a, frames_total=12)
    Variant.objects.filter(pk=a.pk).update(status=Variant.Status.QUEUED)

    def broken(variant):
        raise RuntimeError("storage down")

    monkeypatch.setattr(results, "compare_finished_sweep", broken)
    results.record_result(
        {
            "job_id": job.pk,
            "segment": None,
            "status": "done",
            "frames": 12,
            "output_uri": "file:///x.mp4",
            "attempt": 1,
        }
    )
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE and "could not queue the comparisons" in caplog.text


@pytest.mark.slow
def test_a_sweep_renders_and_compares_end_to_end_in_process(
    tmp_path, eager_celery, django_capture_on_commit_callbacks, monkeypatch
):
    from frontend.live import outbox

    monkeypatch.setattr(outbox, "publish", lambda topic, payload: None)
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=160, height=120))
    version = presets.create_preset("Compare base", cheap_spec(), user=None)
    with django_capture_on_commit_callbacks(execute=True):
        made = sweeps.create_sweep(clip, version, {"grain.strength": [0, 20]}, start=4, end=12)
    assert all(v.jobs.get().status == RenderJob.Status.DONE for v in made)
    row = VariantComparison.objects.get()
    assert row.status == VariantComparison.Status.DONE, row.error
    assert 0 < row.difference and row.diff_map.name.endswith(".png")
    assert row.diff_map.storage.exists(row.diff_map.name)
    assert row.details["display"] == "standard_fhd" and row.details["positions"]
