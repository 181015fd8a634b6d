"""Celery configuration shared by the Django site and Django-free GPU workers.

The site (config/celery.py) and a GPU machine (gpu_worker/worker/app.py) build their
Celery apps from this one function, so both agree on queues, routing, serialisation
and delivery guarantees while the GPU machine never imports Django.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kombu import Exchange, Queue

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"
FILESYSTEM_POLLING_SECONDS = 0.1


def filesystem_broker_options(broker_dir: Path) -> dict[str, Any]:
    """kombu's filesystem transport: a folder any local process can reach (embedded default)."""
    queue_dir, processed_dir = broker_dir / "queue", broker_dir / "processed"
    control_dir = broker_dir / "control"  # exchange bindings; kombu's default is the cwd
    for folder in (queue_dir, processed_dir, control_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(control_dir),
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed_dir),
        "store_processed": False,
        # How long a worker sleeps when it finds nothing it may take. kombu's default (1 s)
        # also applies after every task: with one prefetched task at a time (acks_late,
        # prefetch 1) the worker finds "nothing" until the task is acknowledged, so it
        # sleeps a second after each one, and a backlog of progress reports drains at one
        # a second, holding results and live progress seconds behind the renders. A poll
        # lists one small folder.
        "polling_interval": FILESYSTEM_POLLING_SECONDS,
    }


def celery_settings(*, broker_url: str, broker_dir: Path | None, visibility_timeout: int,
                    soft_time_limit: int, time_limit: int, always_eager: bool = False) -> dict[str, Any]:
    """Celery settings for both queues.

    visibility_timeout matters on Redis: an unacknowledged task is handed to another
    worker after it, and late acknowledgement means a render is unacknowledged until it
    ends, so it must exceed `time_limit`.
    """
    if visibility_timeout <= time_limit:
        raise ValueError(
            f"visibility timeout {visibility_timeout}s must exceed the task time limit {time_limit}s")
    if broker_url.startswith("filesystem://"):
        if broker_dir is None:
            raise ValueError("the filesystem broker needs a folder")
        transport_options = filesystem_broker_options(broker_dir)
    else:
        transport_options = {"visibility_timeout": visibility_timeout}
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": DEFAULT_QUEUE,
        "task_queues": (
            Queue(DEFAULT_QUEUE, Exchange(DEFAULT_QUEUE), routing_key=DEFAULT_QUEUE),
            Queue(GPU_QUEUE, Exchange(GPU_QUEUE), routing_key=GPU_QUEUE),
        ),
        "task_routes": {"gpu_worker.tasks.*": {"queue": GPU_QUEUE, "routing_key": GPU_QUEUE}},
        # A render killed with its worker is redelivered, not lost.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One job at a time per process: a long render must not hold back queued jobs
        # that another GPU could take.
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": soft_time_limit,
        "task_time_limit": time_limit,
        "task_always_eager": always_eager,
        "task_eager_propagates": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
    }
