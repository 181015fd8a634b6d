"""Voting pages and JSON API through Django's test client: cookies, CSRF, status codes,
what the public sees and what only technicians see."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from restoration.rendering import adoption
from restoration.rendering.film import FilmRenderError
from tests.factories import ClipFactory, UserFactory, VariantFactory, technician
from tests.voting.factories import ExclusionFactory, ScreeningCodeFactory
from tests.voting.voting_factories import attacked_crowd, make_contest
from voting import integrity, services, views
from voting.models import Ballot, Contest, Pairing, Rater
from voting.views import RATER_COOKIE


def _render_cannot_start(film, preset_version, user):
    raise FilmRenderError(f"clip of {film} is not ready")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.VOTING_BOOTSTRAP = 40
    settings.VOTING_POW_BITS = 8
    settings.VOTING_RATINGS_COOLDOWN = 0


class Fan:
    """A browser: its own cookies, CSRF token and rater cookie."""

    def __init__(self, contest: Contest, ip: str = "10.1.1.1") -> None:
        self.client = Client(enforce_csrf_checks=True, REMOTE_ADDR=ip, HTTP_USER_AGENT="pytest-fan")
        self.contest = contest
        self.base = f"/vote/c/{contest.slug}/"
        page = self.client.get(self.base)
        assert page.status_code == 200
        self.csrf = self.client.cookies["csrftoken"].value

    @property
    def rater(self) -> Rater:
        value = self.client.cookies[RATER_COOKIE].value
        token = value.split(":")[0]
        return Rater.objects.get(token=token)

    def get(self, path: str):
        return self.client.get(self.base + path)

    def post(self, path: str, data: dict, csrf: bool = True):
        headers = {"HTTP_X_CSRFTOKEN": self.csrf} if csrf else {}
        return self.client.post(self.base + path, data=json.dumps(data), content_type="application/json", **headers)

    def solve_pow(self) -> None:
        challenge = self.get("api/pow/").json()
        assert challenge["solved"] is False
        nonce = integrity.solve(challenge["challenge"], challenge["bits"])
        assert self.post("api/pow/", {"challenge": challenge["challenge"], "nonce": nonce}).json() == {"solved": True}

    def fetch_media(self, pairing: int) -> None:
        """What the players do: fetch both sides through their blind URLs."""
        pair = self.get("api/next/").json()
        assert pair["pairing"] == pairing
        for side in ("left", "right"):
            response = self.client.get(pair[side]["src"], HTTP_RANGE="bytes=0-")
            assert response.status_code == 206

    def watch(self, pairing: int, seconds: int) -> dict:
        # Heartbeats arrive a second apart; the test moves the server's last-beat clock
        # back instead of sleeping. The player's position advances a second each time
        # (looping over the 2-s stub excerpt).
        self.fetch_media(pairing)
        status = None
        for k in range(seconds + 1):
            Pairing.objects.filter(pk=pairing, last_heartbeat_at__isnull=False).update(
                last_heartbeat_at=timezone.now() - timedelta(seconds=1))
            status = self.post("api/heartbeat/", {"pairing": pairing, "visible": "both", "playing": True,
                                                  "position": k % 2}).json()
        return status


def test_voting_page_is_public_blind_and_sets_a_signed_rater_cookie():
    contest = make_contest(3)
    fan = Fan(contest)
    page = fan.client.get(fan.base).content.decode()
    assert "Left is better" in page and "About the same" in page and "Right is better" in page
    for entry in contest.entries.select_related("variant__preset_version__preset"):
        assert entry.variant.preset_version.preset.name not in page  # blind: no preset names
    assert 'id="vote-config"' in page and f"contest-{contest.pk}" in page
    cookie = fan.client.cookies[RATER_COOKIE]
    assert cookie["httponly"] and ":" in cookie.value  # signed
    assert Rater.objects.count() == 1
    fan.client.get(fan.base)
    assert Rater.objects.count() == 1  # same browser, same rater


def test_a_forged_rater_cookie_is_ignored():
    contest = make_contest(2)
    victim = Fan(contest)
    forger = Client()
    forger.cookies[RATER_COOKIE] = str(victim.rater.token)  # unsigned
    forger.get(f"/vote/c/{contest.slug}/")
    assert Rater.objects.count() == 2


def test_full_vote_flow_with_csrf_pow_heartbeats_and_tally():
    contest = make_contest(3, min_watch_seconds=3)
    fan = Fan(contest)
    pair = fan.get("api/next/").json()
    assert pair["left"]["src"].startswith(fan.base + "m/") and pair["right"]["src"] != pair["left"]["src"]
    assert pair["ready"] is False and pair["min_watch_seconds"] == 3
    early = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
    assert early.status_code == 403 and early.json()["code"] == "proof_of_work_required"
    fan.solve_pow()
    early = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
    assert early.status_code == 409 and early.json()["code"] == "watch_time_too_short"
    assert fan.watch(pair["pairing"], 4)["ready"] is True
    no_csrf = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"}, csrf=False)
    assert no_csrf.status_code == 403 and not Ballot.objects.exists()
    cast = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
    assert cast.status_code == 200, cast.content
    body = cast.json()
    assert body["ok"] and "tally" not in body  # the tally would tell which label the fan's side was
    assert "n_excluded" not in fan.get("api/tally/").json()  # technician-only figure
    again = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "right"})
    assert again.status_code == 409 and again.json()["code"] == "duplicate_ballot"
    assert "already voted" in again.json()["error"]
    ballot = Ballot.objects.get()
    assert ballot.ip_hash and ballot.ua_hash and ballot.ip_hash != "10.1.1.1"
    assert fan.get("api/tally/").json()["n_ballots"] == 1
    assert fan.get("api/next/").json()["pairing"] != pair["pairing"]


def test_rate_limited_ballot_answers_429_with_retry_after(settings):
    settings.VOTING_BALLOTS_PER_RATER = 1
    contest = make_contest(3, min_watch_seconds=1)
    fan = Fan(contest)
    fan.solve_pow()
    for expected in (200, 429):
        pair = fan.get("api/next/").json()
        fan.watch(pair["pairing"], 2)
        response = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "same"})
        assert response.status_code == expected
    assert int(response["Retry-After"]) > 0 and response.json()["code"] == "rate_limited"


def test_excluded_rater_is_never_told():
    """The same requests get the same kind of answers whether or not the rater is excluded."""
    contest = make_contest(2, min_watch_seconds=1, golden_rate=0)
    answers = []
    for excluded in (False, True):
        fan = Fan(contest, ip=f"10.9.9.{int(excluded)}")
        fan.solve_pow()
        Rater.objects.filter(pk=fan.rater.pk).update(excluded_by_staff=excluded, shadow_excluded=excluded)
        pair = fan.get("api/next/").json()
        fan.watch(pair["pairing"], 2)
        response = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
        body = response.json()
        answers.append((response.status_code, sorted(body), sorted(fan.get("api/tally/").json())))
        assert "exclu" not in response.content.decode().lower()
    assert answers[0] == answers[1]
    assert Ballot.objects.count() == 2


def test_closed_contest_answers_410_and_the_page_says_so():
    contest = make_contest(2)
    fan = Fan(contest)
    Contest.objects.filter(pk=contest.pk).update(status=Contest.Status.CLOSED)
    assert fan.get("api/next/").status_code == 410
    assert "This contest is closed" in fan.client.get(fan.base).content.decode()


def test_reading_the_tally_needs_no_identity():
    contest = make_contest(2)
    response = Client().get(f"/vote/c/{contest.slug}/api/tally/")
    assert response.status_code == 200 and response.json()["type"] == "contest.tally"
    assert RATER_COOKIE not in response.cookies and not Rater.objects.exists()
    assert Client().get("/vote/c/nope/api/tally/").status_code == 404


def test_unknown_contest_is_404():
    assert Client().get("/vote/c/nope/").status_code == 404
    assert Client().get("/vote/c/nope/api/next/").json()["code"] == "not_found"


def test_qr_codes_and_results_page_with_plots_are_public():
    contest = make_contest(3)
    client = Client()
    svg = client.get(f"/vote/c/{contest.slug}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    png = client.get(f"/vote/c/{contest.slug}/qr.png?download=1")
    assert png.content.startswith(b"\x89PNG") and "attachment" in png["Content-Disposition"]
    assert client.get(f"/vote/c/{contest.slug}/qr.gif").status_code == 404
    results = client.get(f"/vote/c/{contest.slug}/results/").content.decode()
    assert "Ratings with" in results and f"contest-{contest.pk}" in results
    for name in ("ratings", "votes", "bias"):
        plot = client.get(f"/vote/c/{contest.slug}/plot/{name}.svg")
        assert plot.status_code == 200 and b"<svg" in plot.content[:400] and plot.content.rstrip().endswith(b"</svg>")
    assert client.get(f"/vote/c/{contest.slug}/plot/secrets.svg").status_code == 404


def test_technician_pages_need_the_role():
    contest = make_contest(2)
    anonymous = Client()
    assert anonymous.get(f"/vote/manage/{contest.pk}/").status_code == 302  # to the login page
    fan = Client()
    fan.force_login(UserFactory())
    assert fan.get(f"/vote/manage/{contest.pk}/").status_code == 403
    assert fan.get(f"/vote/manage/{contest.pk}/export.csv").status_code == 403
    assert fan.post(f"/vote/manage/{contest.pk}/close/").status_code == 403


def test_technician_opens_a_contest_from_the_form_and_sees_the_dashboard():
    tech = Client()
    tech.force_login(technician())
    clip = ClipFactory()
    variants = VariantFactory.create_batch(3, clip=clip)
    assert f"/vote/manage/clips/{clip.pk}/new/" in tech.get("/vote/manage/").content.decode()
    response = tech.post(f"/vote/manage/clips/{clip.pk}/new/", {
        "title": "Grain strength", "variants": [v.pk for v in variants], "min_watch_seconds": 4,
        "decision_method": "either", "p_best_threshold": 0.95, "min_raters": 5, "golden_rate": 0.1,
        "auto_decide": "on"})
    assert response.status_code == 302
    contest = Contest.objects.get(title="Grain strength")
    assert contest.entries.count() == 3 and contest.min_watch_seconds == 4 and not contest.auto_adopt
    assert (contest.min_networks, contest.min_decision_seconds) == (3, 600)  # the robust defaults
    page = tech.get(response["Location"]).content.decode()
    assert contest.slug in page and "<svg" in page  # link and inline QR code
    for v in variants:
        assert str(v.preset_version) in page  # technicians see which label is which
    too_few = tech.post(f"/vote/manage/clips/{clip.pk}/new/", {
        "variants": [variants[0].pk], "min_watch_seconds": 4, "decision_method": "either",
        "p_best_threshold": 0.95, "min_raters": 5, "golden_rate": 0.1})
    assert too_few.status_code == 200 and "between 2 and" in too_few.content.decode()


def test_opening_a_contest_over_variants_that_look_alike_warns_but_opens():
    from tests.factories import VariantComparisonFactory

    tech = Client()
    tech.force_login(technician())
    close = VariantComparisonFactory(variant_a__overrides={"denoise.strength": 0.3},
                                     variant_a__preset_version__recipe={"ops": ["denoise"]},
                                     variant_b__overrides={"denoise.strength": 2.0}, jod=9.8)
    clip = close.variant_a.clip
    url = f"/vote/manage/clips/{clip.pk}/new/"
    form = tech.get(url).content.decode()
    assert 'id="indistinct-warnings"' in form and "0.20 JOD" in form
    response = tech.post(url, {
        "title": "Denoise", "variants": [close.variant_a.pk, close.variant_b.pk],
        "min_watch_seconds": 4, "decision_method": "either", "p_best_threshold": 0.95,
        "min_raters": 5, "golden_rate": 0.1}, follow=True)
    assert Contest.objects.filter(title="Denoise").exists()  # the technician decides
    page = response.content.decode()
    assert "fans may not see a difference" in page and "denoise · strength" in page


def test_close_adopt_and_settings_actions(monkeypatch):
    monkeypatch.setattr(adoption, "start_film_render", _render_cannot_start)
    tech = Client()
    tech.force_login(technician())
    contest = make_contest(2)
    tech.post(f"/vote/manage/{contest.pk}/settings/", {"auto_adopt": "on", "auto_decide": "on"})
    contest.refresh_from_db()
    assert contest.auto_adopt
    response = tech.post(f"/vote/manage/{contest.pk}/adopt/", follow=True)
    assert "Only a decided contest" in response.content.decode()
    from voting import services

    services.decide_contest(contest, "A", "A wins: test")  # auto_adopt on: adopts here
    contest.refresh_from_db()
    assert contest.adopted_at is not None and contest.clip.film.adopted_preset_id
    page = tech.get(f"/vote/manage/{contest.pk}/").content.decode()
    assert "Adopted" in page and "not started" in page
    other = make_contest(2)
    tech.post(f"/vote/manage/{other.pk}/close/")
    other.refresh_from_db()
    assert other.status == Contest.Status.CLOSED


def test_exports_csv_and_json_have_every_ballot():
    from tests.voting.factories import ready_rater
    from tests.voting.voting_factories import vote

    contest = make_contest(3, golden_rate=0)
    for _ in range(2):
        rater = ready_rater()
        while vote(contest, rater):
            pass
    tech = Client()
    tech.force_login(technician())
    response = tech.get(f"/vote/manage/{contest.pk}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 6 and {r["ballot"] for r in rows} == {str(b.pk) for b in Ballot.objects.all()}
    data = tech.get(f"/vote/manage/{contest.pk}/export.json").json()
    assert len(data["ballots"]) == 6 and data["ballots"][0]["left_preset"]
    assert re.search(r"contest-\d+-ballots\.json", response["Content-Disposition"].replace("csv", "json"))


# --------------------------------------------------------------------------- blind media


def test_media_urls_are_blind_per_pairing_and_serve_ranges():
    contest = make_contest(3, golden_rate=0)
    fan = Fan(contest)
    pair = fan.get("api/next/").json()
    text = json.dumps(pair)
    for entry in contest.entries.select_related("variant"):
        # Neither the render's file name nor the variant, entry or label appears.
        assert entry.variant.output.name.rsplit("/", 1)[-1] not in text
        assert f'"{entry.label}"' not in text
    for side in ("left", "right"):
        token = pair[side]["src"].removeprefix(fan.base + "m/")
        # The token carries the pairing, the side's initial and a nonce: nothing about the variant.
        assert set(signing.loads(token, salt=services.MEDIA_SALT)) == {"p", "s", "n"}
    assert set(pair) == {"pairing", "left", "right", "fps", "watched_left", "watched_right",
                         "min_watch_seconds", "ready"}
    assert set(pair["left"]) == {"src"}
    pairing = Pairing.objects.select_related("left__variant").get(pk=pair["pairing"])
    # What is served is the contest's blind copy: the render's bytes, then padding.
    rendered = pairing.left.variant.output.open("rb").read()
    whole = fan.client.get(pair["left"]["src"])
    content = b"".join(whole.streaming_content)
    assert whole.status_code == 200 and content.startswith(rendered) and len(content) > len(rendered)
    assert content[len(rendered) + 4:len(rendered) + 8] == b"free"
    part = fan.client.get(pair["left"]["src"], HTTP_RANGE="bytes=4-9")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 4-9/{len(content)}"
    assert b"".join(part.streaming_content) == content[4:10]
    assert "private" in part["Cache-Control"]
    pairing.refresh_from_db()
    assert (pairing.media_left_bytes, pairing.media_left_requests) == (len(content) + 6, 2)
    assert pairing.media_right_bytes == 0
    # Asking again gives the same pairing with fresh URLs.
    again = fan.get("api/next/").json()
    assert again["pairing"] == pair["pairing"] and again["left"]["src"] != pair["left"]["src"]


def test_media_urls_work_only_for_their_rater_unforged_and_unexpired(settings):
    contest = make_contest(2, golden_rate=0)
    fan, other = Fan(contest), Fan(contest, ip="10.2.2.2")
    src = fan.get("api/next/").json()["left"]["src"]
    assert fan.client.get(src).status_code == 200
    assert other.client.get(src).status_code == 404  # another rater's pairing
    assert Client().get(src).status_code == 404  # no rater cookie at all
    token = src.rstrip("/").rsplit("/", 1)[1]
    assert fan.client.get(src.replace(token, token[:-2] + ("aa" if token[-2:] != "aa" else "bb"))).status_code == 404
    other_contest = make_contest(2)
    assert fan.client.get(src.replace(contest.slug, other_contest.slug)).status_code == 404
    settings.VOTING_MEDIA_URL_MAX_AGE = -1  # every token is now past its age
    assert fan.client.get(src).status_code == 404


def test_an_identical_golden_pair_gets_two_different_urls():
    contest = make_contest(2, golden_rate=0.5)
    fan = Fan(contest)
    rater = fan.rater
    entry = contest.entries.first()
    Pairing.objects.create(contest=contest, rater=rater, left=entry, right=entry, is_golden=True,
                           golden_kind=Pairing.GoldenKind.IDENTICAL, golden_expected="same", reason="golden")
    pair = fan.get("api/next/").json()
    assert pair["left"]["src"] != pair["right"]["src"]
    left, right = fan.client.get(pair["left"]["src"]), fan.client.get(pair["right"]["src"])
    assert b"".join(left.streaming_content) == b"".join(right.streaming_content)


def test_a_script_that_never_fetches_the_pictures_cannot_vote():
    contest = make_contest(2, golden_rate=0, min_watch_seconds=2)
    fan = Fan(contest)
    fan.solve_pow()
    pair = fan.get("api/next/").json()
    for k in range(6):
        Pairing.objects.filter(pk=pair["pairing"], last_heartbeat_at__isnull=False).update(
            last_heartbeat_at=timezone.now() - timedelta(seconds=1))
        status = fan.post("api/heartbeat/", {"pairing": pair["pairing"], "visible": "both", "playing": True,
                                             "position": k % 2}).json()
    assert status["ready"] is False
    response = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
    assert response.status_code == 409 and response.json()["code"] == "watch_time_too_short"
    fan.watch(pair["pairing"], 3)
    assert fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"}).status_code == 200
    evidence = Ballot.objects.get().evidence
    assert evidence["media_left_bytes"] > 0 and evidence["media_right_bytes"] > 0
    assert evidence["rejected_heartbeats"] >= 5 and evidence["credited_heartbeats"] >= 2


def test_large_bodies_are_refused_before_they_are_parsed(settings, monkeypatch):
    contest = make_contest(2, golden_rate=0)
    fan = Fan(contest)
    parsed = []
    monkeypatch.setattr(views, "json", SimpleNamespace(
        loads=lambda raw, *a, **k: parsed.append(len(raw)) or json.loads(raw, *a, **k)))
    big = {"pairing": 1, "choice": "left", "padding": "x" * 5000}
    response = fan.post("api/ballot/", big)
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert fan.post("api/heartbeat/", big).status_code == 413
    assert parsed == []
    # A body whose announced length is small but which carries more is cut off by counting.
    response = fan.client.generic("POST", fan.base + "api/heartbeat/", json.dumps(big).encode(),
                                  content_type="application/json", HTTP_X_CSRFTOKEN=fan.csrf, CONTENT_LENGTH="10")
    assert response.status_code in (400, 413) and parsed in ([], [10])
    settings.VOTING_MAX_BODY_BYTES = 10_000
    assert fan.post("api/heartbeat/", big).status_code == 404  # read and parsed: pairing 1 was not served to this fan


# --------------------------------------------------------------------------- screening codes, audit, proxies


def test_a_seat_link_shows_the_code_and_binds_only_on_post():
    contest = make_contest(2)
    code = ScreeningCodeFactory(contest=contest, seat="12")
    fan = Fan(contest)
    page = fan.client.get(f"{fan.base}seat/{code.code}/")
    assert page.status_code == 200 and code.code in page.content.decode()
    code.refresh_from_db()
    assert code.rater is None  # a link preview must not use up the seat
    response = fan.client.post(f"{fan.base}code/", {"code": code.code}, HTTP_X_CSRFTOKEN=fan.csrf)
    assert response.status_code == 302 and response["Location"] == fan.base
    code.refresh_from_db()
    assert code.rater == fan.rater
    assert "Seat 12" in fan.client.get(fan.base).content.decode()
    thief = Fan(contest, ip="10.2.2.2")
    refused = thief.client.post(f"{thief.base}code/", {"code": code.code}, HTTP_X_CSRFTOKEN=thief.csrf)
    assert refused.status_code == 409 and "already been used" in refused.content.decode()
    no_csrf = thief.client.post(f"{thief.base}code/", {"code": code.code})
    assert no_csrf.status_code == 403


def test_screening_codes_page_is_its_contests_creators_and_prints_qr_codes():
    owner, other = technician(), technician()
    contest = make_contest(2)
    Contest.objects.filter(pk=contest.pk).update(created_by=owner)
    url = f"/vote/manage/{contest.pk}/codes/"
    client = Client()
    client.force_login(owner)
    assert client.post(url, {"count": "3", "seat_prefix": "A"}).status_code == 302
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and html.count("<svg") >= 3
    for code in contest.screening_codes.all():
        assert code.code in html and code.created_by == owner
    assert [c.seat for c in contest.screening_codes.order_by("id")] == ["A1", "A2", "A3"]
    assert "Screening codes" in client.get(f"/vote/manage/{contest.pk}/").content.decode()
    client.force_login(other)
    assert client.get(url).status_code == 403
    assert client.post(url, {"count": "5"}).status_code == 403
    assert contest.screening_codes.count() == 3
    assert "Screening codes" not in client.get(f"/vote/manage/{contest.pk}/").content.decode()
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


def test_audit_view_is_for_technicians_and_lists_clusters_and_ballots():
    contest = make_contest(2, golden_rate=0, min_watch_seconds=1)
    fan = Fan(contest)
    fan.solve_pow()
    pair = fan.get("api/next/").json()
    fan.watch(pair["pairing"], 2)
    assert fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"}).status_code == 200
    ExclusionFactory(contest=contest, rater=fan.rater, reason="identity_burst", cluster="net-x",
                     detail="12 new identities from one network")
    url = f"/vote/manage/{contest.pk}/audit/"
    client = Client()
    assert client.get(url).status_code == 302
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(technician())
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and 'data-reason="identity_burst"' in html
    assert "net-x" in html and "12 new identities from one network" in html
    ballot = Ballot.objects.get(rater=fan.rater)
    assert f"<td>{ballot.pk}</td><td>{fan.rater.pk}</td><td>anonymous</td>" in html


def test_results_page_shows_votes_per_tier():
    contest = make_contest(2, golden_rate=0, min_watch_seconds=1, weight_anonymous=0.3)
    fan = Fan(contest)
    fan.solve_pow()
    pair = fan.get("api/next/").json()
    fan.watch(pair["pairing"], 2)
    fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
    html = Client().get(f"/vote/c/{contest.slug}/results/").content.decode()
    assert 'data-tier="anonymous"' in html and 'data-tier="screening"' in html and 'data-tier="account"' in html
    row = re.search(r'data-tier="anonymous"><td>[^<]*</td><td>(\d+)</td><td>(\d+)</td><td>([\d.]+)</td>', html)
    assert row and row.groups() == ("1", "1", "0.30")
    assert Client().get(f"/vote/c/{contest.slug}/api/tally/").json()["tiers"]["anonymous"]["ballots"] == 1


def test_results_page_says_why_a_bought_lead_is_not_decided(settings):
    settings.VOTING_BOOTSTRAP = 40
    contest = make_contest(3, golden_rate=0, min_decision_seconds=0)
    attacked_crowd(contest)
    html = Client().get(f"/vote/c/{contest.slug}/results/").content.decode()
    contest.refresh_from_db()
    assert contest.status == Contest.Status.OPEN
    assert ("Not decided yet (B leads, but not by enough: it must still win without the 20 % of the votes "
            "most favourable to it (the most an attacker may hold).)") in html
    tally = Client().get(f"/vote/c/{contest.slug}/api/tally/").json()
    assert tally["decision"]["held"]["code"] == "trim" and not tally["decision"]["decided"]


def test_the_contest_form_sets_the_trim():
    tech = Client()
    tech.force_login(technician())
    clip = ClipFactory()
    variants = VariantFactory.create_batch(2, clip=clip)
    form = {"variants": [v.pk for v in variants], "min_watch_seconds": 4, "decision_method": "probability",
            "p_best_threshold": 0.95, "min_raters": 5, "golden_rate": 0.1}
    assert 'name="trim"' in tech.get(f"/vote/manage/clips/{clip.pk}/new/").content.decode()
    tech.post(f"/vote/manage/clips/{clip.pk}/new/", {**form, "title": "default"})
    tech.post(f"/vote/manage/clips/{clip.pk}/new/", {**form, "title": "safer", "trim": "0.3"})
    assert Contest.objects.get(title="default").trim == 0.2
    assert Contest.objects.get(title="safer").trim == 0.3
    refused = tech.post(f"/vote/manage/clips/{clip.pk}/new/", {**form, "title": "too much", "trim": "0.6"})
    assert refused.status_code == 200 and not Contest.objects.filter(title="too much").exists()


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_addresses_count_only_from_trusted_proxies(settings, trusted):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"] if trusted else []
    contest = make_contest(2, golden_rate=0, min_watch_seconds=1)
    hashes = []
    for client_ip in ("198.51.100.7", "203.0.113.9"):
        fan = Fan(contest, ip="10.0.0.2")
        fan.client.defaults["HTTP_X_FORWARDED_FOR"] = f"6.6.6.6, {client_ip}"
        fan.solve_pow()
        pair = fan.get("api/next/").json()
        fan.watch(pair["pairing"], 2)
        assert fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"}).status_code == 200
        ballot = Ballot.objects.get(rater=fan.rater)
        hashes.append(ballot.net_hash)
        expected = client_ip if trusted else "10.0.0.2"
        assert ballot.ip_hash == integrity.context_hash(expected)
    assert (hashes[0] != hashes[1]) is trusted


def test_an_anomaly_excluded_rater_gets_the_same_answers():
    contest = make_contest(2, min_watch_seconds=1, golden_rate=0)
    answers = []
    for excluded in (False, True):
        fan = Fan(contest, ip=f"10.8.8.{int(excluded)}")
        fan.solve_pow()
        if excluded:
            ExclusionFactory(contest=contest, rater=fan.rater)
        pair = fan.get("api/next/").json()
        fan.watch(pair["pairing"], 2)
        response = fan.post("api/ballot/", {"pairing": pair["pairing"], "choice": "left"})
        answers.append((response.status_code, sorted(response.json()), sorted(fan.get("api/tally/").json())))
        assert "exclu" not in response.content.decode().lower()
    assert answers[0] == answers[1]
