"""The sweeper: nothing stuck, nothing lost.

    report = sweep()

Every unit of work holds a lease in the database while it is queued or running
(restoration.leases). A lease that expired means its worker died, its message was
lost, or its result never arrived: the sweeper sends the unit again with a new lease
token (a delivery of the old dispatch then does nothing, and a late result from it is
ignored), up to the unit's attempt limit, after which it fails the unit with a reason
the technician sees on the render, the clip or the film. It relies on no broker
feature, so it recovers the same way on the embedded default's filesystem broker
(which drops the message of a killed worker) and on Redis.

It also removes upload staging files nobody touched for UPLOAD_STAGING_TTL_SECONDS,
and prunes the live-event outbox (otherwise pruned only while a websocket is open).

It runs every SWEEP_INTERVAL_SECONDS: from Celery beat in production
(`restoration.tasks.sweep`, scheduled in config.celery), from a thread of the
embedded supervisor (`manage.py run_embedded`), and by hand with `manage.py sweep`.
Running two sweepers at once is harmless: each lease is handled under its row lock,
and one that another sweeper already renewed is no longer expired.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from frontend.live import outbox
from restoration import leases, queue
from restoration.models import Clip, RenderJob, RenderSegment, UploadSession, WorkLease
from restoration.rendering.film import queue_assembly, redispatch_segment
from restoration.rendering.jobs import TERMINAL, control_name, publish_job
from restoration.rendering.variants import redispatch_variant
from restoration.services.clip_analysis import AnalysisStatus

log = logging.getLogger(__name__)

Kind = WorkLease.Kind


@dataclass
class SweepReport:
    """What one sweep did; `redispatched` and `failed` name the units."""

    redispatched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    staging_removed: int = 0
    events_pruned: int = 0
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(
            self.redispatched
            or self.failed
            or self.released
            or self.renewed
            or self.staging_removed
        )

    def summary(self) -> str:
        return (
            f"{len(self.redispatched)} sent again, {len(self.failed)} failed, "
            f"{len(self.renewed)} alive, {len(self.released)} released, {self.staging_removed} staging files removed "
            f"in {self.seconds:.2f}s"
        )


def give_up_reason(lease: WorkLease) -> str:
    """The reason shown on a unit the sweeper gives up on."""
    silence = (
        settings.WORK_LEASE_SECONDS if lease.started_at else settings.WORK_QUEUED_LEASE_SECONDS
    )
    what = "stopped reporting" if lease.started_at else "was never started"
    reason = (
        f"gave up after {lease.attempt} attempt{'s' if lease.attempt != 1 else ''}: the "
        f"{lease.get_kind_display()} {what} (no sign of life for {silence}s; its worker "
        "was probably killed or lost its message)"
    )
    return f"{reason}; last error: {lease.last_error}" if lease.last_error else reason


def sweep(now: datetime | None = None) -> SweepReport:
    """Handle every expired lease once, and remove expired upload staging files."""
    began = time.monotonic()
    report = SweepReport()
    notice_started_renders()
    for stale in leases.expired(now):
        try:
            _sweep_one(stale.pk, now, report)
        except Exception:  # one broken unit must not stop the others being recovered
            log.exception("the sweeper could not handle %s", stale)
    report.staging_removed = remove_expired_staging(now)
    report.events_pruned = outbox.prune()
    report.seconds = time.monotonic() - began
    if report:
        log.info("sweep: %s", report.summary())
    return report


def _sweep_one(lease_pk: int, now: datetime | None, report: SweepReport) -> None:
    with transaction.atomic():
        lease = (
            WorkLease.objects.select_for_update(skip_locked=True)
            .filter(pk=lease_pk, expires_at__lt=now or timezone.now())
            .first()
        )
        if lease is None:  # renewed, released, or another sweeper has it
            return
        label = f"{lease.kind} {lease.object_id} (attempt {lease.attempt})"
        handler = HANDLERS[lease.kind]
        if not handler.pending(lease):
            leases.release(lease.kind, lease.object_id)
            report.released.append(label)
            return
        if handler.alive(lease):
            # The worker's own heartbeat is fresh: only the bookkeeping lags behind.
            leases.renew(lease.kind, lease.object_id, lease.token)
            report.renewed.append(label)
            return
        if lease.attempt >= lease.max_attempts:
            reason = give_up_reason(lease)
            handler.fail(lease, reason)
            leases.release(lease.kind, lease.object_id, error=reason)
            report.failed.append(label)
            log.warning("sweeper: %s failed: %s", label, reason)
            return
        handler.redispatch(lease)
        report.redispatched.append(label)
        log.warning("sweeper: %s expired; sent again", label)


# --- one handler per kind of unit ----------------------------------------------------------


class Handler:
    """What the sweeper does with an expired unit of one kind."""

    def pending(self, lease: WorkLease) -> bool:
        """Whether the unit still has work to do (else its lease is just released)."""
        raise NotImplementedError

    def alive(self, lease: WorkLease) -> bool:
        """Whether the unit shows a sign of life outside the database."""
        return False

    def redispatch(self, lease: WorkLease) -> None:
        raise NotImplementedError

    def fail(self, lease: WorkLease, reason: str) -> None:
        raise NotImplementedError


class ProbeHandler(Handler):
    def pending(self, lease: WorkLease) -> bool:
        return Clip.objects.filter(pk=lease.object_id, status=Clip.Status.PROBING).exists()

    def redispatch(self, lease: WorkLease) -> None:
        leases.take(Kind.PROBE, lease.object_id, holder="probe (sweeper)")
        queue.send_after_commit(queue.PROBE_CLIP, lease.object_id)

    def fail(self, lease: WorkLease, reason: str) -> None:
        Clip.objects.filter(pk=lease.object_id).update(
            status=Clip.Status.FAILED, error=f"probe: {reason}"
        )


class SequenceHandler(Handler):
    """An image-sequence upload whose master encode stopped (services.uploads)."""

    def pending(self, lease: WorkLease) -> bool:
        return Clip.objects.filter(pk=lease.object_id, status=Clip.Status.INGESTING).exists()

    def redispatch(self, lease: WorkLease) -> None:
        leases.take(Kind.SEQUENCE, lease.object_id, holder="sequence (sweeper)")
        queue.send_after_commit(queue.ENCODE_SEQUENCE, lease.object_id)

    def fail(self, lease: WorkLease, reason: str) -> None:
        Clip.objects.filter(pk=lease.object_id, status=Clip.Status.INGESTING).update(
            status=Clip.Status.FAILED, error=f"image sequence: {reason}"
        )


class AnalysisHandler(Handler):
    def pending(self, lease: WorkLease) -> bool:
        return Clip.objects.filter(
            pk=lease.object_id, analysis_status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]
        ).exists()

    def redispatch(self, lease: WorkLease) -> None:
        leases.take(Kind.ANALYSIS, lease.object_id, holder="analyze (sweeper)")
        Clip.objects.filter(pk=lease.object_id).update(analysis_status=AnalysisStatus.QUEUED)
        queue.send_after_commit(queue.ANALYZE_CLIP, lease.object_id)

    def fail(self, lease: WorkLease, reason: str) -> None:
        Clip.objects.filter(pk=lease.object_id).update(
            analysis_status=AnalysisStatus.FAILED, analysis={"error": reason}
        )


class VariantHandler(Handler):
    def job(self, lease: WorkLease) -> RenderJob | None:
        return (
            RenderJob.objects.select_related("variant", "variant__clip")
            .filter(pk=lease.object_id)
            .first()
        )

    def pending(self, lease: WorkLease) -> bool:
        job = self.job(lease)
        return job is not None and job.status not in TERMINAL and not job.cancel_requested

    def control(self, lease: WorkLease) -> str:
        return control_name(self.job(lease))

    def alive(self, lease: WorkLease) -> bool:
        return heartbeat_is_fresh(self.control(lease), lease)

    def redispatch(self, lease: WorkLease) -> None:
        redispatch_variant(self.job(lease))

    def fail(self, lease: WorkLease, reason: str) -> None:
        from restoration.models import Variant

        now = timezone.now()
        job = self.job(lease)
        RenderJob.objects.filter(pk=job.pk).update(
            status=RenderJob.Status.FAILED, error=reason, finished_at=now, fps=0.0, eta_seconds=None
        )
        if job.variant_id:
            Variant.objects.filter(pk=job.variant_id).update(
                status=Variant.Status.FAILED, error=reason, finished_at=now
            )
        job.refresh_from_db()
        transaction.on_commit(lambda: publish_job(job))


class SegmentHandler(Handler):
    def segment(self, lease: WorkLease) -> RenderSegment | None:
        return (
            RenderSegment.objects.select_related("job", "clip").filter(pk=lease.object_id).first()
        )

    def pending(self, lease: WorkLease) -> bool:
        segment = self.segment(lease)
        return (
            segment is not None
            and segment.status not in TERMINAL
            and segment.job.status not in TERMINAL
            and not segment.job.cancel_requested
        )

    def control(self, lease: WorkLease) -> str:
        segment = self.segment(lease)
        return control_name(segment.job, segment)

    def alive(self, lease: WorkLease) -> bool:
        return heartbeat_is_fresh(self.control(lease), lease)

    def redispatch(self, lease: WorkLease) -> None:
        redispatch_segment(self.segment(lease))

    def fail(self, lease: WorkLease, reason: str) -> None:
        segment = self.segment(lease)
        RenderSegment.objects.filter(pk=segment.pk).update(
            status=RenderJob.Status.FAILED, error=reason, fps=0.0
        )
        RenderJob.objects.filter(pk=segment.job_id).exclude(status__in=TERMINAL).update(
            status=RenderJob.Status.FAILED,
            finished_at=timezone.now(),
            fps=0.0,
            error=(
                f"segment {segment.index} ({segment.clip}, frames {segment.start_frame}–"
                f"{segment.end_frame - 1}) failed: {reason}"
            ),
        )
        job = RenderJob.objects.get(pk=segment.job_id)
        transaction.on_commit(lambda: publish_job(job))


class AssemblyHandler(Handler):
    def pending(self, lease: WorkLease) -> bool:
        job = RenderJob.objects.filter(pk=lease.object_id).first()
        return job is not None and job.status not in TERMINAL and not job.cancel_requested

    def redispatch(self, lease: WorkLease) -> None:
        queue_assembly(RenderJob.objects.get(pk=lease.object_id), fresh=False)

    def fail(self, lease: WorkLease, reason: str) -> None:
        job = RenderJob.objects.get(pk=lease.object_id)
        result = {k: v for k, v in job.result.items() if k != "assembling"}
        RenderJob.objects.filter(pk=job.pk).update(
            status=RenderJob.Status.FAILED,
            result=result,
            error=f"assembly: {reason}",
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        transaction.on_commit(lambda: publish_job(job))


def notice_started_renders() -> int:
    """Renders still on their long "queued" lease whose GPU worker has written a
    heartbeat under their token have started: from then on they hold the short lease,
    counted from that heartbeat. So a render killed before its first progress report
    was recorded (the bookkeeping queue may lag) is found within WORK_LEASE_SECONDS,
    not WORK_QUEUED_LEASE_SECONDS. Returns the leases changed."""
    changed = 0
    queued = WorkLease.objects.filter(
        kind__in=[Kind.VARIANT, Kind.SEGMENT], started_at__isnull=True, expires_at__isnull=False
    )
    for lease in queued:
        handler = HANDLERS[lease.kind]
        try:
            control = handler.control(lease)
        except (RenderJob.DoesNotExist, RenderSegment.DoesNotExist, AttributeError):
            continue
        written = heartbeat_time(control, lease)
        if written is None:
            continue
        changed += WorkLease.objects.filter(
            pk=lease.pk, token=lease.token, started_at__isnull=True
        ).update(
            started_at=written, expires_at=written + timedelta(seconds=settings.WORK_LEASE_SECONDS)
        )
    return changed


def heartbeat_time(control: str, lease: WorkLease) -> datetime | None:
    """When the GPU worker rendering under this lease last wrote its `heartbeat`
    marker (gpu_worker.worker.tasks.Heartbeat); None when it has not, or it is
    another attempt's."""
    name = control + "heartbeat"
    try:
        if not default_storage.exists(name):
            return None
        with default_storage.open(name) as handle:
            token = handle.read().decode(errors="replace").split(" ", 1)[0]
        written = default_storage.get_modified_time(name)
    except (OSError, NotImplementedError, ValueError):
        return None
    return written if token == lease.token else None


def heartbeat_is_fresh(control: str, lease: WorkLease) -> bool:
    """Whether the GPU worker rendering under this lease wrote its `heartbeat` marker
    (gpu_worker.worker.tasks.Heartbeat) within the last WORK_LEASE_SECONDS."""
    written = heartbeat_time(control, lease)
    return (
        written is not None
        and (timezone.now() - written).total_seconds() < settings.WORK_LEASE_SECONDS
    )


HANDLERS: dict[str, Handler] = {
    Kind.PROBE: ProbeHandler(),
    Kind.SEQUENCE: SequenceHandler(),
    Kind.ANALYSIS: AnalysisHandler(),
    Kind.VARIANT: VariantHandler(),
    Kind.SEGMENT: SegmentHandler(),
    Kind.ASSEMBLY: AssemblyHandler(),
}


# --- upload staging ---------------------------------------------------------------------


def remove_expired_staging(now: datetime | None = None) -> int:
    """Remove staging files of uploads untouched for UPLOAD_STAGING_TTL_SECONDS (the
    session is marked rejected, saying why), and stray staging files no session owns
    (a single-request upload whose web process was killed). Returns files removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.UPLOAD_STAGING_TTL_SECONDS)
    removed = 0
    stale = UploadSession.objects.filter(
        status=UploadSession.Status.RECEIVING, updated_at__lt=cutoff
    )
    # (a session handed back below has its updated_at refreshed, so it is not expired here)
    for session in stale:
        if session.staging_path.exists():
            session.staging_path.unlink(missing_ok=True)
            removed += 1
        UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.RECEIVING).update(
            status=UploadSession.Status.REJECTED,
            error=f"expired: no bytes arrived for {settings.UPLOAD_STAGING_TTL_SECONDS}s",
        )
    # A "complete" whose process was killed mid-copy: the bytes are still staged, so
    # the session is handed back and the client's next "complete" finishes it.
    UploadSession.objects.filter(
        status=UploadSession.Status.INGESTING,
        updated_at__lt=now - timedelta(seconds=settings.UPLOAD_INGEST_TIMEOUT_SECONDS),
    ).update(status=UploadSession.Status.RECEIVING, updated_at=now)
    folder = settings.UPLOAD_STAGING_DIR
    if folder.is_dir():
        receiving = {
            s.hex
            for s in UploadSession.objects.filter(
                status__in=[UploadSession.Status.RECEIVING, UploadSession.Status.INGESTING]
            ).values_list("id", flat=True)
        }
        for path in folder.iterdir():
            if not path.is_file() or path.name.split(".", 1)[0] in receiving:
                continue
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
            except OSError:
                continue
            if modified < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
