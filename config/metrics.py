"""Prometheus metrics of the site's work, read at scrape time.

django-prometheus counts requests and their latencies (its middleware); this collector
adds what the site is for: the Celery queues' lengths, render jobs by kind and status,
and ballots. Values are read from the broker and the database when /metrics is
scraped, so every web process reports the same numbers and nothing has to be counted
in the worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
QUEUES = ("default", "gpu")


def queue_lengths() -> dict[str, int]:
    from config.celery import app

    lengths = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for name in QUEUES:
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception as exc:  # a queue nobody declared yet is empty
                log.debug("queue %s: %s", name, exc)
                lengths[name] = 0
    return lengths


class SiteCollector(Collector):
    def describe(self) -> Iterator:
        """The families without values: registering must not query the database (it runs
        when the URL conf is imported, before any database may exist)."""
        yield GaugeMetricFamily("reel_queue_length", "Messages waiting in a Celery queue",
                                labels=["queue"])
        yield GaugeMetricFamily("reel_render_jobs", "Render jobs by kind and status",
                                labels=["kind", "status"])
        yield CounterMetricFamily("reel_ballots", "Ballots cast by fans")

    def collect(self) -> Iterator:
        from restoration.models import RenderJob
        from voting.models import Ballot

        queues = GaugeMetricFamily("reel_queue_length", "Messages waiting in a Celery queue",
                                   labels=["queue"])
        try:
            for name, length in queue_lengths().items():
                queues.add_metric([name], length)
        except Exception as exc:  # the broker is down: say so by leaving the metric empty
            log.warning("queue lengths unavailable: %s", exc)
        yield queues

        renders = GaugeMetricFamily("reel_render_jobs", "Render jobs by kind and status",
                                    labels=["kind", "status"])
        for row in RenderJob.objects.values("kind", "status").annotate(n=Count("id")).order_by():
            renders.add_metric([row["kind"], row["status"]], row["n"])
        yield renders

        ballots = CounterMetricFamily("reel_ballots", "Ballots cast by fans")
        ballots.add_metric([], Ballot.objects.count())
        yield ballots


_collector: SiteCollector | None = None


def register() -> SiteCollector:
    """Register the collector once per process (the URL conf calls this)."""
    global _collector
    if _collector is None:
        _collector = SiteCollector()
        REGISTRY.register(_collector)
    return _collector
