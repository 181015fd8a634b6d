"""Health endpoints for load balancers and orchestrators.

/healthz says the process answers (no dependency is touched, so a slow database never
gets a healthy web process restarted); /readyz says it can do its work: the database,
the Celery broker and the media storage each answer, else 503 naming what failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)
BROKER_TIMEOUT = 2.0  # seconds: a readiness probe must answer before the prober gives up


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)


def check_storage() -> None:
    default_storage.exists("healthz-probe")  # any answer, True or False, means it is reachable


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database, "broker": check_broker, "storage": check_storage}


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # a probe reports any failure; it never raises
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        else:
            results[name] = "ok"
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
