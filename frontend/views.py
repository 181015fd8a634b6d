"""Page views. Thin: data comes from selectors and services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import CURATOR, TECHNICIAN
from restoration.models import Clip, Film
from restoration.permissions import role_required
from restoration.selectors import clip_metadata, films_for_dashboard, is_staff_role


class FilmForm(forms.ModelForm):
    class Meta:
        model = Film
        fields = ["title", "year", "description"]


def home(request: HttpRequest) -> HttpResponse:
    films = films_for_dashboard() if is_staff_role(request.user) else Film.objects.none()
    return render(request, "frontend/home.html", {"films": films})


@role_required(TECHNICIAN)
def film_create(request: HttpRequest) -> HttpResponse:
    form = FilmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        film = form.save(commit=False)
        film.created_by = request.user
        film.save()
        return redirect("clip-upload", film_id=film.pk)
    return render(request, "frontend/film_form.html", {"form": form})


@role_required(TECHNICIAN)
def clip_upload(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film, pk=film_id)
    return render(request, "frontend/clip_upload.html", {
        "film": film, "chunk_size": settings.UPLOAD_CHUNK_SIZE, "max_size": settings.MAX_UPLOAD_SIZE})


@role_required(TECHNICIAN, CURATOR)
def film_detail(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film.objects.prefetch_related("clips"), pk=film_id)
    return render(request, "frontend/film_detail.html", {"film": film})


@role_required(TECHNICIAN, CURATOR)
def clip_detail(request: HttpRequest, clip_id: int) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("film"), pk=clip_id)
    from frontend.render_views import clip_render_context

    return render(request, "frontend/clip_detail.html", {"clip": clip, "metadata": clip_metadata(clip),
                                                         **clip_render_context(clip)})
