"""Pages for curation: review of renders, publishing, the public gallery, the technician
dashboard and the film-level look. Thin: the rules live in
restoration.services.{review, publishing} and the queries in
restoration.curation.selectors.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps

import segno
from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import CURATOR, TECHNICIAN, api_role_required, role_required
from gpu_worker.engine.interchange import InterchangeError
from restoration.curation import selectors as sel
from restoration.curation.models import Publication, Review, ReviewNote
from restoration.curation.services import film_look as film_look_service
from restoration.curation.services import publishing
from restoration.curation.services import review as review_service
from restoration.curation.services import timeline as timeline_service
from restoration.curation.services.review import ReviewError
from restoration.models import Clip, Film, RenderJob, Variant

ANON_CACHE_SECONDS = 120


def cached_for_anonymous(view: Callable) -> Callable:
    """Public pages: anonymous visitors get a cached copy (keyed by the gallery version,
    which publishing and unpublishing bump, so a change shows at once) and a
    Cache-Control that lets browsers and proxies keep it briefly (a copy per language;
    LocaleMiddleware adds Vary: Accept-Language). Logged-in users get a
    fresh, private page (it carries their name and, for curators, links to act on)."""
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated or request.method != "GET":
            response = view(request, *args, **kwargs)
            patch_cache_control(response, private=True, no_cache=True)
            return response
        # Keyed by the routed path only (and the allowed host its links are built from):
        # the query string is the visitor's to invent, and a key per invented query
        # would let anyone fill the cache and evict what shares it (rate-limit counters).
        # These pages read no query parameters, so one copy serves them all.
        # One copy per language too (three at most: LocaleMiddleware picks from LANGUAGES).
        key = (f"anon-page:{publishing.gallery_version()}:{request.get_host()}:"
               f"{getattr(request, 'LANGUAGE_CODE', '')}:{request.path}")
        cached = cache.get(key)
        if cached is not None:
            response = HttpResponse(cached["content"], content_type=cached["type"])
            response["X-Page-Cache"] = "hit"
        else:
            response = view(request, *args, **kwargs)
            if response.status_code == 200 and not response.streaming:
                cache.set(key, {"content": response.content, "type": response["Content-Type"]},
                          timeout=ANON_CACHE_SECONDS)
            response["X-Page-Cache"] = "miss"
        patch_cache_control(response, public=True, max_age=60)
        patch_vary_headers(response, ("Cookie",))
        return response
    return wrapper


# --- gallery (public) -----------------------------------------------------------------------------

@require_GET
@cached_for_anonymous
def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "curation/gallery.html", {"publications": sel.gallery_publications()})


def _qr_svg(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False,
                                    title="Link to this page")
    return buffer.getvalue().decode()


def _fps(publication: Publication) -> float:
    clip = publication.clip or publication.film.clips.order_by("created_at", "pk").first()
    return (clip.fps if clip and clip.fps else 24.0)


@require_GET
@cached_for_anonymous
def gallery_detail(request: HttpRequest, slug: str) -> HttpResponse:
    publication = sel.public_publication(slug)
    if publication is None:
        raise Http404("no such published work")
    url = request.build_absolute_uri(publication.get_absolute_url())
    return render(request, "curation/gallery_detail.html", {
        "publication": publication, "record": publication.vote_record or {}, "share_url": url,
        "qr_svg": _qr_svg(url), "fps": _fps(publication),
    })


# --- review ----------------------------------------------------------------------------------------

@role_required(TECHNICIAN, CURATOR)
def review_index(request: HttpRequest) -> HttpResponse:
    return render(request, "curation/review_index.html", {
        "renders": sel.reviewable_renders(), "reviews": sel.dashboard_reviews()[:100]})


@role_required(CURATOR)
@require_POST
def review_open(request: HttpRequest, kind: str, target_id: int) -> HttpResponse:
    if kind == "job":
        target = get_object_or_404(RenderJob, pk=target_id)
    elif kind == "variant":
        target = get_object_or_404(Variant, pk=target_id)
    else:
        raise Http404("unknown kind")
    try:
        review = review_service.open_review(target, request.user)
    except ReviewError as err:
        messages.error(request, str(err))
        return redirect("review-index")
    return redirect("review-detail", review_id=review.pk)


class PublishForm(forms.Form):
    title = forms.CharField(max_length=200, label=gettext_lazy("Title"))
    year = forms.IntegerField(required=False, min_value=1850, max_value=2100, label=gettext_lazy("Year"))
    credits = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label=gettext_lazy("Credits"))
    restoration_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                        label=gettext_lazy("Restoration notes"))


def _review_queryset():
    return Review.objects.select_related(
        "render_job__film", "render_job__preset_version__preset", "variant__clip__film",
        "variant__preset_version__preset", "excerpt_clip")


@role_required(TECHNICIAN, CURATOR)
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(_review_queryset(), pk=review_id)
    if not (review.before_excerpt and review.after_excerpt) and not review.excerpt_error:
        review = review_service.prepare_excerpts(review)
    publication = Publication.objects.filter(review=review).first()
    initial = (
        {"title": publication.title, "year": publication.year, "credits": publication.credits,
         "restoration_notes": publication.restoration_notes}
        if publication else publishing.default_metadata(review))
    target = review.target
    film = target.film if review.render_job_id else target.clip.film
    clip = review.excerpt_clip
    notes = list(review.notes.select_related("author"))
    timecode = timeline_service.clip_timecode(clip) if clip else None
    first = review.excerpt_start or 0
    for note in notes:
        note.timecode = timecode.of(first + note.frame) if timecode else ""
    return render(request, "curation/review.html", {
        "timecode": timecode, "timecode_base": (timecode.origin + first) if timecode else 0,
        "excerpt_start_timecode": timecode.of(first) if timecode else "",
        "review": review, "target": target, "film": film, "clip": clip,
        "film_clips": list(film.clips.order_by("created_at", "pk")) if review.render_job_id else [],
        "notes": notes,
        "notes_json": [{"index": i, "frame": n.frame, "x": n.x, "y": n.y, "text": n.text}
                       for i, n in enumerate(notes, start=1)],
        "events": list(review.events.select_related("by")),
        "moves": review_service.allowed_transitions(review, request.user),
        "publication": publication, "publish_form": PublishForm(initial=initial),
        "record": publishing.assemble_vote_record(review) if request.user.has_role(CURATOR) else None,
        "spec": target.spec if review.variant_id else (target.preset_version.spec if target.preset_version else {}),
        "metrics": target.metrics if review.variant_id else (target.result or {}).get("check", {}),
        "fps": (clip.fps if clip and clip.fps else 24.0),
        "frames": review_service.excerpt_frames(review),
        "is_curator_user": request.user.has_role(CURATOR),
    })


@role_required(CURATOR)
@require_POST
def review_note_add(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=review_id)
    try:
        review_service.add_note(review, request.user, frame=request.POST.get("frame"),
                                x=request.POST.get("x"), y=request.POST.get("y"),
                                text=request.POST.get("text", ""))
    except ReviewError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, _("Note added."))
    return redirect("review-detail", review_id=review.pk)


@role_required(TECHNICIAN, CURATOR)
@require_POST
def review_note_resolve(request: HttpRequest, note_id: int) -> HttpResponse:
    note = get_object_or_404(ReviewNote, pk=note_id)
    try:
        review_service.set_note_resolved(note, request.user, request.POST.get("resolved", "1") == "1")
    except ReviewError as err:
        messages.error(request, str(err))
    target = request.POST.get("next", "")
    # Only a local path: an absolute URL here would be an open redirect.
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("review-detail", review_id=note.review_id)


@role_required(TECHNICIAN, CURATOR)
@require_POST
def review_status(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=review_id)
    try:
        review_service.apply_transition(review, request.POST.get("to", ""), request.user,
                                        request.POST.get("comment", ""))
    except ReviewError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, _("The review is now %(status)s.") % {"status": review.get_status_display()})
    return redirect("review-detail", review_id=review.pk)


@role_required(CURATOR)
@require_POST
def review_excerpt(request: HttpRequest, review_id: int) -> HttpResponse:
    """Cut the before/after excerpt again, at another clip of the film."""
    review = get_object_or_404(_review_queryset(), pk=review_id)
    clip = Clip.objects.filter(pk=request.POST.get("clip") or 0).first()
    review_service.prepare_excerpts(review, clip, force=True)
    if review.excerpt_error:
        messages.error(request, review.excerpt_error)
    return redirect("review-detail", review_id=review.pk)


@role_required(CURATOR)
@require_POST
def review_publish(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(_review_queryset(), pk=review_id)
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the publication form: %(errors)s") % {"errors": "; ".join(
            f"{form.fields[k].label if k in form.fields else k}: {' '.join(v)}" for k, v in form.errors.items())})
        return redirect("review-detail", review_id=review.pk)
    try:
        publication = publishing.publish(review, request.user, **form.cleaned_data)
    except ReviewError as err:
        messages.error(request, str(err))
        return redirect("review-detail", review_id=review.pk)
    messages.success(request, _("“%(title)s” is published.") % {"title": publication.title})
    return redirect(publication.get_absolute_url())


@role_required(CURATOR)
@require_POST
def publication_unpublish(request: HttpRequest, publication_id: int) -> HttpResponse:
    publication = get_object_or_404(Publication, pk=publication_id)
    try:
        publishing.unpublish(publication, request.user, request.POST.get("reason", ""))
    except ReviewError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, _("“%(title)s” is no longer in the gallery; its record is kept.")
                         % {"title": publication.title})
    return redirect("review-detail", review_id=publication.review_id)


@role_required(TECHNICIAN, CURATOR)
@require_GET
def review_timeline(request: HttpRequest, review_id: int, fmt: str) -> HttpResponse:
    """The review's notes and the clip's scene cuts as an EDL or OTIO download."""
    review = get_object_or_404(_review_queryset(), pk=review_id)
    try:
        data, name = timeline_service.review_timeline_file(review, fmt)
    except InterchangeError as exc:
        raise Http404(str(exc)) from None
    response = HttpResponse(data, content_type=timeline_service.TIMELINE_FORMATS[fmt][0])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@api_role_required(TECHNICIAN, CURATOR)
@require_GET
def review_json(request: HttpRequest, review_id: int) -> HttpResponse:
    """A review's status and notes for scripts (token auth) and tools."""
    review = get_object_or_404(Review, pk=review_id)
    return JsonResponse({
        "review": review.pk, "kind": review.kind, "status": review.status,
        "render_job": review.render_job_id, "variant": review.variant_id,
        "excerpt": {"clip": review.excerpt_clip_id, "start": review.excerpt_start, "end": review.excerpt_end},
        "notes": [{"id": n.pk, "frame": n.frame, "x": n.x, "y": n.y, "text": n.text,
                   "resolved": n.resolved, "author": str(n.author) if n.author else None,
                   "created_at": n.created_at.isoformat()} for n in review.notes.select_related("author")],
        "allowed": [dst for dst, _verb in review_service.allowed_transitions(review, request.user)],
    })


# --- technician dashboard, film look ---------------------------------------------------------------------

@role_required(TECHNICIAN, CURATOR)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "curation/dashboard.html", {
        "films": sel.dashboard_films(), "contests": sel.dashboard_contests(),
        "reviews": sel.dashboard_reviews()[:50],
    })


@role_required(TECHNICIAN, CURATOR)
def film_look(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film, pk=film_id)
    return render(request, "curation/film_look.html", {"film": film, **film_look_service.film_look(film)})


@role_required(TECHNICIAN, CURATOR)
@require_GET
def film_look_plot(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film, pk=film_id)
    response = HttpResponse(film_look_service.look_plot_svg(film_look_service.film_look(film)), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response
