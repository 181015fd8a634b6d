"""Voting pages and the small JSON API the voting page talks to. Thin: services decide.

Fans are identified by a random token in a signed cookie (no account needed); the
JSON endpoints keep Django's CSRF protection because that cookie is an ambient
credential.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import TECHNICIAN, role_required
from frontend.media import ranged_response, requested_length
from restoration.models import Clip, Variant
from restoration.rendering.distinctness import indistinct_warnings
from voting import blind, conf, plots, selectors, services
from voting.integrity import RateLimited, VotingError, client_address
from voting.models import Contest, Pairing, Rater
from voting.stats.ranking import SITE_DEFAULT_RULE
from voting.stats.robust import DEFAULT_TRIM

RATER_COOKIE = "reel_rater"
RATER_SALT = "voting.rater"
RATER_COOKIE_AGE = 365 * 24 * 3600


# --------------------------------------------------------------------------- helpers


def _rater(request: HttpRequest) -> tuple[Rater, bool]:
    token = request.get_signed_cookie(RATER_COOKIE, default=None, salt=RATER_SALT)
    try:
        token = str(uuid.UUID(token)) if token else None
    except ValueError:
        token = None
    return services.identify_rater(token, request.user)


def _remember(response: HttpResponse, rater: Rater, created: bool) -> HttpResponse:
    if created:
        response.set_signed_cookie(RATER_COOKIE, rater.token.hex, salt=RATER_SALT, max_age=RATER_COOKIE_AGE,
                                   httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE)
    return response


class BodyTooLarge(VotingError):
    status, code = 413, "body_too_large"


def _body(request: HttpRequest) -> dict[str, Any]:
    # The voting API's bodies are a few dozen bytes: anything larger is refused by its
    # announced length, or by counting, before a byte of it is parsed.
    limit = conf.max_body_bytes()
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit:
        raise BodyTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": limit})
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise BodyTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": limit})
    if request.content_type == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise VotingError(_("The request body is not valid JSON.")) from None
        if not isinstance(data, dict):
            raise VotingError(_("The request body must be a JSON object."))
        return data
    return dict(QueryDict(raw).items())


def _int(data: dict[str, Any], name: str) -> int:
    try:
        return int(data[name])
    except (KeyError, TypeError, ValueError):
        raise VotingError(_("%(name)s must be a whole number.") % {"name": name}) from None


def json_api(view: Callable) -> Callable:
    """Resolve the contest and the rater; turn refusals into JSON errors."""
    @wraps(view)
    def wrapper(request: HttpRequest, slug: str) -> HttpResponse:
        contest = Contest.objects.filter(slug=slug).select_related("clip").first()
        if contest is None:
            return JsonResponse({"error": _("No such contest."), "code": "not_found"}, status=404)
        rater, created = _rater(request)
        try:
            response = view(request, contest, rater)
        except VotingError as err:
            response = JsonResponse({"error": err.message, "code": err.code}, status=err.status)
            if isinstance(err, RateLimited):
                response["Retry-After"] = str(err.retry_after)
        return _remember(response, rater, created)
    return wrapper


def _client_ip(request: HttpRequest) -> str:
    # X-Forwarded-For only from a configured trusted proxy (settings.TRUSTED_PROXIES):
    # from anyone else it is the client's own claim, and a per-network rule that
    # trusted it would limit nothing.
    return client_address(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR"),
                          getattr(settings, "TRUSTED_PROXIES", []))


def _pairing_json(contest: Contest, pairing: Pairing) -> dict[str, Any]:
    # Blind media URLs: per pairing and side, signed, expiring; nothing in them (or
    # anywhere in this JSON) names the variant or its render.
    clip = contest.clip
    return {
        "pairing": pairing.pk,
        **{side: {"src": reverse("voting:media", args=[contest.slug, services.media_url_token(pairing, side)])}
           for side in services.SIDES},
        "fps": clip.fps or 24.0,
        **services.watch_status(contest, pairing),
    }


# --------------------------------------------------------------------------- public pages


@ensure_csrf_cookie
@require_GET
def vote_page(request: HttpRequest, slug: str) -> HttpResponse:
    contest = get_object_or_404(Contest.objects.select_related("clip__film"), slug=slug)
    rater, created = _rater(request)
    context = {
        "contest": contest,
        "film": contest.clip.film,
        "labels": [e.label for e in contest.entries.all() if not e.is_decoy],
        "config": {
            "slug": contest.slug,
            "topic": contest.topic,
            "open": contest.is_open,
            "minWatch": contest.min_watch_seconds,
            "fps": contest.clip.fps or 24.0,
            "api": {
                "pow": reverse("voting:api-pow", args=[slug]),
                "next": reverse("voting:api-next", args=[slug]),
                "heartbeat": reverse("voting:api-heartbeat", args=[slug]),
                "ballot": reverse("voting:api-ballot", args=[slug]),
                "tally": reverse("voting:api-tally", args=[slug]),
            },
            "resultsUrl": reverse("voting:results", args=[slug]),
        },
    }
    seat = rater.screening_codes.filter(contest=contest).values_list("seat", flat=True).first()
    context["screening_seat"] = seat
    return _remember(render(request, "voting/vote.html", context), rater, created)


@ensure_csrf_cookie
def code_page(request: HttpRequest, slug: str, code: str = "") -> HttpResponse:
    """A screening seat's link (its QR code) or the "enter your code" form.

    GET only shows the code and a button: a link preview (chat apps fetch links) must
    not use up a seat. POST binds the code to this browser's rater, once.
    """
    contest = get_object_or_404(Contest.objects.select_related("clip__film"), slug=slug)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    rater, created = _rater(request)
    error, status = "", 200
    if request.method == "POST":
        code = str(request.POST.get("code", ""))[:64]
        try:
            services.redeem_screening_code(contest, rater, code)
        except VotingError as err:
            error, status = err.message, err.status
        else:
            return _remember(redirect("voting:vote", slug=contest.slug), rater, created)
    response = render(request, "voting/code.html", {"contest": contest, "code": services.normalise_code(code),
                                                    "error": error}, status=status)
    return _remember(response, rater, created)


@require_GET
def results_page(request: HttpRequest, slug: str) -> HttpResponse:
    contest = get_object_or_404(Contest.objects.select_related("clip__film", "winner"), slug=slug)
    tally = selectors.public_tally(services.contest_ratings(contest))
    return render(request, "voting/results.html", {"contest": contest, "tally": tally, "staff": False,
                                                   "held_reason": held_reason(tally)})


def held_reason(tally: dict[str, Any]) -> str:
    """Why the rule's decision is held back (not robust), in the request's language; ""."""
    held = (tally.get("decision") or {}).get("held")
    return services.held_reason_text(held["code"], held["params"]) if held else ""


@require_GET
def qr(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    contest = get_object_or_404(Contest, slug=slug)
    url = request.build_absolute_uri(contest.get_absolute_url())
    content_type = {"svg": "image/svg+xml", "png": "image/png"}[kind]
    response = HttpResponse(services.qr_code(url, kind), content_type=content_type)
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="contest-{contest.pk}-qr.{kind}"'
    return response


PLOTS = {"ratings", "votes", "bias"}


@require_GET
def plot(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    if name not in PLOTS:
        raise Http404("no such plot")
    contest = get_object_or_404(Contest, slug=slug)
    tally = services.contest_ratings(contest)
    # One drawing per language too: the axis labels are translated.
    key = f"voting:plot:{contest.pk}:{name}:{tally['version']}:{contest.status}:{get_language()}"
    svg = cache.get(key)
    if svg is None:
        if name == "ratings":
            svg = plots.ratings_plot(tally)
        elif name == "votes":
            svg = plots.votes_plot(selectors.votes_over_time(contest))
        else:
            svg = plots.position_bias_plot(tally, selectors.side_counts(contest))
        cache.set(key, svg, timeout=3600)
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "no-cache"
    return response


# --------------------------------------------------------------------------- JSON API


@require_GET
def api_tally(request: HttpRequest, slug: str) -> HttpResponse:
    # Read-only and public: no rater identity needed (none is created for it).
    contest = Contest.objects.filter(slug=slug).first()
    if contest is None:
        return JsonResponse({"error": _("No such contest."), "code": "not_found"}, status=404)
    return JsonResponse(selectors.public_tally(services.contest_ratings(contest)))


@json_api
def api_pow(request: HttpRequest, contest: Contest, rater: Rater) -> HttpResponse:
    if request.method == "POST":
        data = _body(request)
        services.submit_pow(rater, str(data.get("challenge", "")), str(data.get("nonce", "")))
        return JsonResponse({"solved": True})
    challenge = services.pow_challenge(rater)
    return JsonResponse({"solved": True} if challenge is None else {"solved": False, **challenge})


@require_GET
@json_api
def api_next(request: HttpRequest, contest: Contest, rater: Rater) -> HttpResponse:
    pairing = services.next_pairing(contest, rater)
    if pairing is None:
        return JsonResponse({"done": True, "message": "You have judged every pair. Thank you!"})
    return JsonResponse(_pairing_json(contest, pairing))


def _position(data: dict[str, Any]) -> float | None:
    raw = data.get("position")
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise VotingError(_("position must be a number of seconds.")) from None


@require_POST
@json_api
def api_heartbeat(request: HttpRequest, contest: Contest, rater: Rater) -> HttpResponse:
    data = _body(request)
    pairing = services.record_heartbeat(contest, rater, _int(data, "pairing"),
                                        visible=str(data.get("visible", "both")),
                                        playing=bool(data.get("playing", False)),
                                        position=_position(data))
    return JsonResponse(services.watch_status(contest, pairing))


@require_POST
@json_api
def api_ballot(request: HttpRequest, contest: Contest, rater: Rater) -> HttpResponse:
    data = _body(request)
    ballot = services.cast_ballot(contest, rater, _int(data, "pairing"), str(data.get("choice", "")),
                                  ip=_client_ip(request), user_agent=request.headers.get("User-Agent", ""))
    services.after_ballot(contest)
    # No tally here: comparing it with the one before the vote would tell the fan which
    # label their side was. The page follows the public live tally like everyone else.
    return JsonResponse({"ok": True, "ballot": ballot.pk})


@require_GET
def media(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """One side of one pairing, for the rater it was served to, with range requests.

    It serves the contest's blind copy of that side (``voting.blind``: an opaque name, the
    same size for every side). Every byte served is counted on the pairing: watch time is
    credited only once both sides were fetched (``services.record_heartbeat``). Local
    storage is streamed from here; S3 answers with a redirect to a presigned URL.
    """
    contest = Contest.objects.filter(slug=slug).select_related("clip").first()
    if contest is None:
        raise Http404("no such contest")
    token_value = request.get_signed_cookie(RATER_COOKIE, default=None, salt=RATER_SALT)
    try:
        pairing, side = services.open_media(contest, services.find_rater(token_value), token)
    except VotingError:
        raise Http404("no such media") from None
    try:
        copy = blind.copy_for(pairing, side)
    except VotingError:
        raise Http404("no such media") from None
    full = blind.local_file(copy)
    if full is None:  # remote storage: a short-lived presigned URL of the opaque copy
        services.record_media_served(pairing, side, 1)
        response = redirect(blind.remote_url(copy))
        response["Cache-Control"] = "no-store"
        return response
    if not full.is_file():
        raise Http404("no such media")
    services.record_media_served(pairing, side, requested_length(request, full.stat().st_size))
    response = ranged_response(request, full)
    response["Cache-Control"] = "private, max-age=600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------- technicians


class ContestForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, label=gettext_lazy("Title"))
    variants = forms.ModelMultipleChoiceField(queryset=Variant.objects.none(), label=gettext_lazy("Variants"),
                                              widget=forms.CheckboxSelectMultiple)
    min_watch_seconds = forms.FloatField(min_value=0, initial=5.0, label=gettext_lazy("Minimum watch time (s)"))
    decision_method = forms.ChoiceField(choices=Contest.Method.choices, initial=SITE_DEFAULT_RULE.method,
                                        label=gettext_lazy("Decision rule"))
    p_best_threshold = forms.FloatField(min_value=0.5, max_value=0.999,
                                        initial=SITE_DEFAULT_RULE.p_best_threshold,
                                        label=gettext_lazy("P(best) threshold"))
    min_raters = forms.IntegerField(min_value=1, initial=5, label=gettext_lazy("Least raters"))
    golden_rate = forms.FloatField(min_value=0, max_value=0.5, initial=0.1, label=gettext_lazy("Share of golden pairs"))
    # Left empty: the model's defaults (3 networks, 600 s).
    min_networks = forms.IntegerField(min_value=1, initial=3, required=False,
                                      label=gettext_lazy("Least distinct networks before deciding"))
    min_decision_seconds = forms.IntegerField(min_value=0, initial=600, required=False,
                                              label=gettext_lazy("Least voting time before deciding (s)"))
    trim = forms.FloatField(min_value=0, max_value=0.45, initial=DEFAULT_TRIM, required=False,
                            label=gettext_lazy("Share of the votes an attacker may hold"),
                            help_text=gettext_lazy("The winner must still win without this share of the votes "
                                                   "most favourable to it (0.2 = 20 %; 0 turns the check off). "
                                                   "Higher is safer and needs more votes. Votes cast with a "
                                                   "screening code are never set aside."))
    weight_anonymous = forms.FloatField(min_value=0, max_value=10, initial=0.5, required=False,
                                        label=gettext_lazy("Weight of an anonymous fan's vote"))
    weight_screening = forms.FloatField(min_value=0, max_value=10, initial=1.0, required=False,
                                        label=gettext_lazy("Weight of a screening-code holder's vote"))
    weight_account = forms.FloatField(min_value=0, max_value=10, initial=1.0, required=False,
                                      label=gettext_lazy("Weight of a signed-in account's vote"))
    auto_decide = forms.BooleanField(required=False, initial=True,
                                     label=gettext_lazy("Close automatically when the rule fires"))
    auto_adopt = forms.BooleanField(required=False, initial=False,
                                    label=gettext_lazy("Adopt the winner automatically"))

    def __init__(self, *args, clip: Clip, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["variants"].queryset = (clip.variants.filter(status=Variant.Status.DONE).exclude(output="")
                                            .select_related("preset_version__preset"))


@role_required(TECHNICIAN)
def manage_index(request: HttpRequest) -> HttpResponse:
    return render(request, "voting/manage_index.html", {
        "contests": selectors.contests_for_dashboard(),
        "clips": selectors.clips_ready_for_contest(),
    })


@role_required(TECHNICIAN)
def contest_new(request: HttpRequest, clip_id: int) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("film"), pk=clip_id)
    form = ContestForm(request.POST or None, clip=clip)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v is not None}
        variants, title = list(data.pop("variants")), data.pop("title")
        try:
            contest = services.open_contest(clip=clip, variants=variants, user=request.user, title=title, **data)
        except VotingError as err:
            form.add_error(None, err.message)
        else:
            # Advice, not a block: the technician may want a near-identical pair on purpose.
            for warning in indistinct_warnings(variants):
                messages.warning(request, warning)
            return redirect("voting:dashboard", contest_id=contest.pk)
    # Every flagged pair among the clip's rendered variants, before any is chosen.
    flagged = indistinct_warnings(list(form.fields["variants"].queryset))
    return render(request, "voting/contest_new.html", {"clip": clip, "form": form,
                                                        "indistinct": flagged})


@role_required(TECHNICIAN)
def dashboard(request: HttpRequest, contest_id: int) -> HttpResponse:
    contest = get_object_or_404(Contest.objects.select_related("clip__film", "winner", "adopted_preset"),
                                pk=contest_id)
    tally = services.contest_ratings(contest)
    contest.refresh_from_db()
    link = request.build_absolute_uri(contest.get_absolute_url())
    legend = selectors.entry_legend(contest)
    return render(request, "voting/dashboard.html", {
        "contest": contest, "tally": tally, "staff": True, "link": link, "held_reason": held_reason(tally),
        "qr_svg": services.qr_code(link, "svg", scale=5).decode(),
        "legend": legend, "legend_map": {e.label: str(e.variant.preset_version) for e in legend},
        "can_manage_codes": can_manage_codes(request.user, contest),
    })


def can_manage_codes(user: Any, contest: Contest) -> bool:
    """A contest's screening codes are its creator's (and superusers'): one technician
    cannot see, print or add to another's codes."""
    return bool(user.is_superuser or (contest.created_by_id is not None and contest.created_by_id == user.pk))


@role_required(TECHNICIAN)
def codes(request: HttpRequest, contest_id: int) -> HttpResponse:
    """The contest's screening codes as printable seat cards with QR codes; POST makes a batch."""
    contest = get_object_or_404(Contest.objects.select_related("clip__film"), pk=contest_id)
    if not can_manage_codes(request.user, contest):
        raise PermissionDenied("these screening codes belong to another technician's contest")
    if request.method == "POST":
        try:
            count = int(request.POST.get("count", ""))
        except ValueError:
            count = 0
        try:
            made = services.generate_screening_codes(contest, count, user=request.user,
                                                     seat_prefix=str(request.POST.get("seat_prefix", ""))[:8])
        except VotingError as err:
            messages.error(request, err.message)
        else:
            messages.success(request, ngettext("%(n)d new code.", "%(n)d new codes.", len(made)) % {"n": len(made)})
        return redirect("voting:codes", contest_id=contest.pk)
    base = request.build_absolute_uri("/")
    all_codes = list(contest.screening_codes.order_by("id"))
    cards = [{"code": c, "qr": services.qr_code(services.screening_code_url(contest, c, base), "svg", scale=3).decode()}
             for c in all_codes]
    return render(request, "voting/codes.html", {
        "contest": contest, "codes": all_codes, "cards": cards, "max_codes": services.MAX_CODES_PER_BATCH,
        "n_used": sum(1 for c in all_codes if c.rater_id)})


@require_GET
@role_required(TECHNICIAN)
def audit(request: HttpRequest, contest_id: int) -> HttpResponse:
    """Shadow exclusions of a contest: clusters, reasons and their ballots."""
    contest = get_object_or_404(Contest.objects.select_related("clip__film"), pk=contest_id)
    services.contest_ratings(contest)  # recomputes the exclusions if ballots came in since
    return render(request, "voting/audit.html", {"contest": contest, "audit": services.audit(contest)})


@require_POST
@role_required(TECHNICIAN)
def contest_action(request: HttpRequest, contest_id: int, action: str) -> HttpResponse:
    contest = get_object_or_404(Contest, pk=contest_id)
    try:
        if action == "close":
            services.close_contest(contest, user=request.user)
            messages.success(request, _("The contest is closed."))
        elif action == "reopen":
            services.reopen_contest(contest)
            messages.success(request, _("The contest is open again."))
        elif action == "adopt":
            contest = services.adopt_winner(contest, user=request.user)
            messages.success(request, _("Adopted %(preset)s for %(film)s. %(note)s.") % {
                "preset": contest.adopted_preset, "film": contest.clip.film, "note": contest.adoption_note})
        elif action == "settings":
            services.update_settings(contest, auto_adopt=request.POST.get("auto_adopt") == "on",
                                     auto_decide=request.POST.get("auto_decide") == "on")
            messages.success(request, _("Settings saved."))
        else:
            raise Http404("unknown action")
    except VotingError as err:
        messages.error(request, err.message)
    return redirect("voting:dashboard", contest_id=contest.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@role_required(TECHNICIAN)
def export(request: HttpRequest, contest_id: int, fmt: str) -> HttpResponse:
    contest = get_object_or_404(Contest, pk=contest_id)
    rows = services.export_ballots(contest)
    if fmt == "json":
        response = JsonResponse({"contest": contest.pk, "title": str(contest), "clip": contest.clip_id,
                                 "status": contest.status, "ballots": list(rows)})
    else:
        writer = csv.DictWriter(_Echo(), fieldnames=services.EXPORT_FIELDS)

        def stream():
            yield writer.writeheader()
            for row in rows:
                yield writer.writerow(row)

        response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contest-{contest.pk}-ballots.{fmt}"'
    return response

