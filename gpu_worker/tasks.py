"""Former path of the render task, kept for the site until it imports
gpu_worker.worker.tasks and gpu_worker.jobs. Importing it registers the task."""

from gpu_worker.jobs import DEFAULT_MAX_ATTEMPTS, JOB_VERSION
from gpu_worker.worker.tasks import render_job

__all__ = ["DEFAULT_MAX_ATTEMPTS", "JOB_VERSION", "render_job"]
