"""Database-level integrity of the voting models: the rules hold even for code that
bypasses the services (a race, a script, the admin)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.voting.factories import BallotFactory, ContestEntryFactory, PairingFactory, ready_rater
from tests.voting.voting_factories import make_contest
from voting.models import Ballot, Pairing

pytestmark = pytest.mark.django_db


def _ballot(contest, rater, left, right, **fields) -> Ballot:
    """A ballot written straight to the table, on a new pairing of ``left`` and ``right``."""
    pairing = PairingFactory(contest=contest, rater=rater, left=left, right=right)
    return BallotFactory(pairing=pairing, **fields)


def test_one_ballot_per_rater_per_unordered_pair_is_a_database_constraint():
    contest = make_contest(3)
    a, b, c = contest.entries.order_by("label")
    rater = ready_rater()
    _ballot(contest, rater, a, b)
    with pytest.raises(IntegrityError), transaction.atomic():
        _ballot(contest, rater, b, a)  # sides swapped: still the same unordered pair
    _ballot(contest, rater, a, c)  # another pair is fine
    _ballot(contest, ready_rater(), a, b)  # another rater is fine
    assert Ballot.objects.count() == 3


def test_pair_key_must_be_ordered_and_a_pairing_holds_one_ballot():
    contest = make_contest(2)
    a, b = contest.entries.order_by("pk")
    rater = ready_rater()
    with pytest.raises(IntegrityError), transaction.atomic():
        _ballot(contest, rater, a, b, entry_low_id=b.pk, entry_high_id=a.pk)
    first = _ballot(contest, rater, a, b)
    with pytest.raises(IntegrityError), transaction.atomic():
        BallotFactory(contest=contest, rater=ready_rater(), pairing=first.pairing, left=a, right=b,
                      entry_low_id=a.pk, entry_high_id=b.pk, choice="same")


def test_labels_and_variants_are_unique_within_a_contest():
    contest = make_contest(2)
    entry = contest.entries.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        ContestEntryFactory(contest=contest, variant=entry.variant, label="Z")
    other = make_contest(2).entries.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        ContestEntryFactory(contest=contest, variant=other.variant, label=entry.label)


def test_contest_settings_are_checked_by_the_database():
    contest = make_contest(2)
    contest.golden_rate = 0.9
    with pytest.raises(IntegrityError), transaction.atomic():
        contest.save()


def test_golden_correctness_and_rater_exclusion_properties():
    contest = make_contest(2)
    a = contest.entries.first()
    rater = ready_rater()
    ballot = _ballot(contest, rater, a, a, choice="left", is_golden=True, golden_expected="same")
    assert ballot.golden_correct is False
    assert _ballot(contest, ready_rater(), a, a, choice="same", is_golden=True,
                   golden_expected="same").golden_correct is True
    rater.excluded_by_staff = True
    assert rater.excluded and str(contest).startswith("contest")
    assert contest.get_absolute_url() == f"/vote/c/{contest.slug}/" and contest.topic == f"contest-{contest.pk}"


def test_a_contest_is_deleted_with_its_ballots_but_its_variants_are_protected():
    from django.db.models import ProtectedError

    contest = make_contest(2)
    a, b = contest.entries.order_by("pk")
    _ballot(contest, ready_rater(), a, b)
    with pytest.raises(ProtectedError), transaction.atomic():
        a.variant.delete()  # a variant that was voted on keeps its audit trail
    contest.delete()
    assert not Ballot.objects.exists() and not Pairing.objects.exists()
