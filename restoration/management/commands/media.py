"""Media housekeeping: report the files under MEDIA that no row refers to.

    python manage.py media                    # dry run: list orphaned files and their size
    python manage.py media --delete           # … and remove them
    python manage.py media --min-age 86400    # only files older than a day (default 1 h)

See restoration.services.media for what counts as referenced.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from restoration.services import media


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


class Command(BaseCommand):
    help = "List (and with --delete remove) media files no row refers to."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--delete", action="store_true", help="remove the orphaned files")
        parser.add_argument(
            "--min-age",
            type=float,
            default=3600.0,
            help="seconds: younger files may belong to work in flight (default 3600)",
        )

    def handle(self, *args, delete: bool, min_age: float, **options) -> None:
        orphans = media.orphaned_files(min_age=min_age)
        for orphan in orphans:
            self.stdout.write(
                f"{orphan.name}\t{human(orphan.size)}\t{orphan.age_seconds / 3600:.1f} h old"
            )
        total = sum(o.size for o in orphans)
        if delete:
            freed = media.remove(orphans)
            self.stdout.write(f"removed {len(orphans)} orphaned files, {human(freed)} freed")
        else:
            self.stdout.write(
                f"{len(orphans)} orphaned files, {human(total)} "
                "(dry run: nothing removed; --delete removes them)"
            )
