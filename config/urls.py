from django.contrib import admin
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import last_modified
from django.views.i18n import JavaScriptCatalog, set_language

from config import health, metrics
from config.api import api

metrics.register()
STARTED = timezone.now().replace(microsecond=0)  # HTTP dates have whole seconds

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    # The language switcher posts here. Without CSRF: its only effect is the language
    # cookie, and its form sits on public pages served from a shared cache, which cannot
    # carry a per-visitor token. set_language still only redirects to this site's URLs.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    # The scripts' translations. Pages ask for it with ?lang=<language>, so a browser's
    # copy is per language; it revalidates (304) against the time this process started.
    path("jsi18n/", last_modified(lambda request: STARTED)(JavaScriptCatalog.as_view()),
         name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("api/", api.urls),
    path("vote/", include("voting.urls")),
    path("", include("frontend.urls")),
    path("", include("restoration.curation.urls")),
    path("", include("restoration.urls")),
]
