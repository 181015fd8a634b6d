"""restoration.curation.services.publishing: spec diff, vote record, publish and unpublish."""

from __future__ import annotations

import random

import pytest

from restoration.curation.models import Publication, Review
from restoration.curation.services import publishing
from restoration.curation.services import review as rv
from tests.factories import (
    curator,
    technician,
)
from tests.restoration.curation.factories import PublicationFactory

pytestmark = pytest.mark.django_db


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


def test_a_chinese_title_gets_a_readable_unique_address(film_job):
    PublicationFactory(slug="武状元苏乞儿")  # an earlier work under the same title
    cur = curator()
    pub = publishing.publish(_approved(film_job, cur), cur, title="《武状元苏乞儿》", year=1992)
    assert pub.slug == "武状元苏乞儿-2"
    assert pub.get_absolute_url() == "/gallery/%E6%AD%A6%E7%8A%B6%E5%85%83%E8%8B%8F%E4%B9%9E%E5%84%BF-2/"


@pytest.mark.parametrize(("title", "slug"), [
    ("武状元苏乞儿", "武状元苏乞儿"),
    ("東邪西毒 Ashes of Time", "東邪西毒-ashes-of-time"),
    ("Броненосец «Потёмкин»", "броненосец-потёмкин"),
    ("The General — Reel 1", "the-general-reel-1"),
    ("《》！？", "work"),
])
def test_titles_in_any_script_keep_their_words(title, slug):
    assert publishing._unique_slug(title) == slug
