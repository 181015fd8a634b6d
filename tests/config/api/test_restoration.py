"""config.api.restoration: resumable uploads, clips, films, presets, sweeps, variants, jobs."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from accounts.models import ApiToken
from restoration.models import Clip, PresetVersion, RenderJob, UploadSession
from tests.factories import (
    ClipFactory,
    FilmFactory,
    PresetVersionFactory,
    UserFactory,
    curator,
    technician,
)
from tests.media_factory import encode_image, make_frame_zip, make_video, sequence_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech_client(client):
    user = technician()
    client.force_login(user)
    client.user = user
    return client


def put_chunk(client, session_id, data: bytes, start: int, total: int):
    return client.put(f"/api/uploads/{session_id}/", data=data, content_type="application/octet-stream",
                      HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(data) - 1}/{total}")


def test_chunked_upload_resumes_after_a_dropped_connection(tech_client, tmp_path, eager_celery,
                                                          django_capture_on_commit_callbacks):
    data = make_video(tmp_path / "reel.mp4", frames=20, audio=True).read_bytes()
    film = FilmFactory()
    started = tech_client.post("/api/uploads/", {"film": film.pk, "filename": "reel.mp4", "size": len(data)},
                               content_type="application/json")
    assert started.status_code == 201
    session_id = started.json()["id"]
    assert put_chunk(tech_client, session_id, data[:3000], 0, len(data)).json()["received"] == 3000
    # The client lost its connection and lost track: it asks where to resume.
    assert tech_client.get(f"/api/uploads/{session_id}/").json()["received"] == 3000
    # A chunk from the wrong place is refused with the offset to use.
    wrong = put_chunk(tech_client, session_id, data[5000:6000], 5000, len(data))
    assert wrong.status_code == 409 and wrong.json()["received"] == 3000
    assert put_chunk(tech_client, session_id, data[3000:], 3000, len(data)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        done = tech_client.post(f"/api/uploads/{session_id}/complete/")
    assert done.status_code == 201
    clip = done.json()["clip"]
    assert clip["metadata"]["width"] == 64 and clip["metadata"]["has_audio"] is True
    assert Clip.objects.get(pk=clip["id"]).status == Clip.Status.READY


def test_chunk_puts_are_limited_to_the_chunk_size(tech_client, settings):
    settings.UPLOAD_CHUNK_SIZE = 1000
    film = FilmFactory()
    session_id = tech_client.post("/api/uploads/", {"film": film.pk, "filename": "x.mp4", "size": 5000},
                                  content_type="application/json").json()["id"]
    too_big = put_chunk(tech_client, session_id, b"x" * 1001, 0, 5000)
    assert too_big.status_code == 413 and "at most 1000 bytes" in too_big.json()["error"]
    # A body longer than the range it names is counted and refused, nothing written.
    lying = tech_client.put(f"/api/uploads/{session_id}/", data=b"x" * 900, content_type="application/octet-stream",
                            HTTP_CONTENT_RANGE="bytes 0-99/5000")
    assert lying.status_code == 409 and lying.json()["received"] == 0
    assert put_chunk(tech_client, session_id, b"x" * 1000, 0, 5000).json()["received"] == 1000


def test_rejected_upload_explains_why(tech_client):
    film = FilmFactory()
    body = b"not a film at all" * 100
    session_id = tech_client.post("/api/uploads/", {"film": film.pk, "filename": "x.mp4", "size": len(body)},
                                  content_type="application/json").json()["id"]
    put_chunk(tech_client, session_id, body, 0, len(body))
    response = tech_client.post(f"/api/uploads/{session_id}/complete/")
    assert response.status_code == 422
    assert "video" in response.json()["error"] or "media" in response.json()["error"]
    assert UploadSession.objects.get().status == UploadSession.Status.REJECTED
    assert Clip.objects.count() == 0


def test_bad_requests_are_answered_clearly(tech_client):
    assert tech_client.post("/api/uploads/", "{nope", content_type="application/json").json()["error"] == \
        "the request body is not valid JSON"
    response = tech_client.post("/api/uploads/", {"film": 999, "filename": "a", "size": 10},
                                content_type="application/json")
    assert response.status_code == 400 and "no film with id 999" in response.json()["error"]
    response = tech_client.post("/api/uploads/", {"film": FilmFactory().pk, "filename": "a", "size": "big"},
                                content_type="application/json")
    assert "size must be" in response.json()["error"]
    session_id = tech_client.post("/api/uploads/", {"film": FilmFactory().pk, "filename": "a", "size": 10},
                                  content_type="application/json").json()["id"]
    no_range = tech_client.put(f"/api/uploads/{session_id}/", data=b"x", content_type="application/octet-stream")
    assert no_range.status_code == 400 and "Content-Range" in no_range.json()["error"]


def test_single_request_multipart_upload(tech_client, tmp_path):
    data = make_video(tmp_path / "a.mp4", frames=12).read_bytes()
    film = FilmFactory()
    response = tech_client.post("/api/clips/", {"film": film.pk, "title": "Reel 2",
                                                "file": SimpleUploadedFile("a.mp4", data)})
    assert response.status_code == 201
    assert response.json()["title"] == "Reel 2" and response.json()["metadata"]["frame_count"] == 12
    listed = tech_client.get("/api/clips/").json()["clips"]
    assert [c["id"] for c in listed] == [response.json()["id"]]


def test_roles(client, tmp_path):
    film = FilmFactory()
    payload = {"film": film.pk, "filename": "a.mp4", "size": 10}
    assert client.post("/api/uploads/", payload, content_type="application/json").status_code == 401
    client.force_login(UserFactory())  # a fan with an account
    assert client.post("/api/uploads/", payload, content_type="application/json").status_code == 403
    assert client.get("/api/clips/").status_code == 403
    client.force_login(curator())  # curators see clips but do not upload
    assert client.get("/api/clips/").status_code == 200
    assert client.post("/api/uploads/", payload, content_type="application/json").status_code == 403


def test_token_authentication_for_scripts(client):
    _, key = ApiToken.issue(technician())
    film = FilmFactory()
    response = client.post("/api/uploads/", {"film": film.pk, "filename": "a.mp4", "size": 10},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 201
    bad = client.post("/api/uploads/", {"film": film.pk, "filename": "a.mp4", "size": 10},
                      content_type="application/json", HTTP_AUTHORIZATION="Token wrong")
    assert bad.status_code == 401


def test_another_technicians_upload_session_is_not_visible(tech_client, client):
    session_id = tech_client.post("/api/uploads/", {"film": FilmFactory().pk, "filename": "a", "size": 10},
                                  content_type="application/json").json()["id"]
    other = technician()
    tech_client.force_login(other)
    assert tech_client.get(f"/api/uploads/{session_id}/").status_code == 404


def test_films_are_made_and_listed_through_the_api(tech_client):
    made = tech_client.post("/api/films/", {"title": "武状元苏乞儿", "year": 1992},
                            content_type="application/json")
    assert made.status_code == 201 and made.json()["title"] == "武状元苏乞儿"
    film = made.json()["id"]
    assert [f["id"] for f in tech_client.get("/api/films/").json()] == [film]
    assert tech_client.get(f"/api/films/{film}/").json()["year"] == 1992
    missing = tech_client.post("/api/films/", {"year": 1992}, content_type="application/json")
    assert missing.status_code == 400 and "title" in missing.json()["error"]


def test_presets_and_versions(tech_client):
    spec = {"ops": [{"op": "grain", "params": {"strength": 0.3}}], "seed": 3}
    first = tech_client.post("/api/presets/", {"name": "warm grain", "spec": spec},
                             content_type="application/json")
    assert first.status_code == 201 and first.json()["number"] == 1
    preset = first.json()["preset"]
    spec["ops"][0]["params"]["strength"] = 0.5
    second = tech_client.post(f"/api/presets/{preset}/versions/", {"spec": spec, "note": "more"},
                              content_type="application/json").json()
    assert second["number"] == 2 and second["spec"]["ops"][0]["params"]["strength"] == 0.5
    detail = tech_client.get(f"/api/presets/{preset}/").json()
    assert [v["number"] for v in detail["versions"]] == [1, 2]
    assert tech_client.get(f"/api/preset-versions/{second['id']}/").json()["note"] == "more"
    # The engine's validation reaches the caller with the op and the parameter named.
    bad = tech_client.post(f"/api/presets/{preset}/versions/",
                           {"spec": {"ops": [{"op": "grain", "params": {"no_such_knob": 1}}]}},
                           content_type="application/json")
    assert bad.status_code == 400 and "no_such_knob" in bad.json()["error"]
    assert any(op["name"] == "grain" for op in tech_client.get("/api/operators/").json())


def test_a_sweep_makes_variants_and_renders_show_progress(tech_client, monkeypatch):
    sent = []
    monkeypatch.setattr("restoration.rendering.variants.send_job", lambda payload, task_id: sent.append(payload))
    clip = ClipFactory(frame_count=48, frame_count_exact=True)
    version = PresetVersionFactory(recipe={"ops": [{"op": "grain", "params": {"strength": 0.1}}], "seed": 1})
    with transaction.atomic():  # the services send jobs after commit
        response = tech_client.post(f"/api/clips/{clip.pk}/sweeps/",
                                    {"preset_version": version.pk, "axes": {"grain.strength": [0, 0.3]},
                                     "start": 0, "end": 24}, content_type="application/json")
    assert response.status_code == 201, response.json()
    made = response.json()
    assert len(made) == 2 and {v["overrides"]["grain.strength"] for v in made} == {0, 0.3}
    job = made[0]["latest_job"]
    assert job["status"] == "queued" and job["progress"] == 0.0
    RenderJob.objects.filter(pk=job["id"]).update(frames_done=6, frames_total=24, status="running")
    progress = tech_client.get(f"/api/jobs/{job['id']}/").json()
    assert progress["progress"] == 0.25 and progress["status"] == "running"
    assert {v["id"] for v in tech_client.get(f"/api/variants/?clip={clip.pk}").json()} == {v["id"] for v in made}
    cancelled = tech_client.post(f"/api/jobs/{job['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    bad = tech_client.post(f"/api/clips/{clip.pk}/sweeps/",
                           {"preset_version": version.pk, "axes": {"grain.nope": [1]}},
                           content_type="application/json")
    assert bad.status_code == 400 and "nope" in bad.json()["error"]


def test_a_sweep_from_auto_and_the_comparisons_of_its_variants(tech_client, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    from gpu_worker.engine.analysis import analyze_frames
    from restoration import queue
    from tests.factories import VariantComparisonFactory

    monkeypatch.setattr("restoration.rendering.variants.send_job", lambda payload, task_id: None)
    clip = ClipFactory(frame_count=48, frame_count_exact=True)
    url = f"/api/clips/{clip.pk}/sweeps/"
    body = {"base": "auto", "axes": {"grain.strength": [0, 3]}, "start": 0, "end": 24}
    none_yet = tech_client.post(url, body, content_type="application/json")
    assert none_yet.status_code == 400 and "no analysis yet" in none_yet.json()["error"]
    neither = tech_client.post(url, {"axes": {}}, content_type="application/json")
    assert neither.status_code == 400 and "preset_version" in neither.json()["error"]
    frames = [np.full((48, 64, 3), 100 + i, np.uint8) for i in range(8)]
    clip.analysis = analyze_frames(frames, fps=24, faces=False)
    clip.save(update_fields=["analysis"])
    refused = tech_client.post(url, {**body, "axes": {"grain.strength": [0, 99]}},
                               content_type="application/json")
    assert refused.status_code == 400 and "grain.strength" in refused.json()["error"]
    assert not PresetVersion.objects.filter(preset__name="auto").exists()  # nothing left behind
    with transaction.atomic():
        made = tech_client.post(url, body, content_type="application/json")
    assert made.status_code == 201, made.json()
    assert [v["spec"]["ops"][-1]["op"] for v in made.json()] == ["grain", "grain"]

    close = VariantComparisonFactory(variant_a__overrides={"denoise.strength": 0.3},
                                     variant_a__preset_version__recipe={"ops": ["denoise"]},
                                     variant_b__overrides={"denoise.strength": 2.0}, jod=9.76)
    listed = tech_client.get(f"/api/clips/{close.variant_a.clip_id}/comparisons/").json()
    assert len(listed) == 1 and listed[0]["indistinct"] and listed[0]["difference"] == 0.24
    assert "denoise · strength" in listed[0]["suggestion"]
    sent = []
    monkeypatch.setattr(queue, "send_with_id", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        again = tech_client.post(f"/api/clips/{close.variant_a.clip_id}/comparisons/",
                                 {"variant": close.variant_b.pk, "again": True},
                                 content_type="application/json")
    assert again.status_code == 202 and again.json()[0]["status"] == "pending" and len(sent) == 1
    other = tech_client.post(f"/api/clips/{clip.pk}/comparisons/", {"variant": close.variant_b.pk},
                             content_type="application/json")
    assert other.status_code == 400 and "has no variant" in other.json()["error"]


def test_a_zip_of_frames_uploads_with_its_stated_frame_rate(
        tech_client, tmp_path, eager_celery, django_capture_on_commit_callbacks):
    data = make_frame_zip(tmp_path / "scan.zip", codec="png", numbers=range(8, 14)).read_bytes()
    film = FilmFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        response = tech_client.post("/api/clips/", {"film": film.pk, "frame_rate": "25",
                                                    "file": SimpleUploadedFile("scan.zip", data)})
    assert response.status_code == 201, response.json()
    # The answer comes before the encode: the clip is ingesting, its progress shown.
    body = response.json()
    assert body["status"] == "ingesting" and body["ingest"] == {"done": 0, "total": 6}
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    meta = tech_client.get(f"/api/clips/{body['id']}/").json()["metadata"]
    assert (meta["frame_count"], meta["fps_fraction"], meta["video_codec"]) == (6, "25/1", "ffv1")
    started = tech_client.post("/api/uploads/", {"film": film.pk, "filename": "s.zip", "size": 10,
                                                 "frame_rate": "fast"}, content_type="application/json")
    assert started.status_code in (400, 422)
    gappy = make_frame_zip(tmp_path / "gappy.zip", numbers=[1, 2, 4]).read_bytes()
    refused = tech_client.post("/api/clips/", {"film": film.pk, "file": SimpleUploadedFile("g.zip", gappy)})
    assert refused.status_code == 422 and "(3)" in refused.json()["error"]


def test_several_image_files_upload_as_one_sequence(tech_client, eager_celery,
                                                    django_capture_on_commit_callbacks):
    film = FilmFactory()
    frames = {n: encode_image("png", sequence_frame(n)) for n in (3, 1, 2, 10, 4, 5, 6, 7, 8, 9)}
    # In one request: the file field repeated.
    with django_capture_on_commit_callbacks(execute=True):
        response = tech_client.post("/api/clips/", {"film": film.pk, "frame_rate": "24", "file": [
            SimpleUploadedFile(f"f_{n}.png", data) for n, data in frames.items()]})
    assert response.status_code == 201, response.json()
    clip = tech_client.get(f"/api/clips/{response.json()['id']}/").json()
    assert clip["status"] == "ready" and clip["metadata"]["frame_count"] == 10
    assert clip["original_filename"] == "f_1.png … f_10.png"
    # Resumable: the files named with their sizes, then their bytes one after another.
    blob = b"".join(frames.values())
    started = tech_client.post("/api/uploads/", {
        "film": film.pk, "size": len(blob), "frame_rate": "24",
        "members": [[f"f_{n}.png", len(data)] for n, data in frames.items()]},
        content_type="application/json")
    assert started.status_code == 201, started.json()
    session = started.json()["id"]
    half = len(blob) // 2  # a chunk boundary inside a file
    for start, end in ((0, half), (half, len(blob))):
        put = tech_client.put(f"/api/uploads/{session}/", blob[start:end],
                              content_type="application/octet-stream",
                              HTTP_CONTENT_RANGE=f"bytes {start}-{end - 1}/{len(blob)}")
        assert put.status_code == 200, put.json()
    with django_capture_on_commit_callbacks(execute=True):
        done = tech_client.post(f"/api/uploads/{session}/complete/")
    assert done.status_code == 201 and done.json()["clip"]["status"] == "ingesting"
    again = tech_client.get(f"/api/clips/{done.json()['clip']['id']}/").json()
    assert again["status"] == "ready" and again["metadata"]["frame_count"] == 10
    # A gap is refused before any byte is sent.
    gap = tech_client.post("/api/uploads/", {
        "film": film.pk, "size": 20, "members": [["f_1.png", 10], ["f_3.png", 10]]},
        content_type="application/json")
    assert gap.status_code == 400 and "(2)" in gap.json()["error"]
