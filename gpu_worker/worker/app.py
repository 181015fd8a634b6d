"""A Celery app for GPU machines: the broker and the media storage, no Django.

    REDIS_URL=redis://broker:6379/0 \\
    S3_ENDPOINT_URL=… S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… \\
    celery -A gpu_worker.worker.app worker -Q gpu --concurrency 1

One worker process per GPU (`--concurrency 1`; pin it with CUDA_VISIBLE_DEVICES or
REEL_DEVICE=cuda:N). Queues, routing, serialisation, late acknowledgement and
time limits come from gpu_worker.worker.celery_config, the same function the site uses, so
both sides agree. Progress and results go back as `default`-queue tasks that the
site's workers execute. Environment:

    REDIS_URL                  broker (required)
    RENDER_SOFT_TIME_LIMIT     seconds a render may take (default 6 h)
    CELERY_VISIBILITY_TIMEOUT  must exceed the hard limit (default: limit + 1 h)
    S3_*                       for s3:// URIs (see gpu_worker.worker.storage)
    REEL_DEVICE                cpu | cuda | cuda:N (default: CUDA when present)
    MODELS_DIR                 folder of neural-operator weights
"""

from __future__ import annotations

import os

from celery import Celery

from gpu_worker.worker.celery_config import celery_settings


def settings_from_env(environ: dict[str, str] | None = None) -> dict:
    env = os.environ if environ is None else environ
    broker = env.get("REDIS_URL") or env.get("CELERY_BROKER_URL")
    if not broker:
        raise RuntimeError("set REDIS_URL (the broker the site uses) to run a GPU worker")
    soft = int(env.get("RENDER_SOFT_TIME_LIMIT", 6 * 3600))
    hard = soft + 300
    visibility = int(env.get("CELERY_VISIBILITY_TIMEOUT", hard + 3600))
    return celery_settings(broker_url=broker, broker_dir=None, visibility_timeout=visibility,
                           soft_time_limit=soft, time_limit=hard)


app = Celery("reel_arena_gpu")
app.conf.update(settings_from_env())
# Registers the task gpu_worker.tasks.render_job (defined in gpu_worker.worker.tasks) on this app. The engine and
# torch are imported only inside the task, in the child process.
import gpu_worker.worker.tasks  # noqa: E402,F401
