"""Tests for voting.stats.anomalies: each rule fires on its pattern and spares honest crowds."""

from __future__ import annotations

import numpy as np
import pytest

from voting.stats import anomalies
from voting.stats.anomalies import AnomalyPolicy, BallotInfo, detect, excluded_raters


def ballot(
    rater: str,
    *,
    tier: str = "anonymous",
    network: str = "",
    ua: str = "",
    created: float = 0.0,
    served: float = 0.0,
    cast: float = 10.0,
    outcome: str = "left",
    expected: str | None = None,
) -> BallotInfo:
    return BallotInfo(
        rater,
        tier,
        network or f"net-{rater}",
        ua or f"ua-{rater}",
        created,
        served,
        cast,
        outcome,
        expected,
    )


def honest_crowd(n_raters: int = 60, seed: int = 0) -> list[BallotInfo]:
    """People: their own networks, a spread of browsers, irregular timing, mixed answers."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, 41)  # forty browser builds, the commonest ~23 % of people
    out = []
    for k in range(n_raters):
        created = float(rng.uniform(0, 3600))
        ua = f"ua{int(rng.choice(40, p=popularity / popularity.sum()))}"
        t = created
        for _ in range(1 + int(rng.poisson(4))):
            served = t + float(rng.uniform(1, 4))
            cast = served + 5 + float(rng.lognormal(2.3, 0.5))
            out.append(
                ballot(
                    f"h{k}",
                    ua=ua,
                    created=created,
                    served=served,
                    cast=cast,
                    outcome=str(rng.choice(["left", "right", "same"], p=[0.45, 0.4, 0.15])),
                )
            )
            t = cast
    return out


def test_an_honest_crowd_trips_nothing():
    for seed in range(5):
        assert detect(honest_crowd(seed=seed)) == []


def test_a_burst_of_new_identities_from_one_network():
    burst = [
        ballot(
            f"a{k}",
            network="bad",
            created=1000 + 10 * k,
            served=1000 + 10 * k + 1,
            cast=1000 + 10 * k + 8 + k % 3,
        )
        for k in range(12)
    ]
    findings = anomalies.identity_bursts(honest_crowd() + burst)
    assert [f.reason for f in findings] == ["identity_burst"]
    assert findings[0].cluster == "bad" and findings[0].raters == {f"a{k}" for k in range(12)}
    # Nine are below the threshold; twelve spread over an hour are no burst either.
    assert anomalies.identity_bursts(burst[:9]) == []
    slow = [ballot(f"s{k}", network="bad", created=400.0 * k) for k in range(12)]
    assert anomalies.identity_bursts(slow) == []


def test_bursts_and_network_rules_spare_screening_and_account_tiers_and_single_network_contests():
    venue = [ballot(f"v{k}", tier="screening", network="venue", created=k) for k in range(30)]
    assert anomalies.identity_bursts(venue) == []
    anon = [ballot(f"v{k}", network="venue", created=k) for k in range(30)]
    assert anomalies.identity_bursts(anon) != []
    assert anomalies.identity_bursts(anon, AnomalyPolicy(network_rules=False)) == []


def test_concentration_on_one_network():
    crowd = honest_crowd()
    heavy = [
        ballot(
            f"c{k}",
            network="dc",
            created=400.0 * k,
            served=400.0 * k + j * 30,
            cast=400.0 * k + j * 30 + 9 + j % 4,
        )
        for k in range(6)
        for j in range(20)
    ]
    findings = anomalies.network_concentration(crowd + heavy)
    assert len(findings) == 1 and findings[0].cluster == "dc"
    assert findings[0].raters == {f"c{k}" for k in range(6)}
    assert findings[0].detail.startswith("120 of")
    # Everyone on one network (a venue, a test): nobody else to protect, nothing excluded.
    assert anomalies.network_concentration(heavy) == []


def test_user_agent_cluster():
    crowd = honest_crowd(30)
    script = [ballot(f"u{k}", ua="python-requests/2.32", created=300.0 * k) for k in range(40)]
    findings = anomalies.user_agent_clusters(crowd + script)
    assert len(findings) == 1 and findings[0].raters == {f"u{k}" for k in range(40)}
    # The same agent among many more people is just a popular browser.
    assert anomalies.user_agent_clusters(honest_crowd(200) + script[:12]) == []


def test_machine_regular_timing_in_decisions_or_intervals():
    regular = [ballot("bot", served=100.0 * k, cast=100.0 * k + 6.0) for k in range(6)]
    findings = anomalies.machine_timing(regular)
    assert findings and findings[0].raters == {"bot"} and "decision times" in findings[0].detail
    metronome = [ballot("m", served=7.0 * k + (k % 3) * 2, cast=7.0 * k + 6.5) for k in range(7)]
    assert "intervals" in anomalies.machine_timing(metronome)[0].detail
    # Two ballots are too few to call.
    assert anomalies.machine_timing(regular[:2]) == []


def test_answers_that_ignore_the_pictures():
    lefty = [ballot("l", outcome="left", cast=13.0 * k + k % 5) for k in range(10)]
    f = anomalies.ignores_pictures(lefty)
    assert f and f[0].cluster == "always left"
    fails = [
        ballot("g", outcome="left", expected="same"),
        ballot("g", outcome="right", expected="left"),
        ballot("g", outcome="left", expected="right"),
        ballot("g", outcome="same"),
    ]
    f = anomalies.ignores_pictures(fails)
    assert f and f[0].cluster == "fails golden pairs"
    assert anomalies.ignores_pictures(fails[:2] + fails[3:]) == []  # two goldens: too few


def test_excluded_raters_is_the_union_of_findings():
    lefty = [ballot("l", outcome="left", served=20.0 * k, cast=20.0 * k + 6) for k in range(10)]
    findings = detect(honest_crowd() + lefty)
    assert {f.reason for f in findings} == {"machine_timing", "ignores_pictures"}
    assert excluded_raters(findings) == {"l"}
    assert detect([]) == []


@pytest.mark.parametrize("reason", anomalies.REASONS)
def test_every_reason_has_a_rule(reason):
    assert any(
        rule.__name__.rstrip("s") in reason or reason.startswith(rule.__name__.split("_")[0])
        for rule in anomalies.RULES
    )
