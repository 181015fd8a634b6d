"""The standalone GPU worker's Celery app: the broker and storage settings, no Django."""

from __future__ import annotations

import pytest


def test_worker_app_needs_only_the_broker(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    from gpu_worker.worker.app import app, settings_from_env

    assert "gpu_worker.tasks.render_job" in app.tasks
    assert app.conf.task_routes["gpu_worker.tasks.*"]["queue"] == "gpu"

    conf = settings_from_env({"REDIS_URL": "redis://h:6379/0", "RENDER_SOFT_TIME_LIMIT": "600"})
    assert conf["broker_url"] == "redis://h:6379/0" and conf["task_acks_late"]
    assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"] == 900
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        settings_from_env({})
