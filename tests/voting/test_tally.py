"""Tests for voting.tally: trust-tier weights, anomaly exclusions kept with their reason,
votes per tier, and the public figures that never reveal an exclusion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import UserFactory
from tests.voting.factories import ExclusionFactory, ready_rater
from tests.voting.voting_factories import make_contest, vote
from voting import tally
from voting.models import Ballot, Exclusion, Tier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.VOTING_BOOTSTRAP = 40
    settings.VOTING_RATINGS_COOLDOWN = 0


def prefer(label):
    return lambda p: (
        "left" if p.left.label == label else ("right" if p.right.label == label else "same")
    )


def test_ballot_weight_is_the_tier_weight_times_reliability_and_zero_when_excluded():
    contest = make_contest(2, weight_anonymous=0.25, weight_screening=2.0, weight_account=1.5)
    assert (
        tally.ballot_weight(contest, tier=Tier.ANONYMOUS, reliability_weight=0.8, excluded=False)
        == 0.2
    )
    assert (
        tally.ballot_weight(contest, tier=Tier.SCREENING, reliability_weight=0.5, excluded=False)
        == 1.0
    )
    assert (
        tally.ballot_weight(contest, tier=Tier.ACCOUNT, reliability_weight=1.0, excluded=False)
        == 1.5
    )
    assert (
        tally.ballot_weight(contest, tier=Tier.ACCOUNT, reliability_weight=1.0, excluded=True)
        == 0.0
    )
    assert (
        tally.ballot_weight(contest, tier=Tier.ACCOUNT, reliability_weight=-1.0, excluded=False)
        == 0.0
    )


def test_a_tier_weighed_at_zero_does_not_move_the_ranking_but_is_counted_per_tier():
    contest = make_contest(3, golden_rate=0, min_raters=1, weight_anonymous=0.0)
    for _ in range(3):
        rater = ready_rater(user=UserFactory())
        while vote(contest, rater, chooser=prefer("A")):
            pass
    baseline, _ = tally.compute(contest)
    for _ in range(4):
        rater = ready_rater()
        while vote(contest, rater, chooser=prefer("C")):
            pass
    result, payload = tally.compute(contest)
    assert [i.item for i in result.items] == [i.item for i in baseline.items]
    assert result.items[0].item == "A"
    assert payload["tiers"]["account"] == {
        "label": "signed-in account",
        "ballots": 9,
        "raters": 3,
        "weight": 1.0,
    }
    assert (
        payload["tiers"]["anonymous"]["ballots"] == 12
        and payload["tiers"]["anonymous"]["weight"] == 0.0
    )
    assert payload["tiers"]["screening"]["ballots"] == 0
    assert payload["n_raters"] == 7  # everyone counted in public


def _regular(contest, rater):
    """Make a rater's ballots machine-regular: served, then voted 6.0 s later, every 60 s."""
    start = Ballot.objects.filter(rater=rater).order_by("id").first().cast_at
    for k, ballot in enumerate(Ballot.objects.filter(rater=rater).order_by("id")):
        served = start + timedelta(seconds=60 * k)
        Ballot.objects.filter(pk=ballot.pk).update(
            served_at=served, cast_at=served + timedelta(seconds=6)
        )


def test_an_anomalous_rater_is_shadow_excluded_with_the_reason_kept_and_the_exclusion_can_lapse():
    contest = make_contest(4, golden_rate=0, min_raters=1)
    honest = [ready_rater(user=UserFactory()) for _ in range(2)]
    for rater in honest:
        while vote(contest, rater, chooser=prefer("A")):
            pass
    bot = ready_rater()
    while vote(contest, bot, chooser=prefer("D")):
        pass
    assert Ballot.objects.filter(rater=bot).count() == 6
    _regular(contest, bot)
    result, payload = tally.compute(contest)
    exclusion = Exclusion.objects.get(contest=contest, rater=bot)
    assert exclusion.reason == "machine_timing" and "6.0 s" in exclusion.detail
    assert tally.excluded_rater_ids(contest) == {bot.pk}
    assert payload["n_excluded"] == 1 and payload["n_raters"] == 3 and payload["n_ballots"] == 18
    d = next(i for i in result.items if i.item == "D")
    assert d.wins == 0  # the bot's wins for D weigh nothing
    # Irregular again (say a technician's data fix): the finding lapses and so does the exclusion.
    for k, ballot in enumerate(Ballot.objects.filter(rater=bot).order_by("id")):
        think = (6, 20, 9, 31, 12, 25)[k]
        Ballot.objects.filter(pk=ballot.pk).update(
            cast_at=ballot.served_at + timedelta(seconds=think)
        )
    tally.compute(contest)
    assert not Exclusion.objects.filter(contest=contest).exists()


def test_store_exclusions_creates_updates_and_removes_rows():
    contest = make_contest(2)
    keep, drop = ExclusionFactory(contest=contest), ExclusionFactory(contest=contest)
    from voting.stats.anomalies import Finding

    new = ready_rater()
    ids = tally.store_exclusions(
        contest,
        [
            Finding(keep.reason, "cluster X", frozenset({str(keep.rater_id)}), "new figures"),
            Finding("user_agent_cluster", "ua", frozenset({str(new.pk)}), "12 of 20"),
        ],
    )
    assert ids == {keep.rater_id, new.pk}
    rows = {(e.rater_id, e.reason): e for e in Exclusion.objects.filter(contest=contest)}
    assert (drop.rater_id, drop.reason) not in rows
    assert rows[(keep.rater_id, keep.reason)].detail == "new figures"
    assert rows[(keep.rater_id, keep.reason)].cluster == "cluster X"
    assert rows[(new.pk, "user_agent_cluster")].detail == "12 of 20"
