"""GPU-queue Celery tasks. No Django here: a task gets a JSON job and returns a JSON result.

The messages are those of gpu_worker.jobs: the site sends `JobRequest.to_dict()`,
the task reads it with `JobRequest.from_dict` (a job that breaks the contract fails
at once with the field named, and is never retried), reports `JobProgress` to the
site's `restoration.tasks.record_progress` and ends with a `JobResult`, returned and
sent to `restoration.tasks.record_result`.

Delivery. The site's Celery settings make these tasks late-acknowledged and rejected
(requeued) when the worker process dies, so a render killed with its worker is done
again by the next worker. What makes that safe:

- idempotent: the output is published atomically (storage.local_output) and a
  redelivered job whose output already exists reports it instead of rendering again;
- attempt counter: every start increments `attempts` under the job's control URI, in
  the media storage (the worker has no database). A job that keeps killing its worker
  is redelivered forever by the broker; at the start past `max_attempts` the task
  reports a visible failure instead of crashing the worker once more;
- bounded retries with exponential backoff for transient errors (storage, network);
  errors in the spec or the input are permanent and fail at once;
- cancellable: the site writes a `cancel` marker (and revokes the task); the render
  polls it between batches and stops, leaving no partial file.

Progress goes to the site as tiny `default`-queue tasks (`record_progress`), at most
about two a second; the result as `record_result`.

Everything heavy (torch, the engine, any model) is imported inside the task, in the
worker's child process, so the parent never touches CUDA.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from celery import shared_task

from gpu_worker.jobs import (
    JobContractError,
    JobProgress,
    JobRequest,
    JobResult,
    JobStatus,
    needs_proxy,
    proxy_uri_for,
)
from gpu_worker.worker import storage

log = logging.getLogger(__name__)

PROGRESS_TASK = "restoration.tasks.record_progress"
RESULT_TASK = "restoration.tasks.record_result"
PROGRESS_MIN_INTERVAL = 0.5  # seconds: at most ~2 progress messages a second
CANCEL_POLL_FILE = 0.5  # seconds between cancel-marker checks on a local folder
CANCEL_POLL_S3 = 2.0  # … and on S3, where each check is a request
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 300

# Sends one message (a JSON object) to the site task of that name.
Notify = Callable[[str, dict[str, Any]], None]


class TransientError(Exception):
    """Raised by `execute` when the failure may go away on a later attempt."""

    def __init__(self, message: str, attempt: int, max_attempts: int) -> None:
        super().__init__(message)
        self.attempt = attempt
        self.max_attempts = max_attempts


def control(job: JobRequest, name: str) -> str:
    """URI of one of the job's markers (attempts, cancel, result.json)."""
    return storage.join(job.control_uri, name)


def backoff_seconds(attempt: int) -> int:
    """5 s, 10 s, 20 s … capped: transient storage/network trouble gets time to pass."""
    return min(RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1), RETRY_MAX_SECONDS)


def read_attempts(job: JobRequest) -> int:
    """Starts of this job so far, counted in the media storage (the worker has no database)."""
    raw = storage.read_bytes(control(job, "attempts"))
    try:
        return int(raw.decode()) if raw else 0
    except ValueError:
        return 0


def cancel_requested(job: JobRequest) -> bool:
    return storage.exists(control(job, "cancel"))


def unreadable_job_result(raw: Any, error: JobContractError) -> JobResult:
    """The failure reported for a job that breaks the contract.

    Whatever identifies the job and is itself valid is kept, so the site can still
    mark its job failed; the rest is dropped rather than refused a second time.
    """
    fields = raw if isinstance(raw, Mapping) else {}

    def failure(identity: dict[str, Any]) -> JobResult:
        return JobResult(**{"job_id": None, **identity}, status="failed", error=str(error))

    identity: dict[str, Any] = {}
    for name in ("job_id", "segment", "kind", "output_uri"):
        if name not in fields:
            continue
        try:
            failure({**identity, name: fields[name]})
        except JobContractError:
            continue
        identity[name] = fields[name]
    return failure(identity)


def _published_result(job: JobRequest, attempt: int) -> JobResult:
    """Result for an output an earlier delivery already published: the stored
    result.json, or a probe of the output when the worker died between publishing
    it and recording the result."""
    stored = storage.read_bytes(control(job, "result.json"))
    if stored:
        try:
            return JobResult.from_dict(json.loads(stored))
        except (ValueError, JobContractError):
            log.warning("job %s: unreadable result.json; probing the output", job.job_id,
                        exc_info=True)
    from gpu_worker.engine import io

    with storage.local_input(job.output_uri) as path:
        info = io.probe(path, deep=True)
        size = path.stat().st_size if path.exists() else 0
    return JobResult.of(job, "done", attempt, frames=info.frame_count, duration=info.duration,
                        width=info.width, height=info.height, size=size)


def _sample_metrics(input_path: Any, output_path: Any, start: int, frames: int,
                   source_frames: int | None = None) -> dict[str, Any]:
    """No-reference measures on a few frames before/after, for the technician's table.

    `source_frames`: input frames the `frames` output frames were made from, when a
    spec changed the frame rate; output frame i then shows the time of input frame
    start + i·source_frames/frames.
    """
    from gpu_worker.engine import io, metrics

    if frames <= 0:
        return {}
    source_frames = source_frames or frames
    picks = sorted({0, frames // 2, frames - 1})
    inputs = [start + min(source_frames - 1, i * source_frames // frames) for i in picks]
    before = [metrics.noise_sigma(io.extract_frame(input_path, n)) for n in inputs]
    after = [metrics.noise_sigma(io.extract_frame(output_path, i)) for i in picks]
    sharp_b = [metrics.sharpness(io.extract_frame(input_path, n)) for n in inputs]
    sharp_a = [metrics.sharpness(io.extract_frame(output_path, i)) for i in picks]
    mean = lambda xs: float(sum(xs) / len(xs))  # noqa: E731
    return {"noise_sigma_before": round(mean(before), 5), "noise_sigma_after": round(mean(after), 5),
            "sharpness_before": round(mean(sharp_b), 5), "sharpness_after": round(mean(sharp_a), 5)}


def execute(job: JobRequest, notify: Notify) -> JobResult:
    """Do one render job; `run_job` and the Celery task below are thin wrappers.

    Returns the result (also sent with `notify(RESULT_TASK, …)`), or raises
    TransientError when a retry may succeed.
    """
    def finish(result: JobResult) -> JobResult:
        notify(RESULT_TASK, result.to_dict())
        return result

    def failed(status: JobStatus, attempt: int, error: str) -> JobResult:
        return finish(JobResult.of(job, status, attempt, error=error))

    if cancel_requested(job):
        return failed("cancelled", read_attempts(job), "cancelled")

    # Idempotency: a redelivered job whose output is already published is not redone.
    if storage.exists(job.output_uri):
        return finish(dataclasses.replace(_published_result(job, read_attempts(job)), reused=True))

    attempt = read_attempts(job) + 1
    storage.write_bytes(control(job, "attempts"), str(attempt).encode())
    if attempt > job.max_attempts:
        return failed("failed", attempt - 1,
                      f"gave up after {job.max_attempts} attempts: the render crashed or was "
                      f"interrupted every time (see the GPU worker's log)")

    # Only one delivery of a job runs at a time (late ack + prefetch 1), so whatever
    # an earlier, killed attempt left half-written can go.
    if storage.remove_stale_partials(job.output_uri):
        log.info("job %s: removed partial files of an interrupted attempt", job.job_id)

    from gpu_worker.engine import io
    from gpu_worker.engine.device import DeviceError
    from gpu_worker.engine.pipeline import RenderCancelled, RenderError, render
    from gpu_worker.engine.registry import SpecError

    def send_progress(done: int, total: int, fps: float = 0.0, eta: float | None = None) -> None:
        notify(PROGRESS_TASK, JobProgress.of(job, attempt, frames_done=done, frames_total=total,
                                             fps=fps, eta=eta).to_dict())

    send_progress(0, job.frames_total)
    last_sent = 0.0

    def on_progress(done: int, total: int, fps: float, eta: float) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if now - last_sent < PROGRESS_MIN_INTERVAL and done < total:
            return
        last_sent = now
        send_progress(done, total, round(fps, 3), round(eta, 1))

    poll = CANCEL_POLL_S3 if job.control_uri.startswith("s3:") else CANCEL_POLL_FILE
    last_poll = 0.0

    def should_cancel() -> bool:
        nonlocal last_poll
        now = time.monotonic()
        if now - last_poll < poll:
            return False
        last_poll = now
        try:
            return cancel_requested(job)
        except Exception:  # a storage hiccup must not kill a long render
            log.warning("could not check the cancel marker of job %s", job.job_id, exc_info=True)
            return False

    spec = dict(job.spec)
    if job.seed is not None:
        spec["seed"] = job.seed
    device = os.environ.get("REEL_DEVICE") or job.device or None
    models_dir = os.environ.get("MODELS_DIR") or None
    scene_cuts = list(job.scene_cuts) if job.scene_cuts is not None else None
    try:
        with storage.local_input(job.input_uri) as source:
            with storage.local_output(job.output_uri) as target:
                rendered = render(source, target, spec, start=job.start, end=job.end,
                                  device=device, progress=on_progress,
                                  should_cancel=should_cancel, audio=job.audio,
                                  scene_cuts=scene_cuts, models_dir=models_dir)
                try:
                    measured = _sample_metrics(source, target, job.start, rendered.frames,
                                               rendered.end - rendered.start)
                except Exception:  # measures are a nicety; never fail a render for them
                    log.warning("metrics failed for job %s", job.job_id, exc_info=True)
                    measured = {}
                proxy_uri = None
                if job.kind == "variant" and needs_proxy(job.output_uri, spec.get("encode")):
                    # The master stays as asked (ProRes, FFV1, 10-bit…); the players
                    # get an H.264 copy made from it.
                    from gpu_worker.engine.media import make_proxy

                    proxy_uri = proxy_uri_for(job.output_uri)
                    with storage.local_output(proxy_uri) as proxy_target:
                        make_proxy(target, proxy_target, audio=rendered.audio)
    except RenderCancelled:
        return failed("cancelled", attempt, "cancelled")
    except (SpecError, io.MediaError, DeviceError, RenderError) as exc:
        return failed("failed", attempt, str(exc))
    except Exception as exc:  # storage, network, out of memory…: may pass
        if attempt >= job.max_attempts:
            return failed("failed", attempt, f"failed {attempt} times; last error: {exc!r}")
        raise TransientError(repr(exc), attempt, job.max_attempts) from exc

    result = JobResult.of(
        job, "done", attempt, proxy_uri=proxy_uri, frames=rendered.frames,
        fps=round(rendered.fps, 3),
        seconds=round(rendered.seconds, 3), duration=rendered.duration, size=rendered.size,
        width=rendered.width, height=rendered.height, device=rendered.device,
        spec_hash=rendered.spec_hash, scene_cuts=rendered.scene_cuts,
        metrics={"render_fps": round(rendered.fps, 3), "seconds": round(rendered.seconds, 3),
                 "device": rendered.device, **measured})
    storage.write_bytes(control(job, "result.json"), json.dumps(result.to_dict()).encode())
    return finish(result)


def run_job(job: Any, notify: Notify) -> dict[str, Any]:
    """One job as it comes off the queue: a JSON object in, the result's JSON out.

    A job that breaks the contract is a permanent failure: its result names the
    field and is reported like any other. Raises TransientError when a retry may
    succeed.
    """
    try:
        request = JobRequest.from_dict(job)
    except JobContractError as exc:
        log.error("refused an invalid job: %s", exc)
        result = unreadable_job_result(job, exc)
        notify(RESULT_TASK, result.to_dict())
        return result.to_dict()
    return execute(request, notify).to_dict()


def celery_notifier(task: Any) -> Notify:
    """Send bookkeeping to the site's default queue (or run it here when eager)."""
    def notify(name: str, payload: dict[str, Any]) -> None:
        if task.request.is_eager:
            # Eager (tests, one-process runs): the site's task runs here, inline
            # (the site registers its tasks when it starts); send_task would ignore
            # eagerness and need a broker.
            task.app.tasks[name].apply(args=[payload])
            return
        try:
            task.app.send_task(name, args=[payload], queue="default", routing_key="default")
        except Exception:
            # Progress is best-effort; a result that cannot be sent is retried by
            # the broker redelivering this task (the output is then reused).
            if name == RESULT_TASK:
                raise
            log.warning("could not send %s for job %s", name, payload.get("job_id"), exc_info=True)
    return notify


@shared_task(bind=True, name="gpu_worker.tasks.render_job", acks_late=True,
             reject_on_worker_lost=True, max_retries=None)
def render_job(self: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Render one job (variant excerpt or film segment); see the module docstring."""
    try:
        return run_job(job, celery_notifier(self))
    except TransientError as exc:
        countdown = backoff_seconds(exc.attempt)
        log.warning("job %s attempt %s failed (%s); retrying in %ss", job.get("job_id"),
                    exc.attempt, exc, countdown)
        raise self.retry(countdown=countdown, exc=exc) from exc


# --- distinctness of two variants --------------------------------------------------------

COMPARISON_TASK = "restoration.tasks.record_comparison"
COMPARISON_KEYS = ("comparison_id", "a_uri", "b_uri", "map_uri")


def run_comparison(message: Any, notify: Notify) -> dict[str, Any]:
    """Compare two rendered variants (gpu_worker.engine.distinctness) and report it.

    Message: {"comparison_id": 7, "a_uri": "…/a.mp4", "b_uri": "…/b.mp4",
    "map_uri": "…/map.png", "frames": 4, "device": null}. Result, sent to
    `restoration.tasks.record_comparison` and returned: {"comparison_id": 7,
    "status": "done" | "failed", "jod": 9.7, "details": {...}, "map_uri": "…",
    "error": ""}. Any failure is reported (a comparison is advice, never retried).
    """
    fields = message if isinstance(message, Mapping) else {}
    comparison_id = fields.get("comparison_id")
    result: dict[str, Any] = {"comparison_id": comparison_id, "status": "failed", "jod": None,
                              "details": {}, "map_uri": None, "error": ""}
    try:
        missing = [k for k in COMPARISON_KEYS if not fields.get(k)]
        if missing or not isinstance(comparison_id, int) or isinstance(comparison_id, bool):
            raise ValueError(f"comparison message: missing or invalid {(missing or ['comparison_id'])[0]}")
        from gpu_worker.engine.distinctness import FRAMES, compare_videos

        device = os.environ.get("REEL_DEVICE") or fields.get("device") or None
        frames = int(fields.get("frames") or FRAMES)
        with storage.local_input(fields["a_uri"]) as a, storage.local_input(fields["b_uri"]) as b, \
                storage.local_output(fields["map_uri"]) as target:
            compared = compare_videos(a, b, count=frames, map_path=target, device=device)
        details = compared.to_dict()
        details.pop("map_path", None)
        result.update(status="done", jod=compared.jod, details=details, map_uri=fields["map_uri"])
    except Exception as exc:  # reported to the site as a failed comparison
        log.warning("comparison %s failed", comparison_id, exc_info=True)
        result["error"] = f"{type(exc).__name__}: {exc}"
    notify(COMPARISON_TASK, result)
    return result


@shared_task(bind=True, name="gpu_worker.tasks.compare_variants", acks_late=True,
             reject_on_worker_lost=True)
def compare_variants(self: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Measure how different two variants look; see run_comparison."""
    return run_comparison(message, celery_notifier(self))
