"""The Celery configuration: two queues, routing, JSON, and delivery guarantees."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import app
from gpu_worker.worker.celery_config import celery_settings


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


def test_redis_visibility_timeout_outlasts_the_longest_render(tmp_path):
    conf = celery_settings(broker_url="redis://127.0.0.1:6379/0", broker_dir=None,
                           visibility_timeout=7200, soft_time_limit=3000, time_limit=3600)
    assert conf["broker_transport_options"]["visibility_timeout"] == 7200
    with pytest.raises(ValueError, match="must exceed the task time limit"):
        celery_settings(broker_url="redis://x/0", broker_dir=None, visibility_timeout=3600,
                        soft_time_limit=3000, time_limit=3600)


def test_filesystem_broker_for_the_embedded_default(tmp_path):
    conf = celery_settings(broker_url="filesystem://", broker_dir=tmp_path, visibility_timeout=10,
                           soft_time_limit=1, time_limit=2)
    options = conf["broker_transport_options"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(tmp_path / "queue")
    assert (tmp_path / "queue").is_dir()
