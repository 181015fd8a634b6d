"""Recover units of work whose lease expired (restoration.sweeper).

    python manage.py sweep            # every SWEEP_INTERVAL_SECONDS until stopped
    python manage.py sweep --once     # one sweep, then exit (cron, a test, by hand)

Production runs the same sweep from Celery beat, and the embedded default from its
supervisor; this command is for a site that runs neither, and for operators.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from restoration import sweeper


class Command(BaseCommand):
    help = "Send again (or fail, past their attempts) the units of work whose lease expired."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="sweep once and exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between sweeps (default: SWEEP_INTERVAL_SECONDS)",
        )

    def handle(self, *args, once: bool, interval: float | None, **options) -> None:
        interval = interval or settings.SWEEP_INTERVAL_SECONDS
        while True:
            report = sweeper.sweep()
            self.stdout.write(f"sweep: {report.summary()}")
            for label in report.redispatched:
                self.stdout.write(f"  sent again: {label}")
            for label in report.failed:
                self.stdout.write(f"  failed: {label}")
            if once:
                return
            time.sleep(interval)
