from django.contrib import admin
from django.urls import include, path

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", api.urls),
    path("vote/", include("voting.urls")),
    path("", include("frontend.urls")),
    path("", include("restoration.curation.urls")),
    path("", include("restoration.urls")),
]
