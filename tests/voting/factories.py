"""factory_boy factories for the voting models.

A contest opened the way the site opens one (blind labels, checks) is
``tests.voting.voting_factories.make_contest``, which goes through the service.
"""

from __future__ import annotations

import string

import factory
from django.utils import timezone

from tests.factories import ClipFactory, VariantFactory
from voting.models import Ballot, Contest, ContestEntry, Exclusion, Pairing, Rater, ScreeningCode


class ContestFactory(factory.django.DjangoModelFactory):
    """A bare contest row (no entries)."""

    class Meta:
        model = Contest

    clip = factory.SubFactory(ClipFactory)


class ContestEntryFactory(factory.django.DjangoModelFactory):
    """A contest entry: by default a new variant of the contest's clip."""

    class Meta:
        model = ContestEntry

    contest = factory.SubFactory(ContestFactory)
    variant = factory.SubFactory(VariantFactory, clip=factory.SelfAttribute("..contest.clip"))
    label = factory.Sequence(lambda n: string.ascii_uppercase[n % 26] + str(n // 26 or ""))


class RaterFactory(factory.django.DjangoModelFactory):
    """A fan's session. ``ready=True``: one that has solved the proof of work."""

    class Meta:
        model = Rater

    class Params:
        ready = factory.Trait(pow_solved_at=factory.LazyFunction(timezone.now), pow_bits=16)


class PairingFactory(factory.django.DjangoModelFactory):
    """A pair served to a rater (two new entries of a new contest unless given)."""

    class Meta:
        model = Pairing

    contest = factory.SubFactory(ContestFactory)
    rater = factory.SubFactory(RaterFactory, ready=True)
    left = factory.SubFactory(ContestEntryFactory, contest=factory.SelfAttribute("..contest"))
    right = factory.SubFactory(ContestEntryFactory, contest=factory.SelfAttribute("..contest"))


class GoldenPairingFactory(PairingFactory):
    """A golden pair showing one entry on both sides: the right answer is "same"."""

    right = factory.SelfAttribute("left")
    is_golden = True
    golden_kind = Pairing.GoldenKind.IDENTICAL
    golden_expected = "same"
    reason = "golden"


class BallotFactory(factory.django.DjangoModelFactory):
    """A ballot written straight to the table (no integrity checks) on its pairing's pair;
    the unordered pair key is the smaller entry id first."""

    class Meta:
        model = Ballot

    pairing = factory.SubFactory(PairingFactory)
    contest = factory.SelfAttribute("pairing.contest")
    rater = factory.SelfAttribute("pairing.rater")
    left = factory.SelfAttribute("pairing.left")
    right = factory.SelfAttribute("pairing.right")
    entry_low_id = factory.LazyAttribute(lambda o: min(o.left.pk, o.right.pk))
    entry_high_id = factory.LazyAttribute(lambda o: max(o.left.pk, o.right.pk))
    choice = Ballot.Choice.LEFT
    watched_left_seconds = 5
    watched_right_seconds = 5
    served_at = factory.LazyFunction(timezone.now)


class ScreeningCodeFactory(factory.django.DjangoModelFactory):
    """An unused screening code of a new contest."""

    class Meta:
        model = ScreeningCode

    contest = factory.SubFactory(ContestFactory)
    seat = factory.Sequence(lambda n: str(n + 1))


class ExclusionFactory(factory.django.DjangoModelFactory):
    """A rater shadow-excluded from a contest by an anomaly rule."""

    class Meta:
        model = Exclusion

    contest = factory.SubFactory(ContestFactory)
    rater = factory.SubFactory(RaterFactory, ready=True)
    reason = "machine_timing"
    cluster = factory.LazyAttribute(lambda o: f"rater {o.rater.pk}")
    detail = "machine-regular timing"


def ready_rater(**fields) -> Rater:
    """A rater who has solved the proof of work."""
    return RaterFactory(ready=True, **fields)
