from django.contrib import admin
from django.urls import include, path

from config import health, metrics
from config.api import api

metrics.register()

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", api.urls),
    path("vote/", include("voting.urls")),
    path("", include("frontend.urls")),
    path("", include("restoration.curation.urls")),
    path("", include("restoration.urls")),
]
