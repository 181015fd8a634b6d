"""GPU-queue Celery tasks. No Django here: a task gets a JSON job and returns a JSON result.

Job (built by restoration.services.rendering.build_job):

    {"version": 1, "job_id": 12, "kind": "variant" | "segment", "segment": null | 3,
     "input_uri": "file:///…/source.mp4" | "s3://bucket/key",
     "output_uri": "…/renders/….mp4",
     "control_uri": "…/renders/control/job-12/",   # markers: attempts, cancel, result.json
     "spec": {"ops": [...], "seed": 0, "encode": {...}}, "seed": 0,
     "start": 10, "end": 34,                       # frame range [start, end)
     "audio": true, "scene_cuts": null | [120, 388], "max_attempts": 3, "device": null}

Result (returned, and sent to the site's `restoration.tasks.record_result`):

    {"version": 1, "job_id": 12, "segment": null, "status": "done" | "failed" | "cancelled",
     "output_uri": "…", "frames": 24, "fps": 7.9, "seconds": 3.0, "duration": 0.97,
     "size": 81234, "width": 192, "height": 144, "device": "cpu", "spec_hash": "…",
     "scene_cuts": [], "attempt": 1, "reused": false, "metrics": {...}, "error": ""}

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

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task

from gpu_worker.worker import storage

log = logging.getLogger(__name__)

JOB_VERSION = 1
PROGRESS_TASK = "restoration.tasks.record_progress"
RESULT_TASK = "restoration.tasks.record_result"
PROGRESS_MIN_INTERVAL = 0.5  # seconds: at most ~2 progress messages a second
CANCEL_POLL_FILE = 0.5  # seconds between cancel-marker checks on a local folder
CANCEL_POLL_S3 = 2.0  # … and on S3, where each check is a request
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 300
DEFAULT_MAX_ATTEMPTS = 3

REQUIRED_KEYS = ("job_id", "input_uri", "output_uri", "control_uri", "spec", "start", "end")

Notify = Callable[[str, dict[str, Any]], None]


class JobError(ValueError):
    """The job JSON itself is unusable (a bug on the sending side, never retried)."""


class TransientError(Exception):
    """Raised by `run_job` when the failure may go away on a later attempt."""

    def __init__(self, message: str, attempt: int, max_attempts: int) -> None:
        super().__init__(message)
        self.attempt = attempt
        self.max_attempts = max_attempts


def validate_job(job: Any) -> dict[str, Any]:
    if not isinstance(job, dict):
        raise JobError(f"a job must be a JSON object, got {type(job).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in job]
    if missing:
        raise JobError(f"job is missing {', '.join(missing)}")
    if job.get("version", JOB_VERSION) != JOB_VERSION:
        raise JobError(f"job version {job.get('version')} is not supported (expected {JOB_VERSION})")
    for key in ("input_uri", "output_uri", "control_uri"):
        try:
            storage.parse_uri(job[key])
        except storage.StorageURIError as exc:
            raise JobError(f"{key}: {exc}") from None
    start, end = job["start"], job["end"]
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        raise JobError(f"frame range [{start}, {end}) is invalid")
    return job


def control(job: dict[str, Any], name: str) -> str:
    return storage.join(job["control_uri"], name)


def backoff_seconds(attempt: int) -> int:
    """5 s, 10 s, 20 s … capped: transient storage/network trouble gets time to pass."""
    return min(RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1), RETRY_MAX_SECONDS)


def _base_result(job: dict[str, Any], status: str, attempt: int, **extra: Any) -> dict[str, Any]:
    return {"version": JOB_VERSION, "job_id": job.get("job_id"), "segment": job.get("segment"),
            "kind": job.get("kind", "variant"), "status": status,
            "output_uri": job.get("output_uri"), "attempt": attempt, "reused": False,
            "frames": 0, "fps": 0.0, "metrics": {}, "error": "", **extra}


def read_attempts(job: dict[str, Any]) -> int:
    raw = storage.read_bytes(control(job, "attempts"))
    try:
        return int(raw.decode()) if raw else 0
    except ValueError:
        return 0


def cancel_requested(job: dict[str, Any]) -> bool:
    return storage.exists(control(job, "cancel"))


def _probe_result(job: dict[str, Any], attempt: int) -> dict[str, Any]:
    """Result for an output that exists but whose result file was never written
    (the worker died between publishing and recording)."""
    from gpu_worker.engine import io

    with storage.local_input(job["output_uri"]) as path:
        info = io.probe(path, deep=True)
    return _base_result(job, "done", attempt, frames=info.frame_count, duration=info.duration,
                        width=info.width, height=info.height, size=path.stat().st_size
                        if path.exists() else 0)


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


def run_job(job: dict[str, Any], notify: Notify) -> dict[str, Any]:
    """Do one render job; the Celery task below is a thin wrapper around this.

    Returns the result dict (also sent with `notify(RESULT_TASK, result)`), or raises
    TransientError when a retry may succeed.
    """
    job = validate_job(job)
    max_attempts = int(job.get("max_attempts") or DEFAULT_MAX_ATTEMPTS)
    result_uri = control(job, "result.json")

    def finish(result: dict[str, Any]) -> dict[str, Any]:
        notify(RESULT_TASK, result)
        return result

    if cancel_requested(job):
        return finish(_base_result(job, "cancelled", read_attempts(job), error="cancelled"))

    # Idempotency: a redelivered job whose output is already published is not redone.
    if storage.exists(job["output_uri"]):
        stored = storage.read_bytes(result_uri)
        result = json.loads(stored) if stored else _probe_result(job, read_attempts(job))
        result["reused"] = True
        return finish(result)

    attempt = read_attempts(job) + 1
    storage.write_bytes(control(job, "attempts"), str(attempt).encode())
    if attempt > max_attempts:
        return finish(_base_result(
            job, "failed", attempt - 1,
            error=f"gave up after {max_attempts} attempts: the render crashed or was "
                  f"interrupted every time (see the GPU worker's log)"))

    # Only one delivery of a job runs at a time (late ack + prefetch 1), so whatever
    # an earlier, killed attempt left half-written can go.
    if storage.remove_stale_partials(job["output_uri"]):
        log.info("job %s: removed partial files of an interrupted attempt", job["job_id"])

    from gpu_worker.engine import io
    from gpu_worker.engine.device import DeviceError
    from gpu_worker.engine.pipeline import RenderCancelled, RenderError, render
    from gpu_worker.engine.registry import SpecError

    progress_base = {"job_id": job["job_id"], "segment": job.get("segment"), "attempt": attempt}
    notify(PROGRESS_TASK, {**progress_base, "status": "running", "frames_done": 0,
                           "frames_total": job["end"] - job["start"], "fps": 0.0, "eta": None})
    last_sent = 0.0

    def on_progress(done: int, total: int, fps: float, eta: float) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if now - last_sent < PROGRESS_MIN_INTERVAL and done < total:
            return
        last_sent = now
        notify(PROGRESS_TASK, {**progress_base, "status": "running", "frames_done": done,
                               "frames_total": total, "fps": round(fps, 3),
                               "eta": round(eta, 1)})

    poll = CANCEL_POLL_S3 if job["control_uri"].startswith("s3:") else CANCEL_POLL_FILE
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
            log.warning("could not check the cancel marker of job %s", job["job_id"], exc_info=True)
            return False

    spec = dict(job["spec"])
    if job.get("seed") is not None:
        spec["seed"] = job["seed"]
    device = os.environ.get("REEL_DEVICE") or job.get("device") or None
    models_dir = os.environ.get("MODELS_DIR") or None
    try:
        with storage.local_input(job["input_uri"]) as source:
            with storage.local_output(job["output_uri"]) as target:
                rendered = render(source, target, spec, start=job["start"], end=job["end"],
                                  device=device, progress=on_progress,
                                  should_cancel=should_cancel, audio=bool(job.get("audio", True)),
                                  scene_cuts=job.get("scene_cuts"), models_dir=models_dir)
                try:
                    measured = _sample_metrics(source, target, job["start"], rendered.frames,
                                               rendered.end - rendered.start)
                except Exception:  # measures are a nicety; never fail a render for them
                    log.warning("metrics failed for job %s", job["job_id"], exc_info=True)
                    measured = {}
    except RenderCancelled:
        return finish(_base_result(job, "cancelled", attempt, error="cancelled"))
    except (SpecError, io.MediaError, DeviceError, RenderError, JobError) as exc:
        return finish(_base_result(job, "failed", attempt, error=str(exc)))
    except Exception as exc:  # storage, network, out of memory…: may pass
        if attempt >= max_attempts:
            return finish(_base_result(job, "failed", attempt,
                                       error=f"failed {attempt} times; last error: {exc!r}"))
        raise TransientError(repr(exc), attempt, max_attempts) from exc

    result = _base_result(
        job, "done", attempt, frames=rendered.frames, fps=round(rendered.fps, 3),
        seconds=round(rendered.seconds, 3), duration=rendered.duration, size=rendered.size,
        width=rendered.width, height=rendered.height, device=rendered.device,
        spec_hash=rendered.spec_hash, scene_cuts=rendered.scene_cuts,
        metrics={"render_fps": round(rendered.fps, 3), "seconds": round(rendered.seconds, 3),
                 "device": rendered.device, **measured})
    storage.write_bytes(result_uri, json.dumps(result).encode())
    return finish(result)


def celery_notifier(task: Any) -> Notify:
    """Send bookkeeping to the site's default queue (or run it here when eager)."""
    def notify(name: str, payload: dict[str, Any]) -> None:
        if task.request.is_eager:
            # Eager (tests, one-process runs): the site's task runs here, inline.
            # send_task would ignore eagerness and need a broker.
            import importlib

            importlib.import_module(name.rsplit(".", 1)[0])
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
    notify = celery_notifier(self)
    try:
        return run_job(job, notify)
    except TransientError as exc:
        countdown = backoff_seconds(exc.attempt)
        log.warning("job %s attempt %s failed (%s); retrying in %ss", job.get("job_id"),
                    exc.attempt, exc, countdown)
        raise self.retry(countdown=countdown, exc=exc) from exc
    except JobError as exc:
        result = _base_result(job if isinstance(job, dict) else {}, "failed", 0, error=str(exc))
        notify(RESULT_TASK, result)
        return result
