"""Tests for voting.reliability: golden serving and scoring, each anomaly flag, weights."""

from __future__ import annotations

import numpy as np
import pytest

from voting.stats.ranking import Comparison
from voting.stats.reliability import (
    ALWAYS_SAME,
    INCONSISTENT,
    SAME_SIDE,
    TOO_FAST,
    BallotRecord,
    GoldenPolicy,
    ReliabilityPolicy,
    assess_raters,
    golden_posterior,
    make_golden_pair,
    reweight,
    should_serve_golden,
)

# --------------------------------------------------------------------------- golden serving


def test_golden_rate_matches_policy_in_the_long_run() -> None:
    rng = np.random.default_rng(0)
    served = golden = 0
    for _ in range(4000):
        if should_serve_golden(served, golden, rng, GoldenPolicy(rate=0.1)):
            golden += 1
        served += 1
    assert 0.08 < golden / served < 0.12


def test_every_rater_meets_a_golden_early() -> None:
    policy = GoldenPolicy(rate=0.0, first_by=4)
    assert not should_serve_golden(0, 0, 0, policy)
    assert not should_serve_golden(2, 0, 0, policy)
    assert should_serve_golden(3, 0, 0, policy)  # the 4th ballot
    assert not should_serve_golden(9, 1, 0, policy)  # rate 0 afterwards


def test_golden_share_is_capped() -> None:
    policy = GoldenPolicy(rate=1.0, first_by=1, max_share=0.25)
    assert should_serve_golden(0, 0, 0, policy)
    assert not should_serve_golden(4, 1, 0, policy)  # 2 of 5 would exceed 25 %
    assert should_serve_golden(7, 1, 0, policy)  # 2 of 8 is fine


def test_serving_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        should_serve_golden(2, 3, 0)
    with pytest.raises(ValueError):
        should_serve_golden(-1, 0, 0)


def test_golden_pairs() -> None:
    same = make_golden_pair("v1")
    assert (same.left, same.right, same.expected, same.kind) == ("v1", "v1", "same", "identical")
    rng = np.random.default_rng(3)
    pairs = [make_golden_pair("v1", "v1-damaged", rng) for _ in range(50)]
    for p in pairs:
        clean_side = "left" if p.left == "v1" else "right"
        assert p.expected == clean_side and p.kind == "damaged"
        assert {p.left, p.right} == {"v1", "v1-damaged"}
    assert {p.expected for p in pairs} == {"left", "right"}


# --------------------------------------------------------------------------- scoring


def golden(rater: str, correct: bool, k: int) -> BallotRecord:
    """Alternating identical / damaged goldens answered right or wrong."""
    if k % 2:
        return BallotRecord(rater, "v0", "v0", "same" if correct else "left", 10.0, expected="same")
    return BallotRecord(rater, "v0", "v0~d", "left" if correct else "right", 10.0, expected="left")


def test_golden_posterior_moves_with_evidence() -> None:
    prior_mean, prior_low = golden_posterior(0, 0)
    good_mean, good_low = golden_posterior(10, 10)
    bad_mean, bad_low = golden_posterior(1, 10)
    assert bad_mean < prior_mean < good_mean
    assert good_low < 0.01 < bad_low
    assert bad_low > 0.95


def test_good_rater_full_weight_bad_rater_shadow_excluded() -> None:
    ballots = [golden("good", True, k) for k in range(8)] + [golden("bad", k == 0, k) for k in range(10)]
    out = assess_raters(ballots)
    assert out["good"].weight == 1.0 and not out["good"].excluded
    assert out["bad"].weight == 0.0 and out["bad"].excluded
    assert out["bad"].golden_total == 10 and out["bad"].golden_correct == 1
    assert out["bad"].p_below_chance > 0.95
    # Two right answers out of eight are suspicious but not yet proof: down-weighted only.
    unsure = assess_raters([golden("unsure", k % 4 == 0, k) for k in range(8)])["unsure"]
    assert not unsure.excluded and unsure.weight == pytest.approx(0.1)


def test_middling_rater_is_down_weighted_not_excluded() -> None:
    ballots = [golden("meh", k % 3 != 0, k) for k in range(9)]  # 6 of 9 right
    a = assess_raters(ballots)["meh"]
    assert not a.excluded
    assert 0.1 <= a.weight < 0.8
    assert a.reliability == pytest.approx((3 + 6) / (3 + 6 + 1 + 3))


def contest(rater: str, outcome: str, n: int, watch: float = 10.0, pair=("v0", "v1")) -> list[BallotRecord]:
    return [BallotRecord(rater, pair[k % 2], pair[1 - k % 2], outcome, watch) for k in range(n)]


def test_same_side_flag() -> None:
    out = assess_raters(contest("lefty", "left", 12) + [BallotRecord("mixed", "a", "b", o, 10.0) for o in ["left", "right"] * 6])
    assert out["lefty"].flags == (SAME_SIDE,)
    assert out["lefty"].weight == pytest.approx(0.5 * out["mixed"].weight)
    assert out["mixed"].flags == ()
    # Too few ballots to judge a pattern.
    assert assess_raters(contest("short", "left", 5))["short"].flags == ()


def test_always_same_flag() -> None:
    out = assess_raters(contest("tier", "same", 10))
    assert out["tier"].flags == (ALWAYS_SAME,)


def test_too_fast_flag() -> None:
    fast = [BallotRecord("quick", "a", "b", o, 1.0) for o in ["left", "right", "same"] * 3]
    slow = [BallotRecord("calm", "a", "b", o, 8.0) for o in ["left", "right", "same"] * 3]
    untimed = [BallotRecord("unknown", "a", "b", o) for o in ["left", "right", "same"] * 3]
    out = assess_raters(fast + slow + untimed)
    assert out["quick"].flags == (TOO_FAST,)
    assert out["calm"].flags == ()
    assert out["unknown"].flags == ()


def test_inconsistent_with_consensus_flag() -> None:
    crowd = []
    for r in range(12):
        # Everyone else prefers v0 over v1 (whatever the side) most of the time.
        for k in range(4):
            crowd.append(BallotRecord(f"fan{r}", "v0", "v1", "left" if (r + k) % 5 else "right", 9.0))
            crowd.append(BallotRecord(f"fan{r}", "v1", "v0", "right" if (r + k) % 5 else "left", 9.0))
    contrarian = [BallotRecord("contra", "v0", "v1", "right", 9.0), BallotRecord("contra", "v1", "v0", "left", 9.0)] * 4
    out = assess_raters(crowd + contrarian)
    assert INCONSISTENT in out["contra"].flags
    assert all(INCONSISTENT not in out[f"fan{r}"].flags for r in range(12))


def test_no_consensus_no_inconsistency_flag() -> None:
    split = []
    for r in range(10):
        for _ in range(4):
            split.append(BallotRecord(f"fan{r}", "v0", "v1", "left" if r % 2 else "right", 9.0))
    out = assess_raters(split)
    assert all(a.flags == () for a in out.values())


def test_two_flags_exclude() -> None:
    ballots = contest("bot", "left", 12, watch=0.5)
    a = assess_raters(ballots)["bot"]
    assert set(a.flags) == {SAME_SIDE, TOO_FAST}
    assert a.excluded and a.weight == 0.0


def test_policy_thresholds_are_used() -> None:
    ballots = contest("lefty", "left", 12)
    lenient = ReliabilityPolicy(same_side_share=1.01)
    assert assess_raters(ballots, lenient)["lefty"].flags == ()


def test_reweight_applies_assessments() -> None:
    ballots = [golden("good", True, k) for k in range(8)] + [golden("bad", False, k) for k in range(8)]
    assessments = assess_raters(ballots)
    comps = [
        Comparison("a", "b", "left", "good", weight=0.5),
        Comparison("a", "b", "right", "bad"),
        Comparison("a", "b", "same", "newcomer"),
    ]
    out = reweight(comps, assessments)
    assert [c.weight for c in out] == [0.5, 0.0, pytest.approx(assess_raters([BallotRecord("x", "a", "b", "left")])["x"].weight)]
    assert [c.outcome for c in out] == ["left", "right", "same"]
