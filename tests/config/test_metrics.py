"""config.metrics: /metrics in Prometheus' format, with requests, queues, renders and ballots."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from restoration.models import RenderJob
from tests.factories import RenderJobFactory
from tests.voting.factories import BallotFactory

pytestmark = pytest.mark.django_db


def samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode())
            for s in family.samples}


def test_metrics_count_renders_ballots_queues_and_requests(client):
    RenderJobFactory.create_batch(2, status=RenderJob.Status.RUNNING)
    RenderJobFactory(status=RenderJob.Status.DONE)
    BallotFactory.create_batch(3)
    client.get("/healthz")
    values = samples(client)
    kind = RenderJob.objects.first().kind
    assert values[("reel_render_jobs", (("kind", kind), ("status", "running")))] == 2
    assert values[("reel_render_jobs", (("kind", kind), ("status", "done")))] == 1
    assert values[("reel_ballots_total", ())] == 3
    assert values[("reel_queue_length", (("queue", "default"),))] >= 0
    assert values[("reel_queue_length", (("queue", "gpu"),))] >= 0
    assert any(name == "django_http_requests_total_by_view_transport_method_total"
               and dict(labels).get("view") == "healthz" and value >= 1
               for (name, labels), value in values.items())
