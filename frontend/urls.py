"""The site shell's own URLs: media files served by the embedded default."""

from django.conf import settings
from django.urls import re_path

from frontend import media

urlpatterns = []

if settings.STORAGE.backend == "local":
    urlpatterns.append(re_path(r"^media/(?P<path>.+)$", media.serve_media, name="media"))
