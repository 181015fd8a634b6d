"""Django's makemessages, also collecting the engine's help texts.

`gpu_worker` never imports Django, so it cannot call gettext; it wraps its long help
texts (operator and parameter descriptions, the shipped presets' titles and
descriptions) in `gpu_worker.engine.i18n.N_`, a marker that returns the text
unchanged. This command adds `N_` to xgettext's keywords, so the README's
makemessages command puts those strings in the site's catalogue, and
`restoration.engine_text` translates them when a page shows them.
"""

from __future__ import annotations

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_"]
