"""Curation services: review status workflow, notes, before/after excerpts, vote record,
publish/unpublish, the gallery's cache and query counts, the dashboard and film look."""

from __future__ import annotations

import random

import av
import pytest
from django.core.files import File
from django.db import IntegrityError, transaction
from django.urls import reverse

from restoration.curation.models import Publication, Review
from restoration.curation.selectors import dashboard_films
from restoration.curation.services import publishing
from restoration.curation.services import review as rv
from restoration.curation.services.film_look import ClipLook, film_look, flag_outliers
from restoration.curation.services.review import ReviewError
from restoration.models import Film, RenderJob, Variant
from tests.factories import (
    ClipFactory,
    FilmFactory,
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
    PublicationFactory,
    ReviewFactory,
    ReviewNoteFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made in nearly every test here; the real hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The specs here are stored as written (not in canonical form, which fills in every
# default parameter): the spec diffs below are read against exactly these.
BASE_SPEC = {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.6}}], "seed": 0}
RENDERED = {"end_frame": 24, "frames": 24, "metrics": {"noise_sigma_after": 0.01}}  # 24 frames out of 24


@pytest.fixture
def clip(tmp_path):
    source = make_video(tmp_path / "source.mp4", frames=24, width=64, height=48, audio=True)
    return ready_clip(source, FilmFactory(title="The General", year=1926), title="Reel 1")


@pytest.fixture
def variants(clip, tmp_path):
    base = PresetVersionFactory(preset__name="warm", spec=BASE_SPEC)
    out = []
    for n, amount in enumerate((0.6, 0.9)):
        video = make_video(tmp_path / f"v{n}.mp4", frames=24, width=64, height=48, audio=True)
        spec = {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": amount}},
                        *([{"op": "grain", "params": {"strength": 0.3}}] if n else [])], "seed": 0}
        out.append(VariantFactory(clip=clip, preset_version=base, spec=spec, output_path=video,
                                  overrides={"colour_scheme.amount": amount}, label=f"warm amount {amount}",
                                  **RENDERED))
    return out


@pytest.fixture
def film_job(clip, tmp_path):
    output = make_video(tmp_path / "film.mp4", frames=24, width=64, height=48, audio=True)
    return RenderJobFactory(film=clip.film, status=RenderJob.Status.DONE, output_path=output,
                            preset_version=PresetVersionFactory(preset__name="film preset", spec=BASE_SPEC),
                            frames_total=24, frames_done=24)


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


# --- spec diff and vote record ----------------------------------------------------------------------------

def test_spec_diff_reads_like_a_change_list():
    base = {"ops": [{"op": "denoise", "params": {"strength": 0.5}},
                    {"op": "sharpen", "params": {"amount": 0.2}}], "seed": 1}
    winner = {"ops": [{"op": "denoise", "params": {"strength": 0.8, "temporal": True}},
                      {"op": "grain", "params": {"strength": 0.3}}], "seed": 2}
    texts = [row["text"] for row in publishing.spec_diff(base, winner)]
    assert texts == ["denoise.strength: 0.5 → 0.8", "denoise.temporal: default → True",
                     "added grain (strength=0.3)", "removed sharpen", "seed: 1 → 2"]
    assert publishing.spec_diff(base, base) == []


def test_spec_diff_matches_repeated_operators_by_occurrence():
    base = {"ops": [{"op": "denoise", "params": {"strength": 0.2}}, {"op": "denoise", "params": {"strength": 0.4}}]}
    winner = {"ops": [{"op": "denoise", "params": {"strength": 0.2}}, {"op": "denoise", "params": {"strength": 0.6}}]}
    assert [r["where"] for r in publishing.spec_diff(base, winner)] == ["denoise#2.strength"]


def _decided_contest(clip, variants, winner_index: int = 1, n_raters: int = 6):
    from tests.voting.factories import ready_rater
    from tests.voting.voting_factories import vote
    from voting import services as voting_services

    contest = voting_services.open_contest(clip=clip, variants=variants, rng=random.Random(0),
                                           min_watch_seconds=1.0, golden_rate=0.0, auto_decide=False)
    preferred = contest.entries.get(variant=variants[winner_index])
    for k in range(n_raters):
        rater = ready_rater()
        vote(contest, rater, ip=f"10.0.0.{k}",
             chooser=lambda p: "left" if p.left_id == preferred.pk else "right")
    voting_services.decide_contest(contest, preferred.label, "test decision")
    return contest, preferred


def test_vote_record_of_a_variant_names_the_winner_and_its_changes(clip, variants):
    contest, preferred = _decided_contest(clip, variants)
    review = rv.open_review(variants[1], curator())
    record = publishing.assemble_vote_record(review)
    assert record["available"] and record["total_ballots"] == 6
    (entry,) = record["contests"]
    assert entry["id"] == contest.pk and entry["variants_compared"] == 2 and entry["n_ballots"] == 6
    rows = {row["label"]: row for row in entry["entries"]}
    assert rows[preferred.label]["winner"] and rows[preferred.label]["wins"] == 6
    assert rows[preferred.label]["lower"] <= rows[preferred.label]["score"] <= rows[preferred.label]["upper"]
    assert entry["entries"][0]["label"] == preferred.label  # best first
    assert [d["text"] for d in entry["winner"]["diff"]] == [
        "colour_scheme.amount: 0.6 → 0.9", "added grain (strength=0.3)"]


def test_vote_record_tolerates_a_film_without_contest(film_job):
    record = publishing.assemble_vote_record(rv.open_review(film_job, curator()))
    assert record["contests"] == [] and record["total_ballots"] == 0
    assert record["note"] == "no public vote was held for this work"
    assert record["preset"] == str(film_job.preset_version)


def test_vote_record_of_a_film_marks_the_adopting_contest(clip, variants, film_job):
    contest, _ = _decided_contest(clip, variants)
    type(contest).objects.filter(pk=contest.pk).update(adopted_preset=film_job.preset_version)
    record = publishing.assemble_vote_record(rv.open_review(film_job, curator()))
    assert [c["adopted"] for c in record["contests"]] == [True]


# --- publish / unpublish ------------------------------------------------------------------------------------

def _approved(target, cur):
    review = rv.open_review(target, cur)
    rv.apply_transition(review, Review.Status.APPROVED, cur)
    return review


def test_publish_requires_an_approved_review_and_a_curator(variants):
    cur = curator()
    review = rv.open_review(variants[1], cur)
    with pytest.raises(publishing.PublishingError, match="Only an approved review"):
        publishing.publish(review, cur, title="The General")
    rv.apply_transition(review, Review.Status.APPROVED, cur)
    with pytest.raises(publishing.PublishingError, match="Only a curator may publish"):
        publishing.publish(review, technician(), title="The General")
    with pytest.raises(publishing.PublishingError, match="needs a title"):
        publishing.publish(review, cur, title="  ")
    assert not Publication.objects.exists()


def test_publish_and_unpublish_keep_the_record(clip, variants, django_capture_on_commit_callbacks):
    cur = curator()
    _decided_contest(clip, variants)
    review = _approved(variants[1], cur)
    version = publishing.gallery_version()
    with django_capture_on_commit_callbacks(execute=True):
        pub = publishing.publish(review, cur, title="The General — Reel 1", year=1926,
                                 credits="Buster Keaton", restoration_notes="Warm period look.")
    assert publishing.gallery_version() != version
    review.refresh_from_db()
    assert review.status == Review.Status.PUBLISHED and pub.is_public
    assert pub.slug == "the-general-reel-1" and pub.clip == clip and pub.film == clip.film
    assert pub.restored.name == variants[1].output.name and pub.has_audio
    assert pub.poster and pub.before and pub.after
    assert pub.vote_record["contests"][0]["n_ballots"] == 6

    with pytest.raises(publishing.PublishingError, match="Only a curator"):
        publishing.unpublish(pub, technician())
    with django_capture_on_commit_callbacks(execute=True):
        publishing.unpublish(pub, cur, "rights question")
    pub.refresh_from_db()
    review.refresh_from_db()
    assert not pub.is_public and pub.unpublished_by == cur
    assert review.status == Review.Status.APPROVED
    assert pub.vote_record["contests"][0]["n_ballots"] == 6 and pub.poster.storage.exists(pub.poster.name)
    assert review.events.last().comment == "rights question"
    with pytest.raises(publishing.PublishingError, match="not published"):
        publishing.unpublish(pub, cur)

    again = publishing.publish(review, cur, title="The General — Reel 1")
    assert again.pk == pub.pk and again.is_public and Publication.objects.count() == 1


def test_publish_a_full_film_without_contest(film_job):
    cur = curator()
    pub = publishing.publish(_approved(film_job, cur), cur, title="The General", year=1926)
    assert pub.kind == "film" and pub.clip is None and pub.restored.name == film_job.output.name
    assert pub.vote_record["contests"] == []


# --- gallery: caching and query counts -----------------------------------------------------------------------

def _many_publications(n: int) -> list[Publication]:
    out = []
    for k in range(n):
        film = FilmFactory(title=f"Film {k}")
        job = RenderJobFactory(film=film, status=RenderJob.Status.DONE, output=f"renders/film-{k}.mp4")
        review = ReviewFactory(variant=None, render_job=job, status=Review.Status.PUBLISHED)
        out.append(PublicationFactory(
            review=review, film=film, slug=f"film-{k}", title=f"Film {k}", restored=job.output.name,
            poster=f"publications/{k}/poster.jpg", is_public=True, published_at=job.created_at,
            vote_record={"available": True, "contests": []}))
    return out


def test_gallery_query_count_does_not_grow_with_the_catalogue(client, django_assert_max_num_queries):
    _many_publications(12)
    with django_assert_max_num_queries(2):
        response = client.get(reverse("gallery"))
    assert response.status_code == 200
    assert response.content.decode().count('class="work"') == 12
    publication = Publication.objects.first()
    with django_assert_max_num_queries(3):
        assert client.get(publication.get_absolute_url()).status_code == 200


def test_anonymous_gallery_is_cached_and_refreshed_on_publish(client, django_capture_on_commit_callbacks,
                                                             django_assert_num_queries):
    (pub,) = _many_publications(1)
    first = client.get(reverse("gallery"))
    assert first["X-Page-Cache"] == "miss" and "public" in first["Cache-Control"]
    assert "max-age=60" in first["Cache-Control"] and "Cookie" in first["Vary"]
    with django_assert_num_queries(0):
        second = client.get(reverse("gallery"))
    assert second["X-Page-Cache"] == "hit" and second.content == first.content
    with django_capture_on_commit_callbacks(execute=True):
        publishing.unpublish(pub, curator())
    third = client.get(reverse("gallery"))
    assert third["X-Page-Cache"] == "miss" and b"Film 0" not in third.content
    assert client.get(pub.get_absolute_url()).status_code == 404


def test_logged_in_pages_are_private(client):
    _many_publications(1)
    client.force_login(curator())
    response = client.get(reverse("gallery"))
    assert "private" in response["Cache-Control"] and "X-Page-Cache" not in response


def test_dashboard_query_count_is_bounded(client, django_assert_max_num_queries, clip, variants, film_job):
    cur = curator()
    rv.add_note(rv.open_review(variants[0], cur), cur, frame=0, x=0.1, y=0.1, text="too warm")
    rv.open_review(film_job, cur)
    client.force_login(technician())
    with django_assert_max_num_queries(20) as small:
        client.get(reverse("dashboard"))
    for k in range(4):  # more films, clips, variants and reviews: the same number of queries
        film = FilmFactory(title=f"extra {k}")
        extra = ClipFactory(film=film, source=clip.source.name, status="ready")
        variant = VariantFactory(clip=extra, preset_version=variants[0].preset_version,
                                 spec=variants[0].spec, end_frame=24,
                                 status=Variant.Status.DONE, output=variants[0].output.name)
        rv.add_note(rv.open_review(variant, cur), cur, frame=0, x=0.5, y=0.5, text=f"note {k}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(reverse("dashboard"))
    page = response.content.decode()
    assert "too warm" in page and "note 3" in page and "pending review" in page
    assert len(list(dashboard_films())) == Film.objects.count()


# --- film look ------------------------------------------------------------------------------------------------

def test_outliers_are_flagged_against_the_median_of_the_others():
    def look(luma, cast_r=0.0):
        return ClipLook(clip=None, preset="", source="", stats={
            "luma": luma, "contrast": 0.7, "saturation": 0.1, "cast_r": cast_r, "cast_b": 0.0})

    looks = flag_outliers([look(0.45), look(0.47), look(0.46), look(0.62, cast_r=0.2)])
    assert [bool(x.flags) for x in looks] == [False, False, False, True]
    assert set(looks[3].flags) == {"luma", "cast_r"} and looks[3].flags["luma"] == pytest.approx(0.16)


def test_film_look_measures_the_restored_clips(clip, variants, film_job, tmp_path):
    second = ready_clip(make_video(tmp_path / "b.mp4", frames=12, width=64, height=48), clip.film, "Reel 2")
    result = film_look(clip.film)
    assert result["job"] == film_job
    first_row, second_row = result["looks"]
    assert first_row.clip == clip and first_row.source == "film render"
    assert 0 < first_row.stats["luma"] < 1 and first_row.preset == str(film_job.preset_version)
    # this film render stops after the first clip: the second cannot be measured, and says so
    assert second_row.clip == second and second_row.error.startswith("could not measure")
    assert not second_row.stats and not second_row.flags
