"""Leases on units of work: taken with a fresh token per dispatch, renewed by signs
of life, released by the result; messages of an older dispatch are recognised."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from restoration import leases
from restoration.models import WorkLease

pytestmark = pytest.mark.django_db
Kind = WorkLease.Kind


def test_each_dispatch_takes_a_new_token_and_counts_an_attempt(settings):
    settings.WORK_QUEUED_LEASE_SECONDS = 3600
    first = leases.take(Kind.VARIANT, 7, holder="render-7-a")
    assert first.attempt == 1 and first.started_at is None
    assert first.expires_at > timezone.now() + timedelta(seconds=3500)  # queued: the long lease
    second = leases.take(Kind.VARIANT, 7, holder="render-7-b")
    assert second.pk == first.pk and second.attempt == 2 and second.token != first.token
    assert not leases.is_current(Kind.VARIANT, 7, first.token)
    assert leases.is_current(Kind.VARIANT, 7, second.token)
    assert leases.is_current(Kind.VARIANT, 7, None)  # a worker that sends no token
    again = leases.take(Kind.VARIANT, 7, fresh=True)  # asked for again by a person
    assert again.attempt == 1


def test_renewal_starts_the_short_lease_and_a_stale_token_renews_nothing(settings):
    settings.WORK_LEASE_SECONDS = 30
    lease = leases.take(Kind.SEGMENT, 3)
    assert leases.renew(Kind.SEGMENT, 3, lease.token)
    lease.refresh_from_db()
    assert lease.started_at is not None
    assert lease.expires_at < timezone.now() + timedelta(seconds=31)
    assert not leases.renew(Kind.SEGMENT, 3, "an-older-token")
    assert leases.release(Kind.SEGMENT, 3, lease.token)
    lease.refresh_from_db()
    assert lease.expires_at is None
    assert not leases.renew(Kind.SEGMENT, 3, lease.token)  # released stays released


def test_expired_lists_only_leases_past_their_expiry():
    past = leases.take(Kind.PROBE, 1)
    WorkLease.objects.filter(pk=past.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    leases.take(Kind.PROBE, 2)
    released = leases.take(Kind.PROBE, 3)
    leases.release(Kind.PROBE, 3, released.token)
    assert [lease.object_id for lease in leases.expired()] == [1]


def test_held_releases_on_success_and_expires_at_once_on_an_error():
    lease = leases.take(Kind.ASSEMBLY, 5)
    with leases.held(Kind.ASSEMBLY, 5):
        assert leases.get(Kind.ASSEMBLY, 5).started_at is not None
    assert leases.get(Kind.ASSEMBLY, 5).expires_at is None
    leases.take(Kind.ASSEMBLY, 5)
    with pytest.raises(RuntimeError), leases.held(Kind.ASSEMBLY, 5):
        raise RuntimeError("ffmpeg crashed")
    lease = leases.get(Kind.ASSEMBLY, 5)
    assert lease.expires_at <= timezone.now() and "ffmpeg crashed" in lease.last_error
    assert [e.object_id for e in leases.expired()] == [5]  # the sweeper's to handle


def test_held_takes_a_lease_for_a_unit_dispatched_without_one():
    with leases.held(Kind.PROBE, 9):
        assert leases.get(Kind.PROBE, 9).expires_at is not None
    assert leases.get(Kind.PROBE, 9).expires_at is None


@pytest.mark.django_db(transaction=True)
def test_held_renews_from_a_thread_while_a_long_step_runs(settings):
    import time

    settings.WORK_LEASE_SECONDS = 3  # renewed every second
    leases.take(Kind.ANALYSIS, 11)
    with leases.held(Kind.ANALYSIS, 11):
        first = leases.get(Kind.ANALYSIS, 11).expires_at
        time.sleep(2.5)
        later = leases.get(Kind.ANALYSIS, 11).expires_at
    assert later > first + timedelta(seconds=1)
    assert leases.get(Kind.ANALYSIS, 11).expires_at is None
