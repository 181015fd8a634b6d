"""Voting business logic: contests, raters, pairs, heartbeats, ballots, decisions.

Views and consumers are thin and call these functions. Every integrity rule is enforced
here (or by a database constraint these functions translate into a clear error), never
only in the browser:

* proof of work once per rater before the first ballot        -> ``cast_ballot``
* rate limits per rater and per IP (atomic cache counters)     -> ``cast_ballot``, ``record_heartbeat``
* minimum watch time of both sides, from server heartbeats     -> ``record_heartbeat`` + ``cast_ballot``
* one ballot per rater per unordered pair (DB constraint)      -> ``cast_ballot``
* golden pairs served at a small rate, scored into weights     -> ``next_pairing`` + voting.tally
* shadow exclusion: accepted as usual, weight 0, never told    -> voting.tally
"""

from __future__ import annotations

import io
import logging
import random
import secrets
import string
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import segno
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from frontend.live.outbox import publish
from restoration.models import Clip, Variant
from restoration.rendering.adoption import adopt_and_render
from voting import blind, conf, tally
from voting.integrity import (
    ContestClosed,
    DuplicateBallot,
    NotFound,
    ProofOfWorkRequired,
    VotingError,
    WatchTimeTooShort,
    check_rate,
    context_hash,
    issue_challenge,
    network_of,
    verify_solution,
)
from voting.models import (
    Ballot,
    Contest,
    ContestEntry,
    Exclusion,
    Pairing,
    Rater,
    ScreeningCode,
    Tier,
)
from voting.stats.pairing import PairingConfig, Posterior, choose_pair_from_table, fit_posterior
from voting.stats.ranking import Comparison, RankingConfig, RankingResult, VoteTable
from voting.stats.reliability import GoldenPolicy, should_serve_golden
from voting.stats.robust import NetworkBallot, Reason, robust_check

log = logging.getLogger(__name__)

MAX_VARIANTS = 26  # one letter each


# --------------------------------------------------------------------------- contests


def open_contest(*, clip: Clip, variants: Sequence[Variant], user=None, title: str = "",
                 decoys: dict[Variant, Variant] | None = None, rng: random.Random | None = None,
                 **settings: Any) -> Contest:
    """Open a contest over 2..26 rendered variants of one clip (a technician's action).

    The variants must be finished renders of the same excerpt (same frame range), or
    the two players would show different moments. Labels are handed out in random
    order so "A" says nothing about which preset came first. ``decoys`` maps a
    competing variant to a deliberately damaged copy, used only in golden pairs.
    ``settings`` are Contest fields (min_watch_seconds, decision_method, …).
    """
    variants = list(dict.fromkeys(variants))
    decoys = dict(decoys or {})
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise VotingError(_("A contest needs between 2 and %(most)d variants, got %(count)d.")
                          % {"most": MAX_VARIANTS, "count": len(variants)})
    for v in [*variants, *decoys.values()]:
        if v.clip_id != clip.pk:
            raise VotingError(_("Variant %(id)s belongs to another clip.") % {"id": v.pk})
        if v.status != Variant.Status.DONE or not v.output:
            raise VotingError(_("Variant %(id)s has not finished rendering.") % {"id": v.pk})
    ranges = {(v.start_frame, v.end_frame) for v in [*variants, *decoys.values()]}
    if len(ranges) != 1:
        raise VotingError(_("All variants must be renders of the same excerpt (same frame range)."))
    for original, decoy in decoys.items():
        if original not in variants:
            raise VotingError(_("Decoy %(decoy)s copies variant %(original)s, which is not in the contest.")
                              % {"decoy": decoy.pk, "original": original.pk})
        if decoy in variants:
            raise VotingError(_("Variant %(id)s cannot both compete and be a decoy.") % {"id": decoy.pk})
    allowed = {f.name for f in Contest._meta.get_fields()} - {"id", "clip", "variants", "status", "slug",
                                                              "winner", "created_by", "title"}
    unknown = set(settings) - allowed
    if unknown:
        raise VotingError(f"Unknown contest settings: {', '.join(sorted(unknown))}.")
    rng = rng or random.SystemRandom()
    order = list(variants)
    rng.shuffle(order)
    with transaction.atomic():
        contest = Contest.objects.create(clip=clip, title=title, created_by=user, **settings)
        entries = {}
        for letter, variant in zip(string.ascii_uppercase, order, strict=False):
            entries[variant] = ContestEntry.objects.create(contest=contest, variant=variant, label=letter)
        for n, (original, decoy) in enumerate(decoys.items(), start=1):
            ContestEntry.objects.create(contest=contest, variant=decoy, label=f"~{n}",
                                        decoy_of=entries[original])
        # The blind copies fans are served (voting.blind): a file that cannot be copied
        # or padded leaves no contest behind.
        blind.publish_blind_media(contest)
    log.info("opened %s over %d variants", contest, len(variants))
    return contest


def contest_url(contest: Contest, base_url: str) -> str:
    """The public voting link (``base_url`` like ``https://arena.example.org``)."""
    return base_url.rstrip("/") + contest.get_absolute_url()


def qr_code(url: str, kind: str = "svg", scale: int = 8) -> bytes:
    """A QR code of the voting link to print or show on a screen (segno, error level M)."""
    qr = segno.make(url, error="m")
    buffer = io.BytesIO()
    if kind == "svg":
        qr.save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, title="Vote link")
    elif kind == "png":
        qr.save(buffer, kind="png", scale=scale, border=2)
    else:
        raise VotingError(f"QR codes come as svg or png, not {kind!r}.")
    return buffer.getvalue()


def close_contest(contest: Contest, *, user=None) -> Contest:
    """Stop taking ballots. A decided contest stays decided."""
    with transaction.atomic():
        contest = Contest.objects.select_for_update().get(pk=contest.pk)
        if contest.status == Contest.Status.OPEN:
            contest.status = Contest.Status.CLOSED
            contest.closed_at = timezone.now()
            contest.save(update_fields=["status", "closed_at"])
            blind.withdraw_blind_media(contest)
    publish(contest.topic, {"type": "contest.status", "contest": contest.pk, "status": contest.status})
    return contest


def reopen_contest(contest: Contest) -> Contest:
    with transaction.atomic():
        contest = Contest.objects.select_for_update().get(pk=contest.pk)
        if contest.status == Contest.Status.CLOSED:
            contest.status, contest.closed_at = Contest.Status.OPEN, None
            contest.save(update_fields=["status", "closed_at"])
            blind.publish_blind_media(contest)
    publish(contest.topic, {"type": "contest.status", "contest": contest.pk, "status": contest.status})
    return contest


def update_settings(contest: Contest, *, auto_adopt: bool | None = None, auto_decide: bool | None = None) -> Contest:
    fields = []
    if auto_adopt is not None:
        contest.auto_adopt = auto_adopt
        fields.append("auto_adopt")
    if auto_decide is not None:
        contest.auto_decide = auto_decide
        fields.append("auto_decide")
    if fields:
        contest.save(update_fields=fields)
    return contest


def decide_contest(contest: Contest, winner_label: str, reason: str) -> bool:
    """Declare the winner (once). Returns True if this call made the decision."""
    with transaction.atomic():
        locked = Contest.objects.select_for_update().get(pk=contest.pk)
        if locked.status != Contest.Status.OPEN:
            return False
        locked.winner = locked.entries.get(label=winner_label)
        locked.status = Contest.Status.DECIDED
        locked.decision_reason = reason
        locked.decided_at = locked.closed_at = timezone.now()
        locked.save(update_fields=["winner", "status", "decision_reason", "decided_at", "closed_at"])
        blind.withdraw_blind_media(locked)
    log.info("%s decided: %s", locked, reason)
    notice = {"type": "contest.decided", "contest": locked.pk, "winner": winner_label, "reason": reason}
    publish(locked.topic, notice)
    publish(f"film-{locked.clip.film_id}", notice)  # technicians watching the film page
    if locked.auto_adopt:
        try:
            adopt_winner(locked, user=locked.created_by)
        except Exception:  # the decision stands; adoption can be retried by hand
            log.exception("auto-adopt of %s failed", locked)
    return True


def weighted_ballots(contest: Contest) -> list[NetworkBallot]:
    """The contest's non-golden ballots as the tally weighs them (trust tier, reliability,
    shadow exclusion), with their network and time, for the robustness check; ballots
    cast with a screening code are vouched for (the trim leaves them)."""
    excluded = tally.excluded_rater_ids(contest)
    rows = Ballot.objects.filter(contest=contest, is_golden=False).values_list(
        "net_hash", "cast_at", "left__label", "right__label", "choice", "rater_id", "rater__weight",
        "rater__excluded_by_staff", "tier")
    return [NetworkBallot(net, cast.timestamp(), Comparison(
                left, right, choice, str(rater),
                tally.ballot_weight(contest, tier=tier, reliability_weight=weight,
                                    excluded=rater in excluded or staff)),
                          vouched=tier == Tier.SCREENING)
            for net, cast, left, right, choice, rater, weight, staff, tier in rows]


def robust_decision(contest: Contest, result: RankingResult) -> tuple[bool, Reason]:
    """Whether a decision by the rule also survives its likeliest attackers
    (voting.stats.robust.robust_check): ballots that weigh something from at least
    ``min_networks`` networks (/24 or /48), spread over at least ``min_decision_seconds``;
    the same decided winner once the contest's ``trim`` share of the ballot weight most
    favourable to it is removed (so attackers holding at most that share, however
    human-like, can neither decide the contest for their variant nor flip it); and the
    same winner after removing all ballots of any one of the largest network clusters.
    A script behind one address (or one cloud subnet) can therefore never decide a
    contest on its own, however many fresh identities it mints. The reason, when it
    does not stand, carries a code and figures for the pages (:func:`held_reason_text`)."""
    if not result.decision.decided:
        return False, Reason(result.decision.reason)
    items = sorted(e.label for e in contest.entries.all() if not e.is_decoy)
    config = RankingConfig(n_bootstrap=min(conf.ratings_bootstrap(), 100), confidence=contest.confidence,
                           seed=contest.pk)
    robust, why = robust_check(weighted_ballots(contest), items, result.decision.winner,
                               rule=tally.decision_rule(contest), config=config,
                               min_networks=contest.min_networks, min_seconds=contest.min_decision_seconds,
                               trim=contest.trim)
    return robust, (Reason(result.decision.reason) if robust else why)


def held_reason_text(code: str, params: dict[str, Any]) -> str:
    """A robust check's reason (voting.stats.robust.Reason's code and figures) in the
    request's language; the live tally (voting/static/voting/tally.js) has the same
    sentences for its updates. Empty for an unknown code."""
    params = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in params.items()}
    if code == "networks":
        return ngettext("The votes that count come from %(have)s network; %(need)s are needed.",
                        "The votes that count come from %(have)s networks; %(need)s are needed.",
                        int(params["have"])) % params
    if code == "duration":
        return _("The votes span %(seconds)s s; %(need)s s are needed.") % params
    if code == "trim":
        return _("%(winner)s leads, but not by enough: it must still win without the %(percent)s %% of the "
                 "votes most favourable to it (the most an attacker may hold).") % {
            "winner": params["winner"], "percent": round(100 * float(params["share"]))}
    if code == "one_network":
        return _("The result does not hold without the %(ballots)s votes from one network.") % params
    return ""


def apply_decision_rule(contest: Contest, result: RankingResult) -> dict[str, Any] | None:
    """Called after each recompute: when the rule fires, check that the decision is
    robust, and close the contest if it is and ``auto_decide`` is on (so auto-adopt,
    which follows the decision, needs the robust decision too). Returns what the tally
    must show instead of the rule's decision when it is not robust (the contest is not
    decided, and why: voting.tally puts it in the tally's ``decision``), else None."""
    if contest.status != Contest.Status.OPEN or not result.decision.decided:
        return None
    robust, reason = robust_decision(contest, result)
    if robust:
        if contest.auto_decide:
            decide_contest(contest, result.decision.winner, reason)
        return None
    log.info("%s: the rule fired but the decision is not robust: %s", contest, reason)
    return {"decided": False, "winner": None, "reason": str(reason), "more_votes": None,
            "held": {"code": reason.code, "params": reason.params, "leader": result.decision.winner}}


def contest_ratings(contest: Contest) -> dict[str, Any]:
    """The cached tally (recomputed when ballots changed), applying the decision rule."""
    return tally.get(contest, apply_decision_rule)


def adopt_winner(contest: Contest, *, user=None) -> Contest:
    """Make the winner the film's preset and start the full-film render."""
    contest = Contest.objects.select_related("winner__variant__preset_version__preset", "clip__film").get(pk=contest.pk)
    if contest.status != Contest.Status.DECIDED or contest.winner is None:
        raise VotingError(_("Only a decided contest has a winner to adopt."))
    adoption = adopt_and_render(contest.clip.film, contest.winner.variant, user=user)
    contest.adopted_preset, contest.adopted_by, contest.adopted_at = (
        adoption.preset_version, user, timezone.now())
    contest.adoption_note = adoption.note
    contest.save(update_fields=["adopted_preset", "adopted_by", "adopted_at", "adoption_note"])
    publish(contest.topic, {"type": "contest.adopted", "contest": contest.pk, "note": adoption.note})
    return contest


# --------------------------------------------------------------------------- raters


def identify_rater(token: str | None, user=None) -> tuple[Rater, bool]:
    """The rater behind a (signed, already verified) cookie token; a new one if absent."""
    rater = None
    if token:
        rater = Rater.objects.filter(token=token).first()
    if rater is None:
        return Rater.objects.create(user=user if user is not None and user.is_authenticated else None), True
    if user is not None and user.is_authenticated and rater.user_id is None:
        rater.user = user
        rater.save(update_fields=["user"])
    return rater, False


def find_rater(token: str | None) -> Rater | None:
    """The rater behind a verified cookie token, without creating one."""
    try:
        return Rater.objects.filter(token=uuid.UUID(token)).first() if token else None
    except ValueError:
        return None


def pow_challenge(rater: Rater) -> dict[str, Any] | None:
    """A proof-of-work challenge, or None when this rater already solved one."""
    if rater.pow_solved_at is not None:
        return None
    bits = conf.pow_bits()
    return {"challenge": issue_challenge(rater.token.hex, bits), "bits": bits}


def submit_pow(rater: Rater, challenge: str, nonce: str) -> Rater:
    bits = verify_solution(challenge, nonce, rater.token.hex)
    if rater.pow_solved_at is None:
        rater.pow_solved_at, rater.pow_bits = timezone.now(), bits
        rater.save(update_fields=["pow_solved_at", "pow_bits"])
    return rater


def set_rater_excluded(rater: Rater, excluded: bool) -> None:
    """A technician's manual shadow exclusion; takes effect in every affected contest."""
    rater.excluded_by_staff = excluded
    rater.save(update_fields=["excluded_by_staff"])
    for contest_id in rater.ballots.values_list("contest_id", flat=True).distinct():
        tally.invalidate(contest_id)


# --------------------------------------------------------------------------- trust tiers


def ballot_tier(contest: Contest, rater: Rater) -> str:
    """The rater's trust tier in this contest: a screening code of this contest, a
    signed-in account, or neither. Holding both, the tier whose weight is larger."""
    tiers = [Tier.ANONYMOUS]
    if ScreeningCode.objects.filter(contest=contest, rater=rater).exists():
        tiers.append(Tier.SCREENING)
    if rater.user_id is not None:
        tiers.append(Tier.ACCOUNT)
    return str(max(tiers, key=contest.tier_weight))


#: The most codes one batch makes (a large cinema's seats).
MAX_CODES_PER_BATCH = 1000


class CodeRefused(VotingError):
    status, code = 409, "code_refused"


def normalise_code(code: str) -> str:
    """Codes are typed from printed cards: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())[:16]


def generate_screening_codes(contest: Contest, count: int, *, user=None, seat_prefix: str = "") -> list[ScreeningCode]:
    """A batch of one-time screening codes for a contest (a technician's action), seats
    numbered after the contest's existing codes ("<prefix><n>")."""
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise VotingError(_("A batch has between 1 and %(most)d codes.") % {"most": MAX_CODES_PER_BATCH})
    with transaction.atomic():
        Contest.objects.select_for_update().filter(pk=contest.pk).first()  # number seats one batch at a time
        start = ScreeningCode.objects.filter(contest=contest).count() + 1
        return ScreeningCode.objects.bulk_create([
            ScreeningCode(contest=contest, seat=f"{seat_prefix}{start + k}"[:32], created_by=user)
            for k in range(count)])


def redeem_screening_code(contest: Contest, rater: Rater, code: str) -> ScreeningCode:
    """Bind a screening code to the rater who presents it first. Idempotent for that
    rater; refused for anyone else, for a code of another contest, and for a rater who
    already holds another code of this contest (one seat, one weight)."""
    value = normalise_code(code)
    if not contest.is_open:
        raise ContestClosed(_("This contest is closed. Thank you for voting!"))
    with transaction.atomic():
        found = ScreeningCode.objects.select_for_update().filter(contest=contest, code=value).first()
        if found is None:
            raise NotFound(_("This code is not one of this screening's codes."))
        if found.rater_id == rater.pk:
            return found
        if found.rater_id is not None:
            raise CodeRefused(_("This code has already been used."))
        if ScreeningCode.objects.filter(contest=contest, rater=rater).exists():
            raise CodeRefused(_("You already hold a code for this screening."))
        found.rater, found.redeemed_at = rater, timezone.now()
        found.save(update_fields=["rater", "redeemed_at"])
    log.info("screening code %s of contest %s redeemed", found.pk, contest.pk)
    return found


def screening_code_url(contest: Contest, code: ScreeningCode, base_url: str) -> str:
    """The seat's link (printed as its QR code): opens the page that redeems the code."""
    return base_url.rstrip("/") + reverse("voting:seat", args=[contest.slug, code.code])


# --------------------------------------------------------------------------- audit


def audit(contest: Contest) -> dict[str, Any]:
    """Shadow exclusions of a contest for the technician's audit view: the anomaly
    checks' clusters (reason, cluster, raters, figures, their ballots), and the raters
    the reliability checks or a technician weighed out."""
    exclusions = list(Exclusion.objects.filter(contest=contest).order_by("reason", "cluster", "rater_id"))
    ballots: dict[int, list[Ballot]] = {}
    for b in (Ballot.objects.filter(contest=contest).select_related("left", "right").order_by("cast_at")):
        ballots.setdefault(b.rater_id, []).append(b)
    clusters: dict[tuple[str, str], dict[str, Any]] = {}
    for e in exclusions:
        c = clusters.setdefault((e.reason, e.cluster), {"reason": e.reason, "cluster": e.cluster, "detail": e.detail,
                                                       "raters": [], "ballots": []})
        c["raters"].append(e.rater_id)
        c["ballots"].extend(ballots.get(e.rater_id, []))
    anomalous = {e.rater_id for e in exclusions}
    weighed_out = [r for r in Rater.objects.filter(pk__in=list(ballots)).order_by("pk")
                   if (r.excluded or r.flags) and r.pk not in anomalous]
    return {"clusters": list(clusters.values()), "n_excluded": len(anomalous),
            "reliability": [{"rater": r, "ballots": ballots.get(r.pk, [])} for r in weighed_out]}


# --------------------------------------------------------------------------- pairs


def _open_pairing(contest: Contest, rater: Rater) -> Pairing | None:
    cutoff = timezone.now() - timedelta(seconds=conf.pairing_expiry_seconds())
    return (Pairing.objects.select_related("left__variant", "right__variant")
            .filter(contest=contest, rater=rater, answered=False, served_at__gte=cutoff)
            .order_by("-served_at").first())


def _golden_candidates(contest: Contest, rater: Rater, entries: list[ContestEntry]) -> list[tuple]:
    done = set(Ballot.objects.filter(contest=contest, rater=rater, is_golden=True)
               .values_list("entry_low_id", "entry_high_id"))
    out = []
    for e in entries:
        if e.is_decoy:
            original = next(o for o in entries if o.pk == e.decoy_of_id)
            key = (min(e.pk, original.pk), max(e.pk, original.pk))
            if key not in done:
                out.append((Pairing.GoldenKind.DAMAGED, original, e))
        elif (e.pk, e.pk) not in done:
            out.append((Pairing.GoldenKind.IDENTICAL, e, e))
    return out


#: Per process: contest id -> (ballot version, weighted vote table, posterior). The pair
#: selector needs every ballot of the contest aggregated and the model's Laplace
#: posterior; between two ballots neither changes, and rebuilding them for each of
#: hundreds of fans asking for a pair is wasted. After a ballot the posterior is refitted
#: warm-started from the cached one (one or two Newton steps).
_table_cache: dict[int, tuple[str, VoteTable, Posterior]] = {}


def _vote_table(contest: Contest, labels: dict[int, str], items: list[str]) -> tuple[VoteTable, Posterior]:
    version = tally.current_version(contest.pk)
    cached = _table_cache.get(contest.pk)
    if cached is not None and cached[1].items != tuple(items):
        cached = None  # another set of variants: nothing to reuse
    if cached is not None and cached[0] == version:
        return cached[1], cached[2]
    rows = (Ballot.objects.filter(contest=contest, is_golden=False)
            .values_list("left_id", "right_id", "choice", "rater_id", "rater__weight", "tier"))
    excluded = tally.excluded_rater_ids(contest)
    table = VoteTable.from_comparisons(
        (Comparison(labels[left], labels[right], choice, str(rater),
                    tally.ballot_weight(contest, tier=tier, reliability_weight=weight, excluded=rater in excluded))
         for left, right, choice, rater, weight, tier in rows), items)
    posterior = fit_posterior(table, PairingConfig().model, cached[2] if cached else None)
    _table_cache[contest.pk] = (version, table, posterior)
    return table, posterior


def _judged(contest: Contest, rater: Rater, labels: dict[int, str]) -> set[frozenset[str]]:
    """Pairs this rater has already voted on (goldens aside: they are served separately)."""
    rows = Ballot.objects.filter(contest=contest, rater=rater, is_golden=False).values_list("left_id", "right_id")
    return {frozenset((labels[left], labels[right])) for left, right in rows}


def next_pairing(contest: Contest, rater: Rater, *, rng: np.random.Generator | None = None) -> Pairing | None:
    """The pair this rater should judge next, sides already randomised; None when they
    have judged every pair. An unanswered pairing is served again (reloading the page
    does not re-roll it), so nobody can fish for a pair they like."""
    if not contest.is_open:
        raise ContestClosed(_("This contest is closed. Thank you for voting!"))
    existing = _open_pairing(contest, rater)
    if existing is not None:
        return existing
    rng = rng if rng is not None else np.random.default_rng()
    entries = list(contest.entries.all())
    labels = {e.pk: e.label for e in entries}
    by_label = {e.label: e for e in entries}
    ranked = [e for e in entries if not e.is_decoy]

    served = Pairing.objects.filter(contest=contest, rater=rater)
    n_served, n_golden = served.count(), served.filter(is_golden=True).count()
    if contest.golden_rate > 0 and should_serve_golden(
            n_served, n_golden, rng, GoldenPolicy(rate=contest.golden_rate)):
        candidates = _golden_candidates(contest, rater, entries)
        if candidates:
            kind, clean, other = candidates[int(rng.integers(len(candidates)))]
            if kind == Pairing.GoldenKind.IDENTICAL:
                left, right, expected = clean, clean, "same"
            elif rng.random() < 0.5:
                left, right, expected = clean, other, "left"
            else:
                left, right, expected = other, clean, "right"
            return Pairing.objects.create(contest=contest, rater=rater, left=left, right=right, is_golden=True,
                                          golden_kind=kind, golden_expected=expected, reason="golden")

    items = [e.label for e in ranked]
    table, posterior = _vote_table(contest, labels, items)
    choice = choose_pair_from_table(table, _judged(contest, rater, labels), rng=rng, posterior=posterior)
    if choice is None:
        return None
    return Pairing.objects.create(contest=contest, rater=rater, left=by_label[choice.left],
                                  right=by_label[choice.right], reason=choice.reason)


def get_pairing(contest: Contest, rater: Rater, pairing_id: int) -> Pairing:
    pairing = (Pairing.objects.select_related("left", "right")
               .filter(pk=pairing_id, contest=contest, rater=rater).first())
    if pairing is None:
        raise NotFound("This pair was not served to you.")
    return pairing


# --------------------------------------------------------------------------- blind media

MEDIA_SALT = "voting.media"
SIDES = ("left", "right")


def media_url_token(pairing: Pairing, side: str) -> str:
    """An opaque, signed, expiring token naming one side of one pairing.

    It carries the pairing and the side (never the variant or its render), plus a random
    nonce, so both sides of an identical golden pair get different URLs and two fans never
    share one; the signature uses the site's secret key, the expiry is checked by
    ``open_media``."""
    if side not in SIDES:
        raise VotingError(_("side must be left or right."))
    return signing.dumps({"p": pairing.pk, "s": side[0], "n": secrets.token_urlsafe(6)},
                         salt=MEDIA_SALT, compress=True)


def open_media(contest: Contest, rater: Rater | None, token: str) -> tuple[Pairing, str]:
    """The pairing and side a media token names, if it is valid, unexpired, of this
    contest and served to this very rater (the cookie travels with the player's request)."""
    try:
        data = signing.loads(token, salt=MEDIA_SALT, max_age=conf.media_url_max_age())
        pairing_id, side = int(data["p"]), {"l": "left", "r": "right"}[data["s"]]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("No such media.") from None
    if rater is None:
        raise NotFound("No such media.")
    pairing = (Pairing.objects.select_related("contest")
               .filter(pk=pairing_id, contest=contest, rater=rater).first())
    if pairing is None:
        raise NotFound("No such media.")
    return pairing, side


def record_media_served(pairing: Pairing, side: str, nbytes: int) -> None:
    """Count what the media view served for one side: the evidence that this rater's
    player really fetched both pictures (``record_heartbeat`` credits nothing before)."""
    Pairing.objects.filter(pk=pairing.pk).update(**{
        f"media_{side}_bytes": F(f"media_{side}_bytes") + max(int(nbytes), 0),
        f"media_{side}_requests": F(f"media_{side}_requests") + 1})


def excerpt_seconds(entry: ContestEntry, clip: Clip) -> float | None:
    """The excerpt's length in seconds, when known (to recognise a player's loop)."""
    variant = entry.variant
    if variant.end_frame is not None and clip.fps:
        return max(variant.end_frame - variant.start_frame, 0) / clip.fps or None
    return clip.duration or None


def playback_consistent(previous: float | None, position: float | None, elapsed: float,
                        loop: float | None) -> bool:
    """Did the player's clock advance about as much as the server's since the last beat?

    A script that beats without playing reports a frozen (or absent) position; a real
    player's ``currentTime`` moves at the server's pace, up to network jitter, and wraps
    to 0 at the end of the excerpt (``loop`` seconds) when it loops."""
    if previous is None or position is None or elapsed <= 0:
        return False
    tolerance = 0.6 + 0.2 * elapsed
    advance = position - previous
    if loop:
        gap = (advance - elapsed) % loop
        return min(gap, loop - gap) <= tolerance
    return abs(advance - elapsed) <= tolerance or (advance < 0 and position <= tolerance + elapsed)


VISIBLE = {"both": (True, True), "left": (True, False), "right": (False, True), "none": (False, False)}


def record_heartbeat(contest: Contest, rater: Rater, pairing_id: int, *, visible: str, playing: bool,
                     position: float | None = None, now: datetime | None = None) -> Pairing:
    """Credit watch time since the previous heartbeat to the sides on screen.

    The credit is the *server's* wall-clock time since the last heartbeat, capped (a tab
    that slept earns nothing for the gap), so no client can claim more watching than
    actually elapsed. The client only says which sides were on screen and playing, and
    where the player is (``position``, seconds). Nothing is credited until the media view
    has served both sides of this pairing to this rater, nor for a beat whose position did
    not advance with the server's clock (a script that never plays anything); such beats
    are counted as rejected, part of the evidence stored with the ballot.
    """
    if visible not in VISIBLE:
        raise VotingError(_("visible must be one of both, left, right, none."))
    if position is not None and not (0 <= position < 1e6):
        raise VotingError(_("position must be the player's time in seconds."))
    check_rate("hb-rater", str(rater.pk), conf.heartbeat_limit_per_rater(), _("heartbeats"))
    now = now or timezone.now()
    with transaction.atomic():
        pairing = (Pairing.objects.select_for_update(of=("self",)).select_related("left__variant")
                   .filter(pk=pairing_id, contest=contest, rater=rater).first())
        if pairing is None:
            raise NotFound("This pair was not served to you.")
        if pairing.answered:
            return pairing
        credit = 0.0
        if pairing.last_heartbeat_at is not None and playing:
            elapsed = (now - pairing.last_heartbeat_at).total_seconds()
            served = pairing.media_left_bytes > 0 and pairing.media_right_bytes > 0
            loop = excerpt_seconds(pairing.left, contest.clip)
            if served and playback_consistent(pairing.last_position, position, elapsed, loop):
                credit = min(max(elapsed, 0.0), conf.heartbeat_max_credit())
                pairing.credited_heartbeats += 1
            elif elapsed > 0:
                pairing.rejected_heartbeats += 1
        show_left, show_right = VISIBLE[visible]
        pairing.watched_left_seconds += credit if show_left else 0.0
        pairing.watched_right_seconds += credit if show_right else 0.0
        pairing.heartbeats += 1
        pairing.last_heartbeat_at = now
        pairing.last_position = position
        pairing.save(update_fields=["watched_left_seconds", "watched_right_seconds", "heartbeats",
                                    "last_heartbeat_at", "last_position", "credited_heartbeats",
                                    "rejected_heartbeats"])
    return pairing


def watch_evidence(pairing: Pairing) -> dict[str, Any]:
    """What the server saw of this watch session, stored with the ballot for audit."""
    return {"media_left_bytes": pairing.media_left_bytes, "media_right_bytes": pairing.media_right_bytes,
            "media_left_requests": pairing.media_left_requests,
            "media_right_requests": pairing.media_right_requests,
            "credited_heartbeats": pairing.credited_heartbeats,
            "rejected_heartbeats": pairing.rejected_heartbeats}


def watch_status(contest: Contest, pairing: Pairing) -> dict[str, Any]:
    need = contest.min_watch_seconds
    return {"watched_left": round(pairing.watched_left_seconds, 2),
            "watched_right": round(pairing.watched_right_seconds, 2),
            "min_watch_seconds": need,
            "ready": min(pairing.watched_left_seconds, pairing.watched_right_seconds) >= need}


def cast_ballot(contest: Contest, rater: Rater, pairing_id: int, choice: str, *, ip: str = "",
                user_agent: str = "") -> Ballot:
    """Record a vote on a served pair, after every integrity check (see module doc).

    A shadow-excluded rater goes through exactly the same path and gets the same answer;
    only the ratings give their ballots weight 0.
    """
    if choice not in Ballot.Choice.values:
        raise VotingError(_("choice must be left, right or same."))
    if not contest.is_open:
        raise ContestClosed(_("This contest is closed. Thank you for voting!"))
    # Counted before any other check, so hammering the endpoint with bad ballots is
    # limited too.
    check_rate("ballot-rater", str(rater.pk), conf.ballot_limit_per_rater(), _("votes from this browser"))
    check_rate("ballot-ip", context_hash(ip or "unknown"), conf.ballot_limit_per_ip(),
               _("votes from this network"))
    if rater.pow_solved_at is None:
        raise ProofOfWorkRequired(_("Your browser has to finish a short check before voting."))
    pairing = get_pairing(contest, rater, pairing_id)
    if pairing.answered:
        raise DuplicateBallot(_("You already voted on this pair."))
    watched = min(pairing.watched_left_seconds, pairing.watched_right_seconds)
    if watched < contest.min_watch_seconds:
        raise WatchTimeTooShort(
            _("Watch both sides for at least %(need)s s before voting "
              "(so far %(left)s s left, %(right)s s right).")
            % {"need": f"{contest.min_watch_seconds:g}", "left": f"{pairing.watched_left_seconds:.1f}",
               "right": f"{pairing.watched_right_seconds:.1f}"})
    low, high = sorted((pairing.left_id, pairing.right_id))
    try:
        with transaction.atomic():
            ballot = Ballot.objects.create(
                contest=contest, rater=rater, pairing=pairing, left_id=pairing.left_id,
                right_id=pairing.right_id, entry_low_id=low, entry_high_id=high, choice=choice,
                watched_left_seconds=pairing.watched_left_seconds,
                watched_right_seconds=pairing.watched_right_seconds, heartbeats=pairing.heartbeats,
                served_at=pairing.served_at, ip_hash=context_hash(ip) if ip else "",
                net_hash=context_hash(network_of(ip)) if ip else "",
                ua_hash=context_hash(user_agent) if user_agent else "", tier=ballot_tier(contest, rater),
                is_golden=pairing.is_golden,
                golden_kind=pairing.golden_kind, golden_expected=pairing.golden_expected,
                evidence=watch_evidence(pairing))
            Pairing.objects.filter(pk=pairing.pk).update(answered=True)
    except IntegrityError:
        # The constraint one_ballot_per_rater_per_pair (or one ballot per pairing) fired:
        # a double submit or a second tab. The first ballot stands.
        raise DuplicateBallot(_("You already voted on this pair.")) from None
    return ballot


def after_ballot(contest: Contest) -> dict[str, Any] | None:
    """Recompute and publish the tally (single-flight, at most once per cool-down, with a
    trailing recompute); apply the decision rule."""
    return tally.refresh_soon(contest.pk, apply_decision_rule)


# --------------------------------------------------------------------------- export


EXPORT_FIELDS = (
    "ballot", "contest", "cast_at", "served_at", "rater", "rater_weight", "rater_reliability",
    "rater_excluded", "rater_flags", "pairing", "pairing_reason", "left_label", "right_label",
    "left_variant", "right_variant", "left_preset", "right_preset", "choice", "chosen_label",
    "is_golden", "golden_kind", "golden_expected", "golden_correct", "watched_left_seconds",
    "watched_right_seconds", "heartbeats", "ip_hash", "ua_hash",
)


def export_ballots(contest: Contest) -> Iterator[dict[str, Any]]:
    """Every ballot with its context, oldest first, for audit (technicians only)."""
    qs = (Ballot.objects.filter(contest=contest).order_by("id")
          .select_related("rater", "pairing", "left__variant__preset_version__preset",
                          "right__variant__preset_version__preset"))
    for b in qs.iterator(chunk_size=500):
        chosen = {"left": b.left.label, "right": b.right.label, "same": ""}[b.choice]
        yield {
            "ballot": b.pk, "contest": contest.pk, "cast_at": b.cast_at.isoformat(),
            "served_at": b.served_at.isoformat(), "rater": b.rater_id,
            "rater_weight": round(b.rater.weight, 4), "rater_reliability": round(b.rater.reliability, 4),
            "rater_excluded": b.rater.excluded, "rater_flags": " ".join(b.rater.flags),
            "pairing": b.pairing_id, "pairing_reason": b.pairing.reason,
            "left_label": b.left.label, "right_label": b.right.label,
            "left_variant": b.left.variant_id, "right_variant": b.right.variant_id,
            "left_preset": str(b.left.variant.preset_version), "right_preset": str(b.right.variant.preset_version),
            "choice": b.choice, "chosen_label": chosen, "is_golden": b.is_golden,
            "golden_kind": b.golden_kind, "golden_expected": b.golden_expected,
            "golden_correct": b.golden_correct, "watched_left_seconds": round(b.watched_left_seconds, 3),
            "watched_right_seconds": round(b.watched_right_seconds, 3), "heartbeats": b.heartbeats,
            "ip_hash": b.ip_hash, "ua_hash": b.ua_hash,
        }
