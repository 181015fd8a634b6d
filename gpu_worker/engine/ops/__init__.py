"""Built-in operators. Every module in this package is imported, and each module
registers its operators with `@register`; adding an operator is adding a module."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
