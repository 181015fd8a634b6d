from django.urls import path

from restoration.views import films, presets, renders

urlpatterns = [
    # films and clips
    path("", films.home, name="home"),
    path("films/new/", films.film_create, name="film-create"),
    path("films/<int:film_id>/", films.film_detail, name="film-detail"),
    path("films/<int:film_id>/upload/", films.clip_upload, name="clip-upload"),
    path("clips/<int:clip_id>/", films.clip_detail, name="clip-detail"),
    path("clips/<int:clip_id>/analysis.png", films.clip_analysis_plot, name="clip-analysis-plot"),
    # presets
    path("presets/", presets.preset_list, name="preset-list"),
    path("presets/new/", presets.preset_new, name="preset-new"),
    path("presets/import/", presets.preset_import, name="preset-import"),
    path("presets/operators.json", presets.operator_catalog_json, name="operator-catalog"),
    path("presets/<int:preset_id>/", presets.preset_detail, name="preset-detail"),
    path("presets/versions/<int:version_id>/edit/", presets.preset_version_edit,
         name="preset-version-edit"),
    path("presets/versions/<int:version_id>/export.json", presets.preset_version_export,
         name="preset-version-export"),
    # sweeps, render jobs, the full-film render
    path("clips/<int:clip_id>/sweep/", renders.clip_sweep, name="clip-sweep"),
    path("clips/<int:clip_id>/compare/", renders.clip_compare_variants, name="clip-compare-variants"),
    path("jobs/<int:job_id>/cancel/", renders.job_cancel, name="job-cancel"),
    path("variants/<int:variant_id>/rerender/", renders.variant_rerender, name="variant-rerender"),
    path("films/<int:film_id>/render/", renders.film_render_page, name="film-render"),
    path("jobs/<int:job_id>/resume/", renders.film_render_resume, name="film-render-resume"),
]
