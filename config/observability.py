"""Logging and error reporting, configured from the environment by the settings.

Plain text logs by default; `LOG_FORMAT=json` writes one JSON object per line
(python-json-logger) for log collectors. Sentry (sentry-sdk) is switched on only when
`SENTRY_DSN` is set.
"""

from __future__ import annotations

from typing import Any


def logging_config(fmt: str = "plain", level: str = "INFO") -> dict[str, Any]:
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def init_sentry(dsn: str, *, environment: str = "production", traces_sample_rate: float = 0.0,
                **options: Any) -> bool:
    """Start Sentry when a DSN is given (Django and Celery integrations); False otherwise.
    Personal data is not sent (sentry-sdk's default, left as it is): fans vote
    anonymously and should stay so."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=dsn, environment=environment, traces_sample_rate=traces_sample_rate,
                    integrations=[DjangoIntegration(), CeleryIntegration()], **options)
    return True
