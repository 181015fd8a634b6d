"""The live-event outbox (see frontend.live)."""

from __future__ import annotations

from django.db import models


class LiveEvent(models.Model):
    """Outbox of live events for the embedded default.

    Without Redis, worker processes cannot reach the web process's in-memory channel
    layer, so they write events here and the web process relays them to websockets.
    """

    topic = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table predates the live package: it was created by the restoration app.
        db_table = "restoration_liveevent"
