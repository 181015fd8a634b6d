"""Live events (render progress, clip status, vote tallies) to websocket clients.

`publish(topic, payload)` is callable from any process. With Redis the channel layer
is shared and events go straight to the websocket consumers. In the embedded default
the channel layer lives inside the web process, so other processes (Celery workers)
append to the LiveEvent outbox table and `relay_outbox` in the web process forwards
new rows to its in-memory layer. Pages also read current state from the database when
they (re)connect, so a missed event is never lost state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from frontend.models import LiveEvent

log = logging.getLogger(__name__)

OUTBOX_KEEP = timedelta(minutes=10)
RELAY_INTERVAL_SECONDS = 0.3


def group_name(topic: str) -> str:
    # Channels group names allow only ASCII alphanumerics, hyphens, underscores, periods.
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in topic)
    return f"live.{safe}"[:99]


def _in_web_process() -> bool:
    return os.environ.get("REEL_ARENA_PROCESS") == "web"


def publish(topic: str, payload: dict[str, Any]) -> None:
    """Send a live event to everyone watching `topic` (sync code: tasks, services)."""
    message = {"type": "live.event", "topic": topic, "payload": payload}
    if settings.CHANNEL_LAYER_SHARED or _in_web_process():
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group_name(topic), message)
            return
    LiveEvent.objects.create(topic=topic, payload=payload)


def publish_from_thread(topic: str, payload: dict[str, Any]) -> None:
    """Publish from a plain thread (a timer, not a request or a task). With a shared
    (Redis) layer that is just publish(); the embedded default's in-memory layer
    belongs to the web process's event loop, so the event goes through the outbox
    that its relay forwards."""
    if settings.CHANNEL_LAYER_SHARED:
        publish(topic, payload)
    else:
        LiveEvent.objects.create(topic=topic, payload=payload)


async def apublish(topic: str, payload: dict[str, Any]) -> None:
    """Async variant for consumers already running in the web process."""
    layer = get_channel_layer()
    await layer.group_send(group_name(topic), {"type": "live.event", "topic": topic, "payload": payload})


def _fetch_after(last_id: int) -> list[tuple[int, str, dict]]:
    rows = LiveEvent.objects.filter(id__gt=last_id).order_by("id").values_list("id", "topic", "payload")[:500]
    return list(rows)


def _newest_id() -> int:
    newest = LiveEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return newest or 0


def prune() -> int:
    """Delete outbox rows older than OUTBOX_KEEP (the relay does it while a websocket is
    open; restoration's sweeper whether or not one is). Returns the rows deleted."""
    return LiveEvent.objects.filter(created_at__lt=timezone.now() - OUTBOX_KEEP).delete()[0]


_prune = prune


_relay_task: asyncio.Task | None = None


async def relay_outbox(stop: asyncio.Event | None = None) -> None:
    """Forward LiveEvent rows written by other processes to this process's layer."""
    layer = get_channel_layer()
    last_id = await sync_to_async(_newest_id)()
    rounds = 0
    while stop is None or not stop.is_set():
        try:
            rows = await sync_to_async(_fetch_after)(last_id)
            for row_id, topic, payload in rows:
                await layer.group_send(group_name(topic),
                                       {"type": "live.event", "topic": topic, "payload": payload})
                last_id = row_id
            rounds += 1
            if rounds % 200 == 0:
                await sync_to_async(_prune)()
        except Exception:  # keep relaying after a transient database error
            log.exception("live event relay failed; retrying")
        await asyncio.sleep(RELAY_INTERVAL_SECONDS)


def ensure_relay_running() -> None:
    """Start the outbox relay once per web process (embedded default only)."""
    global _relay_task
    if settings.CHANNEL_LAYER_SHARED:
        return
    if _relay_task is None or _relay_task.done():
        _relay_task = asyncio.get_running_loop().create_task(relay_outbox())
