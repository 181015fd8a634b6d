"""A real Celery worker consuming from Redis, writing to PostgreSQL, and its live event
reaching a websocket client through channels-redis."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files import File

from config.asgi import application
from restoration.models import Clip
from restoration.tasks import probe_clip
from tests.conftest import media_file
from tests.factories import FilmFactory, technician
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def new_clip(path) -> Clip:
    clip = Clip(film=FilmFactory(), status=Clip.Status.PROBING, container="mov,mp4,m4a,3gp,3g2,mj2")
    with open(path, "rb") as handle:
        clip.source.save("source", File(handle), save=False)
    clip.save()
    return clip


def test_real_worker_probes_a_real_clip_through_redis(celery_worker_process):
    clip = new_clip(media_file("old_film/muybridge_buffalo.mp4"))
    probe_clip.delay(clip.pk)
    wait_for(lambda: Clip.objects.get(pk=clip.pk).status != Clip.Status.PROBING, timeout=60,
             what="the worker to probe the clip", log=celery_worker_process.log)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert (clip.width, clip.height, clip.frame_count, clip.has_audio) == (400, 300, 330, True)
    assert clip.frame_count_exact and clip.poster.name.endswith("poster.jpg")
    assert "Task restoration.tasks.probe_clip[" in celery_worker_process.log()


@pytest.mark.asyncio
async def test_worker_event_reaches_a_websocket_client(celery_worker_process, client):
    user = await sync_to_async(technician)()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    clip = await sync_to_async(new_clip)(media_file("old_film/roundhay_garden_scene.mp4"))
    communicator = WebsocketCommunicator(application, f"/ws/live/clip-{clip.pk}/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)])
    assert (await communicator.connect(timeout=10))[0]
    assert (await communicator.receive_json_from(timeout=10))["snapshot"] is True
    await sync_to_async(probe_clip.delay)(clip.pk)
    message = await communicator.receive_json_from(timeout=60)
    assert message["type"] == "clip.status" and message["status"] == "ready"
    assert message["metadata"]["width"] == 192 and message["metadata"]["frame_count"] == 52
    await communicator.disconnect()
    await asyncio.sleep(0)
