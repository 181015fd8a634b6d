from django.urls import path, re_path

from voting import views

app_name = "voting"

urlpatterns = [
    # Public: anyone with the link (or the QR code).
    path("c/<str:slug>/", views.vote_page, name="vote"),
    path("c/<str:slug>/results/", views.results_page, name="results"),
    re_path(r"^c/(?P<slug>[\w-]+)/qr\.(?P<kind>svg|png)$", views.qr, name="qr"),
    path("c/<str:slug>/plot/<str:name>.svg", views.plot, name="plot"),
    path("c/<str:slug>/api/pow/", views.api_pow, name="api-pow"),
    path("c/<str:slug>/api/next/", views.api_next, name="api-next"),
    path("c/<str:slug>/api/heartbeat/", views.api_heartbeat, name="api-heartbeat"),
    path("c/<str:slug>/api/ballot/", views.api_ballot, name="api-ballot"),
    path("c/<str:slug>/api/tally/", views.api_tally, name="api-tally"),
    path("c/<str:slug>/m/<str:token>", views.media, name="media"),
    path("c/<str:slug>/code/", views.code_page, name="code"),
    path("c/<str:slug>/seat/<str:code>/", views.code_page, name="seat"),
    # Technicians.
    path("manage/", views.manage_index, name="manage"),
    path("manage/clips/<int:clip_id>/new/", views.contest_new, name="contest-new"),
    path("manage/<int:contest_id>/", views.dashboard, name="dashboard"),
    path("manage/<int:contest_id>/codes/", views.codes, name="codes"),
    path("manage/<int:contest_id>/audit/", views.audit, name="audit"),
    re_path(r"^manage/(?P<contest_id>\d+)/export\.(?P<fmt>csv|json)$", views.export, name="export"),
    path("manage/<int:contest_id>/<str:action>/", views.contest_action, name="contest-action"),
]
