"""factory_boy factories for the curation models (restoration.curation)."""

from __future__ import annotations

import factory

from restoration.curation.models import Publication, Review, ReviewEvent, ReviewNote
from tests.factories import RenderJobFactory, VariantFactory


class ReviewFactory(factory.django.DjangoModelFactory):
    """A review of a variant; give ``render_job`` (and ``variant=None``) for a film render.
    ``film=True``: a review of a new full-film render instead."""

    class Meta:
        model = Review

    class Params:
        film = factory.Trait(variant=None, render_job=factory.SubFactory(RenderJobFactory))

    variant = factory.SubFactory(VariantFactory)
    render_job = None


class ReviewEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewEvent

    review = factory.SubFactory(ReviewFactory)
    from_status = ""
    to_status = Review.Status.PENDING


class ReviewNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewNote

    review = factory.SubFactory(ReviewFactory)
    frame = 0
    x = 0.5
    y = 0.5
    text = factory.Sequence(lambda n: f"note {n}")


def _film_of(review: Review):
    return review.render_job.film if review.render_job_id else review.variant.clip.film


class PublicationFactory(factory.django.DjangoModelFactory):
    """A public gallery entry of a published full-film review; it plays the render's output."""

    class Meta:
        model = Publication

    review = factory.SubFactory(ReviewFactory, film=True, status=Review.Status.PUBLISHED,
                                render_job__status="done", render_job__output="renders/film.mp4")
    film = factory.LazyAttribute(lambda o: _film_of(o.review))
    clip = None
    slug = factory.Sequence(lambda n: f"film-{n}")
    title = factory.Sequence(lambda n: f"Film {n}")
    restored = factory.LazyAttribute(lambda o: o.review.target.output.name)
    is_public = True


# The specs here are stored as written (not in canonical form, which fills in every
# default parameter): the curation tests' spec diffs are read against exactly these.
BASE_SPEC = {"ops": [{"op": "colour_scheme", "params": {"look": "warm_period", "amount": 0.6}}], "seed": 0}
RENDERED = {"end_frame": 24, "frames": 24, "metrics": {"noise_sigma_after": 0.01}}  # 24 frames out of 24
