"""The one hook between the engine's English help texts and the site's translations.

The engine never imports Django. Its long help texts (each operator's and parameter's
description, the shipped presets' titles and descriptions) are wrapped in `N_`, which
returns the text unchanged; the site's `makemessages` (restoration's override) tells
xgettext that `N_` is a keyword, so these strings land in the site's catalogue, and
the site translates them with gettext when it shows them (restoration.engine_text).
"""

from __future__ import annotations

__all__ = ["N_"]


def N_(text: str) -> str:  # noqa: N802 - the usual name of a gettext no-op marker
    """Marks a string for the site's translation catalogue; returns it unchanged."""
    return text
