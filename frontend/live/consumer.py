"""Websocket consumer for live topics: render progress, clip status, vote tallies."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from frontend.live import outbox, topics


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Joins the group of one topic; on connect, sends the current state from the
    database so a page that reconnects catches up with what it missed."""

    async def connect(self) -> None:
        self.topic = self.scope["url_route"]["kwargs"]["topic"]
        user = self.scope.get("user")
        allowed = await database_sync_to_async(topics.can_watch_topic)(user, self.topic)
        if not allowed:
            await self.close(code=4403)
            return
        outbox.ensure_relay_running()
        self.group = outbox.group_name(self.topic)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        snapshot = await database_sync_to_async(topics.topic_snapshot)(self.topic)
        if snapshot is not None:
            await self.send_json({"topic": self.topic, "snapshot": True, **snapshot})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_event(self, message: dict) -> None:
        await self.send_json({"topic": message["topic"], **message["payload"]})
