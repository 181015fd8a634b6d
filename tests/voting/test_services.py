"""Voting services: contests, pairs, heartbeats, ballots and every integrity rule."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from frontend.live import outbox
from restoration.models import PresetVersion, RenderJob, Variant
from restoration.rendering import adoption
from restoration.rendering.film import FilmRenderError
from tests.factories import ClipFactory, UserFactory, VariantFactory, technician
from tests.voting.factories import (
    ExclusionFactory,
    GoldenPairingFactory,
    PairingFactory,
    RaterFactory,
    ScreeningCodeFactory,
    ready_rater,
)
from tests.voting.voting_factories import attacked_crowd, fetch_media, make_contest, vote, watch
from voting import integrity, services, tally
from voting.integrity import (
    ContestClosed,
    DuplicateBallot,
    NotFound,
    ProofOfWorkRequired,
    RateLimited,
    VotingError,
    WatchTimeTooShort,
)
from voting.models import Ballot, Contest, Exclusion, Pairing, Tier
from voting.stats.ranking import SITE_DEFAULT_RULE, Comparison, RankingConfig, rank


def _render_cannot_start(film, preset_version, user):
    raise FilmRenderError(f"clip of {film} is not ready")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_ratings(settings):
    settings.VOTING_BOOTSTRAP = 40  # intervals are not what these tests are about
    settings.VOTING_RATINGS_COOLDOWN = 0  # recompute after every ballot, in this thread


# --------------------------------------------------------------------------- contests


def test_open_contest_labels_variants_blindly_and_validates_them():
    clip = ClipFactory()
    variants = VariantFactory.create_batch(4, clip=clip)
    contest = services.open_contest(clip=clip, variants=variants, user=technician(), rng=random.Random(3))
    entries = list(contest.entries.order_by("label"))
    assert [e.label for e in entries] == ["A", "B", "C", "D"]
    assert {e.variant_id for e in entries} == {v.pk for v in variants}
    # Labels are shuffled: with this seed "A" is not simply the first variant created.
    assert [e.variant_id for e in entries] != [v.pk for v in variants]
    assert contest.status == Contest.Status.OPEN and len(contest.slug) >= 12

    with pytest.raises(VotingError, match="between 2 and"):
        services.open_contest(clip=clip, variants=variants[:1])
    other = VariantFactory()  # of another clip
    with pytest.raises(VotingError, match="another clip"):
        services.open_contest(clip=clip, variants=[variants[0], other])
    unfinished = VariantFactory(clip=clip)
    Variant.objects.filter(pk=unfinished.pk).update(status=Variant.Status.RENDERING)
    unfinished.refresh_from_db()
    with pytest.raises(VotingError, match="not finished"):
        services.open_contest(clip=clip, variants=[variants[0], unfinished])
    elsewhere = VariantFactory(clip=clip)
    Variant.objects.filter(pk=elsewhere.pk).update(start_frame=100, end_frame=148)
    elsewhere.refresh_from_db()
    with pytest.raises(VotingError, match="same excerpt"):
        services.open_contest(clip=clip, variants=[variants[0], elsewhere])
    with pytest.raises(VotingError, match="Unknown contest settings"):
        services.open_contest(clip=clip, variants=variants[:2], status="decided")


def test_qr_codes_encode_the_link_as_svg_and_png():
    contest = make_contest(2)
    url = services.contest_url(contest, "https://arena.example.org/")
    assert url == f"https://arena.example.org/vote/c/{contest.slug}/"
    svg = services.qr_code(url, "svg")
    assert svg.startswith(b"<svg") and b"<path" in svg
    assert services.qr_code(url, "png").startswith(b"\x89PNG")
    with pytest.raises(VotingError):
        services.qr_code(url, "gif")


def test_closed_contest_takes_no_pairs_or_ballots():
    contest = make_contest(2)
    rater = ready_rater()
    pairing = services.next_pairing(contest, rater)
    watch(contest, rater, pairing, 5)
    services.close_contest(contest)
    contest.refresh_from_db()
    with pytest.raises(ContestClosed):
        services.next_pairing(contest, rater)
    with pytest.raises(ContestClosed):
        services.cast_ballot(contest, rater, pairing.pk, "left")
    assert not Ballot.objects.exists()
    services.reopen_contest(contest)
    contest.refresh_from_db()
    assert services.cast_ballot(contest, rater, pairing.pk, "left").pk


# --------------------------------------------------------------------------- pairs


def test_unanswered_pair_is_served_again_and_sides_are_random_and_recorded():
    contest = make_contest(4, golden_rate=0)
    rater = ready_rater()
    first = services.next_pairing(contest, rater)
    assert services.next_pairing(contest, rater).pk == first.pk  # a reload does not re-roll
    orders = set()
    for _ in range(30):
        other = ready_rater()
        p = services.next_pairing(contest, other)
        orders.add(p.left.label < p.right.label)
    assert orders == {True, False}  # both screen orders occur
    assert first.left_id != first.right_id and first.reason


def test_a_rater_never_gets_a_pair_twice_and_is_done_after_all_pairs():
    contest = make_contest(3, golden_rate=0)
    rater = ready_rater()
    seen = []
    while (ballot := vote(contest, rater)) is not None:
        seen.append(frozenset((ballot.left.label, ballot.right.label)))
    assert len(seen) == 3 and len(set(seen)) == 3
    assert services.next_pairing(contest, rater) is None


def test_pair_selection_posterior_is_cached_per_version_and_warm_started(monkeypatch):
    contest = make_contest(4, golden_rate=0)
    fits = []
    real = services.fit_posterior
    monkeypatch.setattr(services, "fit_posterior",
                        lambda table, options, start: fits.append((int(table.raw.sum()), start)) or
                        real(table, options, start))
    services.next_pairing(contest, ready_rater())
    services.next_pairing(contest, ready_rater())  # no new ballot: the cached posterior serves
    assert fits == [(0, None)]
    vote(contest, ready_rater())  # serves a pair (cached), then one ballot arrives
    services.next_pairing(contest, ready_rater())
    assert len(fits) == 2 and fits[1][0] == 1
    assert fits[1][1] is not None  # refitted from the previous posterior


def test_golden_pairs_are_served_among_the_first_ballots():
    contest = make_contest(5, golden_rate=0.1, decoy=True)
    rater = ready_rater()
    pairings = []
    for _ in range(4):
        p = services.next_pairing(contest, rater, rng=np.random.default_rng(1))
        watch(contest, rater, p, 4)
        services.cast_ballot(contest, rater, p.pk, "same")
        pairings.append(p)
    golden = [p for p in pairings if p.is_golden]
    assert golden, "GoldenPolicy.first_by guarantees a golden among the first four ballots"
    for p in golden:
        if p.golden_kind == Pairing.GoldenKind.IDENTICAL:
            assert p.left_id == p.right_id and p.golden_expected == "same"
        else:
            clean = p.left if p.golden_expected == "left" else p.right
            damaged = p.right if p.golden_expected == "left" else p.left
            assert damaged.decoy_of_id == clean.pk
    # A decoy never competes in a normal pair.
    assert not any(p.left.is_decoy or p.right.is_decoy for p in pairings if not p.is_golden)


# --------------------------------------------------------------------------- watch time


def test_heartbeats_credit_server_time_capped_and_only_to_visible_playing_sides(settings):
    settings.VOTING_HEARTBEAT_MAX_CREDIT = 2.5
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    p = services.next_pairing(contest, rater)
    fetch_media(p)
    t0 = timezone.now() - timedelta(seconds=60)
    # The player's position advances with the clock (it is 2 s long and loops: 31 s -> 1 s).
    beat = lambda dt, **kw: services.record_heartbeat(  # noqa: E731
        contest, rater, p.pk, now=t0 + timedelta(seconds=dt), position=float(dt % 2), **kw)
    assert beat(0, visible="both", playing=True).watched_left_seconds == 0  # the first beat only starts the clock
    p1 = beat(1, visible="both", playing=True)
    assert (p1.watched_left_seconds, p1.watched_right_seconds) == (1.0, 1.0)
    p2 = beat(31, visible="both", playing=True)  # the tab slept for 30 s: only the cap is credited
    assert p2.watched_left_seconds == pytest.approx(3.5)
    p3 = beat(32, visible="left", playing=True)  # toggle mode showing the left side
    assert (p3.watched_left_seconds, p3.watched_right_seconds) == (4.5, 3.5)
    p4 = beat(33, visible="both", playing=False)  # paused: nothing
    assert (p4.watched_left_seconds, p4.watched_right_seconds) == (4.5, 3.5)
    # A flood of heartbeats in one instant cannot add time either.
    for _ in range(20):
        p5 = beat(33, visible="both", playing=True)
    assert p5.watched_right_seconds == 3.5
    with pytest.raises(VotingError):
        beat(34, visible="everything", playing=True)


def test_no_watch_time_before_both_sides_media_were_served():
    contest = make_contest(2, golden_rate=0, min_watch_seconds=2)
    rater = ready_rater()
    p = services.next_pairing(contest, rater)
    p = watch(contest, rater, p, 5, fetched=False)  # heartbeats without fetching any picture
    assert (p.watched_left_seconds, p.watched_right_seconds) == (0, 0)
    assert p.rejected_heartbeats == 6 and p.credited_heartbeats == 0  # the first beat only starts the clock
    services.record_media_served(p, "left", 1000)  # one side only: still nothing
    p = watch(contest, rater, p, 5, fetched=False)
    assert p.watched_left_seconds == 0
    with pytest.raises(WatchTimeTooShort):
        services.cast_ballot(contest, rater, p.pk, "left")
    services.record_media_served(p, "right", 2000)
    p = watch(contest, rater, p, 3, fetched=False)
    assert p.watched_left_seconds >= 2 and p.credited_heartbeats == 4
    ballot = services.cast_ballot(contest, rater, p.pk, "left")
    assert ballot.evidence == {"media_left_bytes": 1000, "media_right_bytes": 2000, "media_left_requests": 1,
                               "media_right_requests": 1, "credited_heartbeats": 4, "rejected_heartbeats": 12}


def test_heartbeats_whose_player_clock_does_not_move_earn_nothing():
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    p = services.next_pairing(contest, rater)
    fetch_media(p)
    t0 = timezone.now() - timedelta(seconds=60)

    def beat(dt: float, position: float | None) -> Pairing:
        return services.record_heartbeat(contest, rater, p.pk, visible="both", playing=True,
                                         position=position, now=t0 + timedelta(seconds=dt))

    beat(0, 0.0)
    assert beat(1, 0.0).watched_left_seconds == 0  # frozen: a script that plays nothing
    assert beat(2, None).watched_left_seconds == 0  # no position at all
    assert beat(3, 0.5).watched_left_seconds == 0  # the clock restarts from the previous beat's None
    assert beat(4, 1.5).watched_left_seconds == 1.0  # moved 1 s in 1 s: credited
    assert beat(5, 1.5 + 20).watched_left_seconds == 1.0  # jumped ahead 20 s in 1 s
    assert beat(6, 22.5).watched_left_seconds == 2.0
    with pytest.raises(VotingError):
        beat(7, -3.0)


@pytest.mark.parametrize(("previous", "position", "elapsed", "loop", "ok"), [
    (0.0, 1.0, 1.0, None, True), (0.0, 1.1, 1.0, 2.0, True), (1.5, 0.5, 1.0, 2.0, True),  # looped
    (0.0, 0.0, 1.0, 2.0, False), (0.0, 0.0, 1.0, None, False), (None, 1.0, 1.0, None, False),
    (0.0, 5.0, 1.0, None, False), (0.0, 1.0, 0.0, None, False),
])
def test_playback_consistency(previous, position, elapsed, loop, ok):
    assert services.playback_consistent(previous, position, elapsed, loop) is ok


def test_vote_before_the_minimum_watch_time_is_rejected():
    contest = make_contest(2, golden_rate=0, min_watch_seconds=4)
    rater = ready_rater()
    p = services.next_pairing(contest, rater)
    with pytest.raises(WatchTimeTooShort, match="at least 4 s"):
        services.cast_ballot(contest, rater, p.pk, "left")
    watch(contest, rater, p, 6, visible="left")  # only one side watched
    with pytest.raises(WatchTimeTooShort):
        services.cast_ballot(contest, rater, p.pk, "left")
    watch(contest, rater, p, 4, visible="right")
    ballot = services.cast_ballot(contest, rater, p.pk, "left")
    assert ballot.watched_left_seconds >= 4 and ballot.watched_right_seconds >= 4
    assert ballot.heartbeats >= 10


# --------------------------------------------------------------------------- duplicates


def test_duplicate_ballot_on_the_same_pairing_is_rejected():
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    ballot = vote(contest, rater)
    with pytest.raises(DuplicateBallot, match="already voted"):
        services.cast_ballot(contest, rater, ballot.pairing_id, "right")
    assert Ballot.objects.count() == 1 and Ballot.objects.get().choice == "left"


def test_second_pairing_of_the_same_unordered_pair_hits_the_database_constraint():
    """Even if a pair were served twice (sides swapped), the constraint keeps one ballot."""
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    first = vote(contest, rater)
    again = PairingFactory(contest=contest, rater=rater, left=first.right, right=first.left)
    watch(contest, rater, again, 5)
    with pytest.raises(DuplicateBallot):
        services.cast_ballot(contest, rater, again.pk, "right")
    assert Ballot.objects.filter(rater=rater).count() == 1
    assert not Pairing.objects.get(pk=again.pk).answered


def test_pairing_of_another_rater_is_not_found():
    contest = make_contest(2, golden_rate=0)
    owner, thief = ready_rater(), ready_rater()
    p = services.next_pairing(contest, owner)
    watch(contest, owner, p, 5)
    with pytest.raises(integrity.NotFound):
        services.cast_ballot(contest, thief, p.pk, "left")


# --------------------------------------------------------------------------- rate limits


def test_rate_limit_per_session(settings):
    settings.VOTING_BALLOTS_PER_RATER = 2
    contest = make_contest(4, golden_rate=0)
    rater = ready_rater()
    vote(contest, rater)
    vote(contest, rater)
    with pytest.raises(RateLimited, match="this browser") as err:
        vote(contest, rater)
    assert 0 < err.value.retry_after <= 601
    assert Ballot.objects.filter(rater=rater).count() == 2
    assert vote(contest, ready_rater()) is not None  # other sessions are unaffected


def test_rate_limit_per_ip(settings):
    settings.VOTING_BALLOTS_PER_IP = 3
    contest = make_contest(2, golden_rate=0)
    for _ in range(3):
        vote(contest, ready_rater(), ip="203.0.113.7")
    with pytest.raises(RateLimited, match="this network"):
        vote(contest, ready_rater(), ip="203.0.113.7")
    assert vote(contest, ready_rater(), ip="198.51.100.1") is not None
    assert Ballot.objects.count() == 4


def test_rate_limit_counters_are_atomic_cache_counters_per_window():
    rule = services.conf.RateLimit(limit=3, window_seconds=60)
    counts = [integrity.hit("t", "k", rule, now=1200.0)[0] for _ in range(4)]
    assert counts == [1, 2, 3, 4]
    assert integrity.hit("t", "k", rule, now=1260.0)[0] == 1  # next window starts again
    with pytest.raises(RateLimited):
        for _ in range(4):
            integrity.check_rate("t2", "k", rule, "things", now=1200.0)


# --------------------------------------------------------------------------- proof of work


def test_proof_of_work_is_required_once_and_verified(settings):
    settings.VOTING_POW_BITS = 10
    contest = make_contest(3, golden_rate=0)
    rater = RaterFactory()  # has not solved the proof of work
    p = services.next_pairing(contest, rater)
    watch(contest, rater, p, 5)
    with pytest.raises(ProofOfWorkRequired):
        services.cast_ballot(contest, rater, p.pk, "left")

    challenge = services.pow_challenge(rater)
    assert challenge["bits"] == 10
    bad = next(str(n) for n in range(10_000)
               if integrity.leading_zero_bits(integrity.pow_digest(challenge["challenge"], str(n))) < 10)
    with pytest.raises(ProofOfWorkRequired, match="difficulty"):
        services.submit_pow(rater, challenge["challenge"], bad)
    other = RaterFactory()
    stolen = services.pow_challenge(other)["challenge"]
    with pytest.raises(ProofOfWorkRequired, match="another session"):
        services.submit_pow(rater, stolen, integrity.solve(stolen, 10))
    with pytest.raises(ProofOfWorkRequired, match="not one this server issued"):
        services.submit_pow(rater, challenge["challenge"][:-2] + "xx", "1")

    nonce = integrity.solve(challenge["challenge"], 10)
    services.submit_pow(rater, challenge["challenge"], nonce)
    rater.refresh_from_db()
    assert rater.pow_solved_at is not None and rater.pow_bits == 10
    assert services.pow_challenge(rater) is None  # once per session
    assert services.cast_ballot(contest, rater, p.pk, "left").pk


# --------------------------------------------------------------------------- goldens, weights, exclusion


def test_golden_answers_score_reliability_and_a_random_clicker_is_shadow_excluded():
    contest = make_contest(10, golden_rate=0.1)
    honest, clicker = ready_rater(), ready_rater()
    for entry in contest.entries.all():
        for rater, answer in ((honest, "same"), (clicker, "left")):
            p = GoldenPairingFactory(contest=contest, rater=rater, left=entry)
            watch(contest, rater, p, 4)
            services.cast_ballot(contest, rater, p.pk, answer)
    services.contest_ratings(contest)
    honest.refresh_from_db()
    clicker.refresh_from_db()
    assert (honest.golden_correct, honest.golden_total) == (10, 10)
    assert (clicker.golden_correct, clicker.golden_total) == (0, 10)
    assert honest.reliability > 0.9 and not honest.shadow_excluded
    # Ten answers that are all "same" also trip the always-same pattern flag: halved, kept.
    assert honest.flags == ["always_same"] and honest.weight == pytest.approx(0.5)
    assert clicker.reliability < 0.3 and clicker.shadow_excluded and clicker.weight == 0.0
    golden = Ballot.objects.filter(rater=clicker).first()
    assert golden.is_golden and golden.golden_correct is False


def test_shadow_excluded_ballots_are_accepted_but_weigh_nothing():
    contest = make_contest(3, golden_rate=0, min_raters=1)
    prefer_a = lambda p: "left" if p.left.label == "A" else ("right" if p.right.label == "A" else "same")  # noqa: E731
    prefer_c = lambda p: "left" if p.left.label == "C" else ("right" if p.right.label == "C" else "same")  # noqa: E731
    for _ in range(3):
        rater = ready_rater()
        while vote(contest, rater, chooser=prefer_a):
            pass
    baseline = services.contest_ratings(contest)
    saboteurs = [ready_rater(excluded_by_staff=True) for _ in range(5)]
    for rater in saboteurs:
        while (ballot := vote(contest, rater, chooser=prefer_c)) is not None:
            assert ballot.pk  # accepted exactly like anyone else's
    assert Ballot.objects.filter(rater__in=saboteurs).count() == 15
    after = services.contest_ratings(contest)
    assert after["n_ballots"] == baseline["n_ballots"] + 15
    assert after["n_comparisons"] == baseline["n_comparisons"]  # weight 0: not in the model
    assert [i["label"] for i in after["items"]] == [i["label"] for i in baseline["items"]]
    for a, b in zip(after["items"], baseline["items"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)
    assert after["n_excluded"] == 5
    # Lifting the exclusion changes the result: the weights really were what kept them out.
    for rater in saboteurs:
        services.set_rater_excluded(rater, False)
    lifted = services.contest_ratings(contest)
    assert lifted["n_comparisons"] == baseline["n_comparisons"] + 15


def test_ratings_are_cached_per_version_and_recomputed_after_a_ballot(monkeypatch):
    contest = make_contest(2, golden_rate=0)
    calls = []
    real = tally.compute
    monkeypatch.setattr(tally, "compute", lambda c: calls.append(c.pk) or real(c))
    first = services.contest_ratings(contest)
    services.contest_ratings(contest)
    assert len(calls) == 1 and first["n_ballots"] == 0
    vote(contest, ready_rater())
    published = []
    monkeypatch.setattr(tally, "publish", lambda topic, payload: published.append((topic, payload)))
    fresh = services.after_ballot(contest)
    assert len(calls) == 2 and fresh["n_ballots"] == 1
    assert published and published[-1][0] == f"contest-{contest.pk}"
    assert services.contest_ratings(contest)["version"] == fresh["version"]
    assert len(calls) == 2


def test_recompute_is_single_flight(monkeypatch):
    contest = make_contest(2, golden_rate=0)
    from django.core.cache import cache

    cache.add(f"voting:ratings-lock:{contest.pk}", 1, timeout=60)  # someone else is computing
    assert tally.refresh(contest.pk) is None


# --------------------------------------------------------------------------- decision and adoption


def _decisive_votes(contest: Contest, raters: int = 6) -> None:
    prefer_b = lambda p: "left" if p.left.label == "B" else ("right" if p.right.label == "B" else "same")  # noqa: E731
    for _ in range(raters):
        rater = ready_rater()
        while (ballot := vote(contest, rater, chooser=prefer_b)) is not None:
            services.after_ballot(contest)
            contest.refresh_from_db()
            if not contest.is_open:
                return
            assert ballot.pk


def test_the_decision_rule_closes_the_contest_and_auto_adopts(monkeypatch):
    started = []
    monkeypatch.setattr(adoption, "start_film_render",
                        lambda film, pv, user: started.append((film.pk, pv.pk, user)) or RenderJob(pk=1))
    user = technician()
    contest = make_contest(3, golden_rate=0, min_raters=3, decision_method="probability",
                           p_best_threshold=0.9, auto_adopt=True, min_networks=1, min_decision_seconds=0)
    Contest.objects.filter(pk=contest.pk).update(created_by=user)
    contest.refresh_from_db()
    _decisive_votes(contest)
    contest.refresh_from_db()
    assert contest.status == Contest.Status.DECIDED and contest.winner.label == "B"
    assert "P(best)" in contest.decision_reason
    film = contest.clip.film
    film.refresh_from_db()
    assert film.adopted_preset == contest.winner.variant.preset_version
    assert started == [(film.pk, film.adopted_preset_id, user)]
    assert contest.adopted_at is not None and "started" in contest.adoption_note
    tally = services.contest_ratings(contest)
    assert tally["decision"]["decided"] and tally["decision"]["winner"] == "B"
    with pytest.raises(ContestClosed):
        services.next_pairing(contest, ready_rater())


def test_undecided_contest_reports_votes_still_needed():
    contest = make_contest(3, golden_rate=0, min_raters=50)
    _decisive_votes(contest, raters=6)  # 18 ballots: every variant compared 12 times
    tally = services.contest_ratings(contest)
    assert not tally["decision"]["decided"]
    assert "at least 50 raters" in tally["decision"]["reason"]
    assert tally["decision"]["more_votes"] is None or tally["decision"]["more_votes"] >= 0


def test_adopting_a_winner_with_overrides_saves_its_effective_spec(monkeypatch):
    monkeypatch.setattr(adoption, "start_film_render", _render_cannot_start)
    clip = ClipFactory()
    base = VariantFactory(clip=clip)
    tuned = VariantFactory(clip=clip, preset_version=base.preset_version, overrides={"grain.strength": 0.05})
    contest = services.open_contest(clip=clip, variants=[base, tuned], rng=random.Random(0))
    winner = contest.entries.get(variant=tuned)
    services.decide_contest(contest, winner.label, "test")
    contest = services.adopt_winner(contest, user=None)
    version = contest.clip.film.adopted_preset
    assert version.preset_id == base.preset_version.preset_id and version.number == 2
    assert version.spec == tuned.spec and version.spec_hash == tuned.spec_hash
    assert "not started" in contest.adoption_note  # the render could not start: adoption still recorded
    assert PresetVersion.objects.filter(preset=version.preset).count() == 2
    with pytest.raises(VotingError):
        services.adopt_winner(make_contest(2))


def test_export_has_every_ballot_with_its_context():
    contest = make_contest(3, golden_rate=0)
    rater = ready_rater()
    while vote(contest, rater, ip="192.0.2.5"):
        pass
    rows = list(services.export_ballots(contest))
    assert len(rows) == Ballot.objects.filter(contest=contest).count() == 3
    assert set(rows[0]) == set(services.EXPORT_FIELDS)
    row = rows[0]
    assert row["rater"] == rater.pk and row["choice"] == "left" and row["chosen_label"] == row["left_label"]
    assert row["ip_hash"] and "192.0.2.5" not in str(row)  # hashed, never stored in clear
    assert row["left_preset"].startswith("preset ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared_layer", [True, False], ids=["redis-layer", "embedded-outbox"])
def test_recomputes_are_spaced_by_a_cooldown_and_the_last_ballot_still_arrives(settings, monkeypatch,
                                                                              shared_layer):
    """Under a burst only one recompute per cool-down runs; a trailing one (on a timer)
    includes the ballots that arrived in between and publishes them: straight to the
    shared channel layer, or through the outbox the embedded web process relays."""
    import time

    from django.core.cache import cache

    from frontend.models import LiveEvent

    settings.VOTING_RATINGS_COOLDOWN = 1
    settings.CHANNEL_LAYER_SHARED = shared_layer
    published = []
    def capture(topic, payload):
        published.append(payload["n_ballots"])

    monkeypatch.setattr(tally, "publish", capture)
    monkeypatch.setattr(outbox, "publish", capture)  # the trailing recompute's thread
    contest = make_contest(3, golden_rate=0)
    vote(contest, ready_rater())
    assert services.after_ballot(contest)["n_ballots"] == 1
    # Hold the cool-down open however slow this machine is, so the next calls see it.
    cache.set(f"voting:ratings-cooldown:{contest.pk}", 1, timeout=120)
    vote(contest, ready_rater())
    vote(contest, ready_rater())
    assert services.after_ballot(contest) is None  # cooling down: no recompute in this request
    assert services.after_ballot(contest) is None

    def trailing_tallies() -> list[int]:
        outbox = [e.payload["n_ballots"] for e in LiveEvent.objects.filter(topic=contest.topic)]
        return published[1:] + outbox

    deadline = time.monotonic() + 60
    while trailing_tallies() != [3] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert published[0] == 1 and trailing_tallies() == [3]  # one trailing recompute, both ballots
    assert tally.cached(contest.pk)["n_ballots"] == 3


def test_adoption_starts_the_real_full_film_render():
    from restoration.models import RenderJob

    contest = make_contest(2, golden_rate=0)
    contest.clip.frame_count = 48
    contest.clip.save(update_fields=["frame_count"])
    services.decide_contest(contest, "B", "B wins: test")
    contest = services.adopt_winner(contest, user=technician())
    job = RenderJob.objects.get(film=contest.clip.film, kind=RenderJob.Kind.FILM)
    assert job.preset_version == contest.adopted_preset == contest.winner.variant.preset_version
    assert f"job {job.pk}" in contest.adoption_note
    # A second adoption while that render runs reuses it rather than starting another.
    assert services.adopt_winner(contest).adoption_note.endswith(f"(job {job.pk})")


def test_a_render_that_cannot_start_does_not_undo_the_adoption():
    contest = make_contest(2, golden_rate=0)  # its clip has no frame count: not probed
    services.decide_contest(contest, "A", "A wins: test")
    contest = services.adopt_winner(contest)
    assert contest.clip.film.adopted_preset == contest.winner.variant.preset_version
    assert contest.adoption_note.startswith("full-film render not started:")


# --------------------------------------------------------------------------- robust decision


def _one_sided_votes(contest, ips, per_ip=8, winner="B", accounts=False):
    """Raters from ``ips`` who always pick ``winner`` whenever it is shown (signed-in
    accounts with ``accounts``: those the anomaly checks' network rules leave alone)."""
    for ip in ips:
        for _ in range(per_ip):
            rater = ready_rater(user=UserFactory()) if accounts else ready_rater()
            for _ in range(3):
                ballot = vote(contest, rater, ip=ip, chooser=lambda p: (
                    "left" if p.left.label == winner else "right" if p.right.label == winner else "same"))
                if ballot is None:
                    break


def test_one_network_never_decides_a_contest(monkeypatch):
    monkeypatch.setattr(adoption, "start_film_render", lambda *a: pytest.fail("nothing may be adopted"))
    contest = make_contest(3, golden_rate=0, min_raters=3, decision_method="probability",
                           p_best_threshold=0.9, auto_adopt=True, min_decision_seconds=0)
    # Many fresh identities behind one /24: a burst of new identities, all shadow-excluded,
    # and the decision the plain rule would take is not robust either.
    _one_sided_votes(contest, [f"203.0.113.{k}" for k in range(1, 5)])
    result, _payload = tally.compute(contest)
    assert not result.decision.decided
    raters = set(Ballot.objects.filter(contest=contest).values_list("rater_id", flat=True))
    assert set(Exclusion.objects.filter(contest=contest, reason="identity_burst")
               .values_list("rater_id", flat=True)) == raters
    services.contest_ratings(contest)
    contest.refresh_from_db()
    assert contest.status == Contest.Status.OPEN and contest.winner is None
    unweighted = rank([Comparison(b.left.label, b.right.label, b.choice, str(b.rater_id))
                       for b in Ballot.objects.filter(contest=contest).select_related("left", "right")],
                      items=["A", "B", "C"], config=RankingConfig(n_bootstrap=40),
                      rule=tally.decision_rule(contest))
    assert unweighted.decision.decided  # the plain rule, counting everyone, would decide for B
    robust, reason = services.robust_decision(contest, unweighted)
    assert not robust and "network(s); 3 needed" in reason
    assert Ballot.objects.filter(contest=contest).values("net_hash").distinct().count() == 1


def test_a_decision_must_survive_removing_any_one_network_and_take_its_time():
    contest = make_contest(3, golden_rate=0, min_raters=3, decision_method="probability",
                           p_best_threshold=0.9, min_networks=3, min_decision_seconds=0)
    # One big network carries the result (signed-in accounts, so no network rule of the
    # anomaly checks removes them first); two small ones add a few indifferent ballots.
    _one_sided_votes(contest, ["198.51.100.7"], per_ip=12, accounts=True)
    for ip in ("192.0.2.1", "2001:db8:1:2::1"):
        vote(contest, ready_rater(), "same", ip=ip)
    result, _payload = tally.compute(contest)
    assert result.decision.decided
    robust, reason = services.robust_decision(contest, result)
    assert not robust and "does not hold without one network" in reason
    # With the same support spread over many networks the decision stands...
    spread = make_contest(3, golden_rate=0, min_raters=3, decision_method="probability",
                          p_best_threshold=0.9, min_networks=3, min_decision_seconds=0)
    # (accounts again: twelve anonymous raters sharing the test's one user agent would be
    # a user-agent cluster)
    _one_sided_votes(spread, [f"10.{k}.0.1" for k in range(12)], per_ip=1, accounts=True)
    result, _payload = tally.compute(spread)
    assert result.decision.decided
    assert services.robust_decision(spread, result)[0] is True
    # ...but not before the minimum duration has passed.
    Contest.objects.filter(pk=spread.pk).update(min_decision_seconds=600)
    spread.refresh_from_db()
    robust, reason = services.robust_decision(spread, result)
    assert not robust and "600 s needed" in reason


def test_a_fifth_of_one_sided_ballots_neither_decides_the_contest_nor_adopts(monkeypatch):
    monkeypatch.setattr(adoption, "start_film_render", lambda *a: pytest.fail("nothing may be adopted"))
    contest = make_contest(3, golden_rate=0, auto_adopt=True, min_decision_seconds=0)
    assert contest.trim == 0.2  # the default
    attacked_crowd(contest)  # fans leave A ahead; accounts backing B hold a fifth of B's pairs
    result, _payload = tally.compute(contest)
    assert result.decision.decided and result.decision.winner == "B"  # the plain rule is bought
    robust, reason = services.robust_decision(contest, result)
    assert not robust and (reason.code, reason.params) == ("trim", {"winner": "B", "share": 0.2})
    payload = services.contest_ratings(contest)
    contest.refresh_from_db()
    assert contest.status == Contest.Status.OPEN and contest.winner is None and contest.adopted_at is None
    decision = payload["decision"]
    assert not decision["decided"] and decision["winner"] is None
    assert decision["held"] == {"code": "trim", "params": {"winner": "B", "share": 0.2}, "leader": "B"}
    assert services.held_reason_text("trim", decision["held"]["params"]) == (
        "B leads, but not by enough: it must still win without the 20 % of the votes most favourable "
        "to it (the most an attacker may hold).")


def test_without_the_trim_the_same_ballots_decide_and_adopt(monkeypatch):
    started = []
    monkeypatch.setattr(adoption, "start_film_render",
                        lambda film, pv, user: started.append(pv.pk) or RenderJob(pk=1))
    # (one network declared enough: removing a seventh of so thin a lead is another check)
    contest = make_contest(3, golden_rate=0, auto_adopt=True, min_decision_seconds=0, min_networks=1, trim=0.0)
    attacked_crowd(contest)
    services.contest_ratings(contest)
    contest.refresh_from_db()
    assert contest.status == Contest.Status.DECIDED and contest.winner.label == "B"
    assert len(started) == 1 and contest.adopted_at is not None
    # The venue setting does not lift the trim: at 0.2 the same ballots stay undecided.
    held = make_contest(3, golden_rate=0, auto_adopt=True, min_decision_seconds=0, min_networks=1)
    attacked_crowd(held)
    assert services.contest_ratings(held)["decision"]["held"]["code"] == "trim"
    held.refresh_from_db()
    assert held.status == Contest.Status.OPEN and len(started) == 1


def test_a_screening_audience_is_decided_by_its_votes_alone(monkeypatch):
    monkeypatch.setattr(adoption, "start_film_render", lambda *a: pytest.fail("auto-adopt is off"))
    # The fans' own lead: A wins 6 of 10 against each rival, 1 ties. The rule decides it
    # (checked over 60 bootstrap seeds), but taking a fifth of each pair from A's wins
    # leaves 4 to 3, which it does not: cast by accounts, the trim holds it back...
    lead = {("A", "B"): (6, 3), ("A", "C"): (6, 3), ("B", "C"): (6, 3)}
    online = make_contest(3, golden_rate=0, min_decision_seconds=0)
    attacked_crowd(online, attackers=0, pattern=lead)
    result, _payload = tally.compute(online)
    assert result.decision.decided and result.decision.winner == "A"
    robust, reason = services.robust_decision(online, result)
    assert not robust and reason.code == "trim"
    # ...while the same votes cast with screening codes (one per person in the room) stand.
    screening = make_contest(3, golden_rate=0, min_decision_seconds=0)
    attacked_crowd(screening, attackers=0, fan_tier=Tier.SCREENING, pattern=lead)
    assert all(b.vouched for b in services.weighted_ballots(screening))
    assert not any(b.vouched for b in services.weighted_ballots(online))
    services.contest_ratings(screening)
    screening.refresh_from_db()
    assert screening.status == Contest.Status.DECIDED and screening.winner.label == "A"
    # Attackers without codes are still trimmed away among them.
    mixed = make_contest(3, golden_rate=0, min_decision_seconds=0)
    attacked_crowd(mixed, fan_tier=Tier.SCREENING)
    result, _payload = tally.compute(mixed)
    assert result.decision.decided and result.decision.winner == "B"
    robust, reason = services.robust_decision(mixed, result)
    assert not robust and reason.code == "trim"


def test_held_reasons_read_as_sentences():
    assert services.held_reason_text("networks", {"have": 1, "need": 3}) == (
        "The votes that count come from 1 network; 3 are needed.")
    assert services.held_reason_text("networks", {"have": 2, "need": 3}) == (
        "The votes that count come from 2 networks; 3 are needed.")
    assert services.held_reason_text("duration", {"seconds": 120, "need": 600.0}) == (
        "The votes span 120 s; 600 s are needed.")
    assert services.held_reason_text("one_network", {"ballots": 36}) == (
        "The result does not hold without the 36 votes from one network.")
    assert services.held_reason_text("who knows", {}) == ""


def test_network_of_groups_by_24_and_48():
    assert integrity.network_of("203.0.113.77") == "203.0.113.0/24"
    assert integrity.network_of("2001:db8:1:2::1") == "2001:db8:1::/48"
    assert integrity.network_of("not an address") == "not an address"


# --------------------------------------------------------------------------- trust tiers and screening codes


def test_screening_codes_come_in_numbered_batches_of_unique_unguessable_codes():
    contest = make_contest(2)
    first = services.generate_screening_codes(contest, 3, seat_prefix="R")
    second = services.generate_screening_codes(contest, 2)
    assert [c.seat for c in first + second] == ["R1", "R2", "R3", "4", "5"]
    codes = [c.code for c in first + second]
    assert len(set(codes)) == 5 and all(len(c) == 10 and c.isalnum() and c.isupper() for c in codes)
    for bad in (0, services.MAX_CODES_PER_BATCH + 1):
        with pytest.raises(VotingError):
            services.generate_screening_codes(contest, bad)


def test_a_screening_code_binds_to_one_rater_once():
    contest = make_contest(2)
    code = ScreeningCodeFactory(contest=contest)
    fan, other = ready_rater(), ready_rater()
    typed = "-".join([code.code[:5].lower(), code.code[5:]])  # case and dashes do not matter
    bound = services.redeem_screening_code(contest, fan, typed)
    assert bound.pk == code.pk and bound.rater == fan and bound.redeemed_at is not None
    assert services.redeem_screening_code(contest, fan, code.code).pk == code.pk  # idempotent
    with pytest.raises(services.CodeRefused, match="already been used"):
        services.redeem_screening_code(contest, other, code.code)
    second = ScreeningCodeFactory(contest=contest)
    with pytest.raises(services.CodeRefused, match="already hold a code"):
        services.redeem_screening_code(contest, fan, second.code)
    elsewhere = ScreeningCodeFactory()
    with pytest.raises(NotFound):
        services.redeem_screening_code(contest, other, elsewhere.code)
    with pytest.raises(NotFound):
        services.redeem_screening_code(contest, other, "NOSUCHCODE")
    Contest.objects.filter(pk=contest.pk).update(status=Contest.Status.CLOSED)
    contest.refresh_from_db()
    with pytest.raises(ContestClosed):
        services.redeem_screening_code(contest, other, second.code)


def test_ballot_tier_is_the_heaviest_tier_the_rater_qualifies_for():
    contest = make_contest(2, weight_anonymous=0.5, weight_screening=1.0, weight_account=2.0)
    anonymous, member = ready_rater(), ready_rater(user=UserFactory())
    assert services.ballot_tier(contest, anonymous) == Tier.ANONYMOUS
    assert services.ballot_tier(contest, member) == Tier.ACCOUNT
    ScreeningCodeFactory(contest=contest, rater=anonymous)
    ScreeningCodeFactory(contest=contest, rater=member)
    assert services.ballot_tier(contest, anonymous) == Tier.SCREENING
    assert services.ballot_tier(contest, member) == Tier.ACCOUNT  # 2.0 beats 1.0
    other = make_contest(2)
    assert services.ballot_tier(other, anonymous) == Tier.ANONYMOUS  # a code is one contest's


def test_cast_ballot_records_the_tier():
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    ScreeningCodeFactory(contest=contest, rater=rater)
    assert vote(contest, rater, "left").tier == Tier.SCREENING
    assert vote(make_contest(2, golden_rate=0), ready_rater(), "left").tier == Tier.ANONYMOUS


def test_audit_lists_clusters_with_reasons_and_ballots():
    contest = make_contest(2, golden_rate=0)
    rater = ready_rater()
    ballot = vote(contest, rater, "left")
    ExclusionFactory(contest=contest, rater=rater, reason="user_agent_cluster", cluster="ua-x", detail="30 of 40")
    flagged = ready_rater(flags=["same_side"])
    vote(contest, flagged, "right")
    report = services.audit(contest)
    assert report["n_excluded"] == 1
    [cluster] = report["clusters"]
    assert cluster["reason"] == "user_agent_cluster" and cluster["cluster"] == "ua-x"
    assert cluster["raters"] == [rater.pk] and [b.pk for b in cluster["ballots"]] == [ballot.pk]
    assert [row["rater"].pk for row in report["reliability"]] == [flagged.pk]


def test_the_site_default_decision_rule_is_the_one_the_pairing_benchmark_uses():
    contest = make_contest(2)
    assert (contest.decision_method, contest.p_best_threshold) == (
        SITE_DEFAULT_RULE.method, SITE_DEFAULT_RULE.p_best_threshold)
    assert tally.decision_rule(contest).method == "probability"
