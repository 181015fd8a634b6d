from django.conf import settings
from django.urls import path, re_path

from frontend import media, render_views, urls_curation, views

urlpatterns = [
    path("", views.home, name="home"),
    path("films/new/", views.film_create, name="film-create"),
    path("films/<int:film_id>/", views.film_detail, name="film-detail"),
    path("films/<int:film_id>/upload/", views.clip_upload, name="clip-upload"),
    path("clips/<int:clip_id>/", views.clip_detail, name="clip-detail"),
    # presets, sweeps, renders (frontend/render_views.py)
    path("presets/", render_views.preset_list, name="preset-list"),
    path("presets/new/", render_views.preset_new, name="preset-new"),
    path("presets/import/", render_views.preset_import, name="preset-import"),
    path("presets/operators.json", render_views.operator_catalog_json, name="operator-catalog"),
    path("presets/<int:preset_id>/", render_views.preset_detail, name="preset-detail"),
    path("presets/versions/<int:version_id>/edit/", render_views.preset_version_edit,
         name="preset-version-edit"),
    path("presets/versions/<int:version_id>/export.json", render_views.preset_version_export,
         name="preset-version-export"),
    path("clips/<int:clip_id>/sweep/", render_views.clip_sweep, name="clip-sweep"),
    path("jobs/<int:job_id>/cancel/", render_views.job_cancel, name="job-cancel"),
    path("variants/<int:variant_id>/rerender/", render_views.variant_rerender, name="variant-rerender"),
    path("films/<int:film_id>/render/", render_views.film_render_page, name="film-render"),
    path("jobs/<int:job_id>/resume/", render_views.film_render_resume, name="film-render-resume"),
]

# review, publishing, gallery, dashboard, film look (frontend/views_curation.py)
urlpatterns += urls_curation.urlpatterns

if settings.STORAGE.backend == "local":
    urlpatterns.append(re_path(r"^media/(?P<path>.+)$", media.serve_media, name="media"))
