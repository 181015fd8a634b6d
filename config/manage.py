"""`reel-arena …`: Django's management commands for an installed site (no checkout needed).

`pip install .` installs this as the `reel-arena` command, so `reel-arena migrate` and
`reel-arena run_embedded` do what `manage.py` does in a source checkout.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
