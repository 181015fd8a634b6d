"""Live events: a message published by a task reaches a connected websocket client,
both over a shared channel layer and through the embedded default's outbox relay."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from frontend.live import outbox
from frontend.models import LiveEvent
from restoration.models import Clip
from restoration.tasks import probe_clip
from tests.factories import UserFactory, technician
from tests.media_factory import make_video
from tests.restoration.clip_helpers import probing_clip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def session_cookie(client, user) -> bytes:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(topic: str, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, f"/ws/live/{topic}/", headers=headers)
    return communicator


def make_probing_clip(tmp_path) -> Clip:
    """A clip just uploaded, its probe task not yet run."""
    return probing_clip(make_video(tmp_path / "a.mp4", frames=15))


async def receive_until(communicator, predicate, timeout=10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        message = await communicator.receive_json_from(timeout=max(remaining, 0.01))
        if predicate(message):
            return message


async def test_task_progress_reaches_a_connected_client(client, tmp_path, eager_celery, monkeypatch):
    monkeypatch.setenv("REEL_ARENA_PROCESS", "web")  # the publisher shares the web process's layer
    cookie = await sync_to_async(session_cookie)(client, await sync_to_async(technician)())
    clip = await sync_to_async(make_probing_clip)(tmp_path)
    communicator = await connect(f"clip-{clip.pk}", cookie)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["snapshot"] is True and snapshot["status"] == "probing"
    await sync_to_async(probe_clip.delay)(clip.pk)  # eager: runs the real task here
    message = await receive_until(communicator, lambda m: not m.get("snapshot"))
    assert message["type"] == "clip.status" and message["status"] == "ready"
    assert message["metadata"]["frame_count"] == 15 and message["metadata"]["frame_count_exact"]
    await communicator.disconnect()


async def test_outbox_relay_carries_events_from_other_processes(client, settings, monkeypatch):
    settings.CHANNEL_LAYER_SHARED = False
    monkeypatch.setenv("REEL_ARENA_PROCESS", "worker")
    monkeypatch.setattr(outbox, "RELAY_INTERVAL_SECONDS", 0.05)
    cookie = await sync_to_async(session_cookie)(client, await sync_to_async(technician)())
    job_topic = "job-4242"
    communicator = await connect(job_topic, cookie)
    assert (await communicator.connect(timeout=10))[0]
    await asyncio.sleep(0.2)  # the relay has started and noted the newest event id
    await sync_to_async(outbox.publish)(job_topic, {"type": "render.progress", "frames_done": 7})
    assert await sync_to_async(LiveEvent.objects.filter(topic=job_topic).count)() == 1
    message = await receive_until(communicator, lambda m: m.get("type") == "render.progress")
    assert message["frames_done"] == 7 and message["topic"] == job_topic
    await communicator.disconnect()
    if outbox._relay_task is not None:
        outbox._relay_task.cancel()
        outbox._relay_task = None


async def test_topics_are_private_to_staff_roles(client):
    communicator = await connect("clip-1", None)
    connected, code = await communicator.connect(timeout=10)
    assert not connected or code == 4403
    fan_cookie = await sync_to_async(session_cookie)(client, await sync_to_async(UserFactory)())
    communicator = await connect("job-1", fan_cookie)
    connected, code = await communicator.connect(timeout=10)
    assert not connected
    unknown = await connect("nonsense-topic", None)
    assert not (await unknown.connect(timeout=10))[0]
