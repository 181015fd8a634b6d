"""The site's Celery app (queues `default` and `gpu`); see gpu_worker.worker.celery_config."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("reel_arena")


def configure(celery_app: Celery) -> None:
    from django.conf import settings

    from gpu_worker.worker.celery_config import celery_settings

    celery_app.conf.update(celery_settings(
        broker_url=settings.CELERY_BROKER_URL,
        broker_dir=settings.CELERY_BROKER_DIR,
        visibility_timeout=settings.CELERY_VISIBILITY_TIMEOUT,
        soft_time_limit=settings.RENDER_SOFT_TIME_LIMIT,
        time_limit=settings.RENDER_TIME_LIMIT,
        always_eager=settings.CELERY_TASK_ALWAYS_EAGER,
    ))
    # `celery -A config beat` sends the lease sweep (restoration.sweeper) periodically.
    celery_app.conf.beat_schedule = {
        "sweep-expired-leases": {"task": "restoration.tasks.sweep",
                                 "schedule": float(settings.SWEEP_INTERVAL_SECONDS),
                                 "options": {"expires": float(settings.SWEEP_INTERVAL_SECONDS)}},
    }


configure(app)
app.autodiscover_tasks(["restoration", "voting"])
