from django.conf import settings
from django.urls import path, re_path

from frontend import media, views

urlpatterns = [
    path("", views.home, name="home"),
    path("films/new/", views.film_create, name="film-create"),
    path("films/<int:film_id>/", views.film_detail, name="film-detail"),
    path("films/<int:film_id>/upload/", views.clip_upload, name="clip-upload"),
    path("clips/<int:clip_id>/", views.clip_detail, name="clip-detail"),
]

if settings.STORAGE.backend == "local":
    urlpatterns.append(re_path(r"^media/(?P<path>.+)$", media.serve_media, name="media"))
