from django.urls import path

from restoration import api

urlpatterns = [
    path("uploads/", api.upload_start, name="api-upload-start"),
    path("uploads/<uuid:session_id>/", api.upload_session, name="api-upload-session"),
    path("uploads/<uuid:session_id>/complete/", api.upload_complete, name="api-upload-complete"),
    path("clips/", api.clips, name="api-clips"),
    path("clips/<int:clip_id>/", api.clip_detail, name="api-clip-detail"),
]
