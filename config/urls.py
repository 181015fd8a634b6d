from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from config import health, metrics
from config.api import api

metrics.register()

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the switcher posts here
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("api/", api.urls),
    path("vote/", include("voting.urls")),
    path("", include("frontend.urls")),
    path("", include("restoration.curation.urls")),
    path("", include("restoration.urls")),
]
