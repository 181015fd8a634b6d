"""URLs of the curation pages: review, publishing, the gallery, the dashboard, the film look."""

from django.urls import path, register_converter

from frontend.converters import UnicodeSlugConverter
from restoration.curation import views

register_converter(UnicodeSlugConverter, "uslug")

urlpatterns = [
    # public
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/<uslug:slug>/", views.gallery_detail, name="gallery-detail"),
    # curators and technicians
    path("review/", views.review_index, name="review-index"),
    path("review/open/<str:kind>/<int:target_id>/", views.review_open, name="review-open"),
    path("review/<int:review_id>/", views.review_detail, name="review-detail"),
    path("review/<int:review_id>/review.json", views.review_json, name="review-json"),
    path("review/<int:review_id>/timeline.<str:fmt>", views.review_timeline, name="review-timeline"),
    path("review/<int:review_id>/notes/", views.review_note_add, name="review-note-add"),
    path("review/<int:review_id>/status/", views.review_status, name="review-status"),
    path("review/<int:review_id>/excerpt/", views.review_excerpt, name="review-excerpt"),
    path("review/<int:review_id>/publish/", views.review_publish, name="review-publish"),
    path("review/notes/<int:note_id>/resolve/", views.review_note_resolve, name="review-note-resolve"),
    path("publications/<int:publication_id>/unpublish/", views.publication_unpublish,
         name="publication-unpublish"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("films/<int:film_id>/look/", views.film_look, name="film-look"),
    path("films/<int:film_id>/look.svg", views.film_look_plot, name="film-look-plot"),
]
