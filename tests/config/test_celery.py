"""The site's Celery app: two queues, routing, JSON, and delivery guarantees."""

from __future__ import annotations

from django.conf import settings

from config.celery import app


def test_queues_and_routing():
    assert {q.name for q in app.conf.task_queues} == {"default", "gpu"}
    assert app.conf.task_default_queue == "default"
    route = app.amqp.router.route({}, "gpu_worker.tasks.render_variant", args=(), kwargs={})
    assert route["queue"].name == "gpu"
    route = app.amqp.router.route({}, "restoration.tasks.probe_clip", args=(), kwargs={})
    assert route["queue"].name == "default"


def test_delivery_guarantees_for_long_renders():
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit == settings.RENDER_TIME_LIMIT > app.conf.task_soft_time_limit
    assert app.conf.task_always_eager is False


def test_beat_sends_the_lease_sweep_every_interval(settings):
    from config.celery import app, configure

    settings.SWEEP_INTERVAL_SECONDS = 45
    configure(app)
    try:
        entry = app.conf.beat_schedule["sweep-expired-leases"]
        assert entry["task"] == "restoration.tasks.sweep" and entry["schedule"] == 45.0
        assert "restoration.tasks.sweep" in app.tasks
    finally:
        settings.SWEEP_INTERVAL_SECONDS = 60
        configure(app)
