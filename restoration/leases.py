"""Leases on units of work, kept in the database (restoration.models.WorkLease).

    lease = take(Kind.VARIANT, job.pk, holder=task_id)     # when dispatching
    renew(Kind.VARIANT, job.pk, token)                     # with each progress report
    release(Kind.VARIANT, job.pk, token)                   # with the result

Every dispatch takes a fresh token and counts an attempt; the token travels with the
job, so a progress report or a result from an older dispatch (a worker thought dead,
a message the broker redelivered) is recognised and ignored. A lease that is not
renewed in time expires, and restoration.sweeper sends the unit again, whatever the
broker did with the message: nothing depends on the broker's redelivery.

A unit dispatched but not started yet holds its lease for WORK_QUEUED_LEASE_SECONDS
(other renders may be ahead of it in the queue); from the first sign of life on,
for WORK_LEASE_SECONDS after each renewal. `held` renews a lease from a thread while
a long step with no progress of its own (a clip's probe or analysis, an assembly)
runs in this process.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from restoration.models import WorkLease

log = logging.getLogger(__name__)

Kind = WorkLease.Kind


def lease_seconds() -> int:
    return int(settings.WORK_LEASE_SECONDS)


def _expiry(*, started: bool, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    seconds = settings.WORK_LEASE_SECONDS if started else settings.WORK_QUEUED_LEASE_SECONDS
    return now + timedelta(seconds=int(seconds))


def take(
    kind: str,
    object_id: int,
    *,
    holder: str = "",
    max_attempts: int | None = None,
    fresh: bool = False,
    started: bool = False,
) -> WorkLease:
    """Take the lease of a unit being dispatched: a new token, one more attempt.

    `fresh`: the attempts start again from 1 (a render the technician asked for
    again, a resumed film); otherwise the count goes on from the last dispatch.
    """
    limit = max_attempts or settings.WORK_MAX_ATTEMPTS
    now = timezone.now()
    with transaction.atomic():
        lease, created = WorkLease.objects.select_for_update().get_or_create(
            kind=kind,
            object_id=object_id,
            defaults={
                "token": uuid.uuid4().hex,
                "holder": holder[:200],
                "attempt": 1,
                "max_attempts": limit,
                "expires_at": _expiry(started=started, now=now),
                "started_at": now if started else None,
            },
        )
        if not created:
            lease.token = uuid.uuid4().hex
            lease.holder = holder[:200]
            lease.attempt = 1 if fresh else lease.attempt + 1
            lease.max_attempts = limit
            lease.expires_at = _expiry(started=started, now=now)
            lease.started_at = now if started else None
            if fresh:
                lease.last_error = ""
            lease.save()
    return lease


def get(kind: str, object_id: int) -> WorkLease | None:
    return WorkLease.objects.filter(kind=kind, object_id=object_id).first()


def is_current(kind: str, object_id: int, token: str | None) -> bool:
    """Whether a message carrying `token` comes from the unit's latest dispatch.

    A message without a token (a worker of an older release) is taken as current; a
    unit with no lease at all has nothing to compare with and is taken as current too.
    """
    if not token:
        return True
    lease = get(kind, object_id)
    return lease is None or lease.token == token


def renew(kind: str, object_id: int, token: str | None = None) -> bool:
    """A sign of life: the lease runs WORK_LEASE_SECONDS from now. False when `token`
    is not the current one (the message is stale) or the lease was released."""
    now = timezone.now()
    rows = WorkLease.objects.filter(kind=kind, object_id=object_id, expires_at__isnull=False)
    if token:
        rows = rows.filter(token=token)
    updated = rows.update(expires_at=_expiry(started=True, now=now), updated_at=now)
    if updated:
        rows.filter(started_at__isnull=True).update(started_at=now)
    return bool(updated)


def release(kind: str, object_id: int, token: str | None = None, *, error: str = "") -> bool:
    """The unit ended (done, failed or cancelled): nobody holds it any more."""
    rows = WorkLease.objects.filter(kind=kind, object_id=object_id)
    if token:
        rows = rows.filter(token=token)
    fields: dict = {"expires_at": None, "updated_at": timezone.now()}
    if error:
        fields["last_error"] = error[:2000]
    return bool(rows.update(**fields))


def release_all(kind: str, object_ids: list[int]) -> int:
    return WorkLease.objects.filter(kind=kind, object_id__in=object_ids).update(
        expires_at=None, updated_at=timezone.now()
    )


def expired(now: datetime | None = None) -> list[WorkLease]:
    """Leases held past their expiry, oldest first."""
    return list(
        WorkLease.objects.filter(expires_at__lt=now or timezone.now()).order_by("expires_at")
    )


@contextmanager
def held(kind: str, object_id: int, token: str | None = None) -> Iterator[None]:
    """Hold a unit's lease while a long step runs here: renewed now and then every
    third of the lease from a thread, released at the end (even on an error). A
    process killed meanwhile stops renewing, and the sweeper takes over."""
    if token is None:
        lease = get(kind, object_id)
        token = lease.token if lease is not None else None
    if token is None:  # dispatched before leases existed, or by hand: take one now
        token = take(kind, object_id, holder="in-process", started=True).token
    renew(kind, object_id, token)
    stop = threading.Event()
    in_atomic = connection.in_atomic_block  # a test's transaction: the thread would not see it

    def keep_alive() -> None:
        try:
            while not stop.wait(max(1.0, lease_seconds() / 3)):
                try:
                    renew(kind, object_id, token)
                except Exception:  # a database hiccup: try again at the next tick
                    log.warning(
                        "could not renew the %s lease of %s", kind, object_id, exc_info=True
                    )
        finally:
            close_old_connections()
            connection.close()

    thread = (
        None
        if in_atomic
        else threading.Thread(target=keep_alive, daemon=True, name=f"lease-{kind}-{object_id}")
    )
    if thread is not None:
        thread.start()
    try:
        yield
    except BaseException as exc:
        # Not released: the lease expires at once and the sweeper sends the unit
        # again (or, past its attempts, fails it with this error).
        stop.set()
        WorkLease.objects.filter(
            kind=kind, object_id=object_id, token=token, expires_at__isnull=False
        ).update(expires_at=timezone.now(), last_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    else:
        release(kind, object_id, token)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
