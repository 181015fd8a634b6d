"""Scheduling the restoration app's own default-queue tasks from its services.

Services start follow-up work (probe a clip after its upload, analyse it after its
probe, plan and assemble a full-film render); the tasks in restoration.tasks call the
services. A service that imported the tasks module would close an import circle, so
services name the task they schedule: the task's registered name is the contract,
exactly as GPU workers report back to the site by task name. RestorationConfig.ready
imports restoration.tasks, so every process that runs services has them registered.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction

PROBE_CLIP = "restoration.tasks.probe_clip"
ENCODE_SEQUENCE = "restoration.tasks.encode_sequence"
ANALYZE_CLIP = "restoration.tasks.analyze_clip"
PLAN_FILM_RENDER = "restoration.tasks.plan_film_render"
ASSEMBLE_FILM = "restoration.tasks.assemble_film"
RECORD_PROGRESS = "restoration.tasks.record_progress"
RECORD_RESULT = "restoration.tasks.record_result"
SWEEP = "restoration.tasks.sweep"
RECORD_COMPARISON = "restoration.tasks.record_comparison"
# A GPU-queue task (gpu_worker.worker.tasks), routed to the `gpu` queue by its name.
COMPARE_VARIANTS = "gpu_worker.tasks.compare_variants"


def send_now(task_name: str, *args: Any) -> None:
    """Queue a registered task of this app at once."""
    current_app.tasks[task_name].delay(*args)


def send_with_id(task_name: str, task_id: str, *args: Any) -> None:
    """Queue a registered task at once under a chosen id (to revoke or trace it)."""
    current_app.tasks[task_name].apply_async(args=args, task_id=task_id)


def send_after_commit(task_name: str, *args: Any) -> None:
    """Queue a registered task once the current transaction commits, so the task finds
    the rows the service wrote (at once when no transaction is open)."""
    transaction.on_commit(lambda: send_now(task_name, *args))
