from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("restoration.api_urls")),
    path("vote/", include("voting.urls")),
    path("", include("frontend.urls")),
    path("", include("restoration.curation.urls")),
    path("", include("restoration.urls")),
]
