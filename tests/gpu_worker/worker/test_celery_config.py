"""The Celery settings the site and GPU workers share: broker transports and time limits."""

from __future__ import annotations

import pytest

from gpu_worker.worker.celery_config import celery_settings


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
