"""restoration.curation.services.review: status workflow, notes, before/after excerpts."""

from __future__ import annotations

import av
import pytest
from django.core.files import File
from django.db import IntegrityError, transaction

from restoration.curation.models import Review
from restoration.curation.services import review as rv
from restoration.curation.services.review import ReviewError
from restoration.models import RenderJob, Variant
from tests.factories import (
    PresetVersionFactory,
    RenderJobFactory,
    UserFactory,
    VariantFactory,
    curator,
    technician,
)
from tests.media_factory import make_video
from tests.restoration.clip_helpers import ready_clip
from tests.restoration.curation.factories import (
    BASE_SPEC,
    RENDERED,
    ReviewFactory,
    ReviewNoteFactory,
)

pytestmark = pytest.mark.django_db


def _frames(field) -> int:
    with av.open(field.path) as container:
        return sum(1 for _ in container.decode(video=0))


# --- status workflow ---------------------------------------------------------------------------

def test_open_review_is_pending_once_and_recorded(variants):
    cur = curator()
    first = rv.open_review(variants[0], cur)
    again = rv.open_review(variants[0], cur)
    assert first.pk == again.pk and first.status == Review.Status.PENDING
    assert [(e.from_status, e.to_status) for e in first.events.all()] == [("", "pending_review")]


def test_unfinished_render_cannot_be_reviewed(variants, clip):
    variants[0].status = Variant.Status.RENDERING
    variants[0].save()
    with pytest.raises(ReviewError, match="has not finished"):
        rv.open_review(variants[0], curator())
    queued = RenderJobFactory(film=clip.film)
    with pytest.raises(ReviewError, match="has not finished"):
        rv.open_review(queued, curator())


def test_workflow_changes_requested_resubmitted_approved(variants):
    cur, tech = curator(), technician()
    review = rv.open_review(variants[0], cur)
    rv.apply_transition(review, Review.Status.CHANGES, cur, "grain too strong")
    rv.apply_transition(review, Review.Status.PENDING, tech, "lowered the grain")
    rv.apply_transition(review, Review.Status.APPROVED, cur)
    review.refresh_from_db()
    assert review.status == Review.Status.APPROVED
    assert [e.to_status for e in review.events.all()] == [
        "pending_review", "changes_requested", "pending_review", "approved"]
    assert review.events.get(to_status="changes_requested").comment == "grain too strong"


def test_invalid_transitions_are_refused_with_a_clear_message(variants):
    cur, tech, fan = curator(), technician(), UserFactory()
    review = rv.open_review(variants[0], cur)
    with pytest.raises(ReviewError, match="pending review cannot become published; from here it can "
                                          "become: changes requested, approved"):
        rv.apply_transition(review, Review.Status.PUBLISHED, cur)
    with pytest.raises(ReviewError, match="Only a curator may approve"):
        rv.apply_transition(review, Review.Status.APPROVED, tech)
    with pytest.raises(ReviewError, match="Only a curator may request changes"):
        rv.apply_transition(review, Review.Status.CHANGES, fan)
    with pytest.raises(ReviewError, match="not a review status"):
        rv.apply_transition(review, "lost", cur)
    rv.apply_transition(review, Review.Status.APPROVED, cur)
    with pytest.raises(ReviewError, match="Use the publish and unpublish actions"):
        rv.apply_transition(review, Review.Status.PUBLISHED, cur)
    review.refresh_from_db()
    assert review.status == Review.Status.APPROVED
    assert review.events.count() == 2


def test_allowed_transitions_depend_on_role(variants):
    cur, tech = curator(), technician()
    review = rv.open_review(variants[0], cur)
    assert [to for to, _ in rv.allowed_transitions(review, cur)] == ["changes_requested", "approved"]
    assert rv.allowed_transitions(review, tech) == []
    rv.apply_transition(review, Review.Status.CHANGES, cur)
    assert [to for to, _ in rv.allowed_transitions(review, tech)] == ["pending_review"]


def test_one_review_per_target_and_exactly_one_target(variants, film_job):
    ReviewFactory(variant=variants[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewFactory(variant=variants[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewFactory(variant=variants[1], render_job=film_job)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewFactory(variant=None, render_job=None)


# --- notes --------------------------------------------------------------------------------------------

def test_notes_are_anchored_and_validated(variants):
    cur = curator()
    review = rv.prepare_excerpts(rv.open_review(variants[0], cur))
    note = rv.add_note(review, cur, frame=12, x=0.25, y=0.75, text="  dust on the left  ")
    assert (note.frame, note.x, note.y, note.text) == (12, 0.25, 0.75, "dust on the left")
    for kwargs, message in [
        ({"frame": 3, "x": 1.2, "y": 0.5, "text": "x"}, "fractions"),
        ({"frame": 3, "x": 0.5, "y": -0.1, "text": "x"}, "fractions"),
        ({"frame": 3, "x": 0.5, "y": 0.5, "text": "  "}, "needs some text"),
        ({"frame": 24, "x": 0.5, "y": 0.5, "text": "x"}, "past the end of the excerpt"),
        ({"frame": "abc", "x": 0.5, "y": 0.5, "text": "x"}, "whole number"),
    ]:
        with pytest.raises(ReviewError, match=message):
            rv.add_note(review, cur, **kwargs)
    with pytest.raises(ReviewError, match="Only a curator"):
        rv.add_note(review, technician(), frame=1, x=0.5, y=0.5, text="x")
    assert list(review.notes.values_list("frame", flat=True)) == [12]


def test_note_fractions_are_enforced_by_the_database(variants):
    review = ReviewFactory(variant=variants[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewNoteFactory(review=review, frame=0, x=1.5, y=0.5, text="off the picture")


def test_technician_resolves_a_note(variants):
    cur = curator()
    review = rv.open_review(variants[0], cur)
    note = rv.add_note(review, cur, frame=0, x=0.5, y=0.5, text="flicker")
    rv.set_note_resolved(note, technician())
    note.refresh_from_db()
    assert note.resolved
    with pytest.raises(ReviewError):
        rv.set_note_resolved(note, UserFactory(), False)


# --- before/after excerpts ---------------------------------------------------------------------------------

def test_variant_excerpt_pairs_source_and_render_frame_for_frame(variants):
    review = rv.prepare_excerpts(rv.open_review(variants[1], curator()))
    assert review.excerpt_error == ""
    assert (review.excerpt_start, review.excerpt_end) == (0, 24)
    assert _frames(review.before_excerpt) == _frames(review.after_excerpt) == 24


def test_film_excerpt_is_cut_at_the_clip(film_job):
    review = rv.prepare_excerpts(rv.open_review(film_job, curator()))
    assert review.excerpt_error == ""
    assert review.excerpt_clip == film_job.film.clips.get()
    assert _frames(review.before_excerpt) == _frames(review.after_excerpt) == 24


def test_interpolated_variant_excerpt_covers_the_same_time(clip, tmp_path):
    spec = {"ops": [{"op": "interpolate", "params": {"multiplier": 2}}], "seed": 0}
    video = make_video(tmp_path / "smooth.mp4", frames=48, fps=2 * round(clip.fps),
                       width=64, height=48, audio=True)
    base = PresetVersionFactory(preset__name="warm", spec=BASE_SPEC)
    variant = VariantFactory(clip=clip, preset_version=base, spec=spec, output_path=video, label="smooth",
                             **RENDERED)
    review = rv.prepare_excerpts(rv.open_review(variant, curator()))
    assert review.excerpt_error == ""
    assert _frames(review.before_excerpt) == 24 and _frames(review.after_excerpt) == 48


def test_film_offsets_count_the_frames_an_interpolating_render_writes(clip, tmp_path):
    second = ready_clip(make_video(tmp_path / "b.mp4", frames=24, width=64, height=48),
                        clip.film, title="Reel 2")
    job = RenderJobFactory(
        film=clip.film, status=RenderJob.Status.DONE,
        preset_version=PresetVersionFactory(
            preset__name="smooth film", spec={"ops": [{"op": "interpolate", "params": {"multiplier": 3}}]}))
    assert rv.film_offsets(job) == [(clip, 0), (second, 72)]


def test_broken_output_is_reported_not_raised(variants):
    variants[0].output.save("broken.mp4", File(open(__file__, "rb")), save=True)
    review = rv.prepare_excerpts(rv.open_review(variants[0], curator()))
    assert "cutting the excerpt failed" in review.excerpt_error
