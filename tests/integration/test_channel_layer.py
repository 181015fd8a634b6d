"""The Redis channel layer as the site configures it, against a real Redis."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_quiet_channel_is_waited_on_not_an_error():
    """A websocket's channel with nothing to deliver for longer than channels-redis's
    blocking pop (5 s) keeps waiting. With the connection's read timeout at the same
    5 s, the pop's empty answer raced the timeout and the consumer died with
    redis TimeoutError, so live progress stopped reaching the page."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL (scripts/test does when 127.0.0.1:6379 answers)")

    async def quiet_then_delivered() -> float:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        began = time.monotonic()
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(layer.receive(channel), timeout=quiet)
            waited = time.monotonic() - began
            # ...and the channel still delivers once something is sent.
            await layer.send(channel, {"type": "ping"})
            assert await asyncio.wait_for(layer.receive(channel), timeout=5) == {"type": "ping"}
            return waited
        finally:
            await layer.close_pools()

    quiet = get_channel_layer().brpop_timeout + 2
    # A loop of its own in a thread of its own: the browser tests' Playwright (sync API)
    # leaves the main thread marked as running an event loop for the rest of the session.
    with ThreadPoolExecutor(max_workers=1) as pool:
        waited = pool.submit(asyncio.run, quiet_then_delivered()).result()
    assert waited >= quiet - 0.1
