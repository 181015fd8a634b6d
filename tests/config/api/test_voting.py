"""config.api.voting: contests over variants, their tallies and actions."""

from __future__ import annotations

import pytest

from tests.factories import ClipFactory, curator, technician
from tests.voting.voting_factories import make_contest, make_variant

pytestmark = pytest.mark.django_db


def test_a_technician_opens_and_closes_a_contest(client):
    client.force_login(technician())
    clip = ClipFactory()
    variants = [make_variant(clip, k) for k in range(3)]
    made = client.post("/api/contests/", {"clip": clip.pk, "variants": [v.pk for v in variants],
                                          "title": "grain", "min_watch_seconds": 2},
                       content_type="application/json")
    assert made.status_code == 201, made.json()
    contest = made.json()
    assert sorted(e["label"] for e in contest["entries"]) == ["A", "B", "C"]
    assert contest["status"] == "open" and contest["vote_url"].endswith(f"/{contest['slug']}/")
    assert contest["warnings"] == []  # nothing measured as alike
    tally = client.get(f"/api/contests/{contest['id']}/tally/").json()
    assert tally["n_ballots"] == 0
    closed = client.post(f"/api/contests/{contest['id']}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # Adopting needs a decided winner: the service's refusal reaches the caller.
    refused = client.post(f"/api/contests/{contest['id']}/adopt/")
    assert refused.status_code == 400 and "decided" in refused.json()["error"]


def test_a_contest_needs_two_variants_and_curators_only_read(client):
    client.force_login(technician())
    clip = ClipFactory()
    one = make_variant(clip, 1)
    refused = client.post("/api/contests/", {"clip": clip.pk, "variants": [one.pk]},
                          content_type="application/json")
    assert refused.status_code == 400 and "between 2" in refused.json()["error"]
    contest = make_contest(2)
    client.force_login(curator())
    assert client.get(f"/api/contests/{contest.pk}/").json()["id"] == contest.pk
    assert client.post(f"/api/contests/{contest.pk}/close/").status_code == 403


def test_opening_over_variants_that_look_alike_answers_with_a_warning(client):
    from tests.factories import VariantComparisonFactory

    client.force_login(technician())
    close = VariantComparisonFactory(variant_a__overrides={"grain.strength": 0.0},
                                     variant_a__preset_version__recipe={"ops": ["grain"]},
                                     variant_b__overrides={"grain.strength": 0.3}, jod=9.76)
    made = client.post("/api/contests/", {"clip": close.variant_a.clip_id,
                                          "variants": [close.variant_a.pk, close.variant_b.pk]},
                       content_type="application/json")
    assert made.status_code == 201, made.json()  # opened: the technician decides
    (warning,) = made.json()["warnings"]
    assert "0.24 JOD" in warning and "film grain · strength" in warning  # the parameter, worded
