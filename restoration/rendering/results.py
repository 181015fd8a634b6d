"""Results from the GPU workers: the one entry point the `record_result` task calls.

A variant job finishes in restoration.rendering.variants (and the last variant of a
sweep to finish queues the comparisons of its pairs, restoration.rendering.
distinctness); a film segment's result is recorded in restoration.rendering.film, and
the last one queues the assembly.
"""

from __future__ import annotations

import logging
from typing import Any

from gpu_worker.jobs import JobContractError, JobResult
from restoration.models import RenderJob
from restoration.rendering.distinctness import compare_finished_sweep
from restoration.rendering.film import record_segment_result
from restoration.rendering.variants import record_variant_result

log = logging.getLogger(__name__)


def record_result(data: dict[str, Any]) -> RenderJob | None:
    """Record a worker's result once; a repeated or late result changes nothing.

    A message that breaks the job contract is refused with a log entry naming the field.
    """
    try:
        result = JobResult.from_dict(data)
    except JobContractError as exc:
        log.error("a GPU worker sent a result that breaks the job contract: %s", exc)
        return None
    if result.job_id is None:  # the worker could not read the job at all
        log.error("a GPU worker could not read a job: %s", result.error)
        return None
    if result.segment is not None:
        return record_segment_result(result)
    job = record_variant_result(result)
    if job is not None and job.variant_id is not None:
        try:
            compare_finished_sweep(job.variant)
        except Exception:  # advice for the technician; never lose a render's result for it
            log.exception("could not queue the comparisons of the sweep of variant %s", job.variant_id)
    return job
