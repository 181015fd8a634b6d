"""Pages for films and clips: the films index (the home page), a new film, uploading
clips, the film and clip pages. Thin: data comes from selectors and services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy

from accounts.roles import CURATOR, TECHNICIAN, is_staff_role, role_required
from restoration import engine_text
from restoration.models import Clip, Film
from restoration.selectors import clip_metadata, films_with_clips
from restoration.services.clip_analysis import analysis_plot_png
from restoration.views.renders import clip_render_context


class FilmForm(forms.ModelForm):
    class Meta:
        model = Film
        fields = ["title", "year", "description"]
        labels = {"title": gettext_lazy("Title"), "year": gettext_lazy("Year"),
                  "description": gettext_lazy("Description")}


def home(request: HttpRequest) -> HttpResponse:
    films = films_with_clips() if is_staff_role(request.user) else Film.objects.none()
    return render(request, "restoration/home.html", {"films": films})


@role_required(TECHNICIAN)
def film_create(request: HttpRequest) -> HttpResponse:
    form = FilmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        film = form.save(commit=False)
        film.created_by = request.user
        film.save()
        return redirect("clip-upload", film_id=film.pk)
    return render(request, "restoration/film_form.html", {"form": form})


@role_required(TECHNICIAN)
def clip_upload(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film, pk=film_id)
    return render(request, "restoration/clip_upload.html", {
        "film": film, "chunk_size": settings.UPLOAD_CHUNK_SIZE, "max_size": settings.MAX_UPLOAD_SIZE})


@role_required(TECHNICIAN, CURATOR)
def film_detail(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film.objects.prefetch_related("clips"), pk=film_id)
    return render(request, "restoration/film_detail.html", {"film": film})


@role_required(TECHNICIAN, CURATOR)
def clip_detail(request: HttpRequest, clip_id: int) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("film"), pk=clip_id)
    return render(request, "restoration/clip_detail.html", {"clip": clip,
                                                         "metadata": engine_text.metadata_for_page(clip_metadata(clip)),
                                                         **clip_render_context(clip)})


@role_required(TECHNICIAN, CURATOR)
def clip_analysis_plot(request: HttpRequest, clip_id: int) -> HttpResponse:
    """The clip's analysis plot (PNG) in the page's language (`?lang=`, else the request's)."""
    clip = get_object_or_404(Clip, pk=clip_id)
    language = request.GET.get("lang")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language()
    with translation.override(language):
        png = analysis_plot_png(clip)
    if png is None:
        raise Http404
    return HttpResponse(png, content_type="image/png")
