"""Fonts for the server-drawn plots (matplotlib): Latin text in DejaVu Sans as before, with
a CJK font as fallback so Chinese and Japanese clip or film titles draw as glyphs instead
of empty boxes.

scripts/install installs Debian's ``fonts-noto-cjk``; other installations may have another
CJK family, tried in the order of CJK_FAMILIES. Without any, plots still draw (Chinese
text as boxes) and the site logs one warning saying what to install.
"""

from __future__ import annotations

import functools
import logging

logger = logging.getLogger(__name__)

LATIN_FAMILY = "DejaVu Sans"  # matplotlib's bundled default: always there
# Simplified first (the SC faces also cover most Traditional characters), then the
# Traditional and Hong Kong faces, then other common CJK families.
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK JP",
    "Source Han Sans SC", "Source Han Sans TC", "Source Han Sans HC",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
    "Microsoft YaHei", "Microsoft JhengHei", "PingFang SC", "PingFang HK", "SimHei",
)
# Words in the file names of CJK fonts, to find fonts installed after matplotlib built
# its font cache (the cache is not refreshed on its own).
_CJK_FILE_HINTS = ("cjk", "wqy", "wenquanyi", "droidsansfallback", "sourcehan", "msyh", "msjh", "pingfang", "simhei")


def _available(families: tuple[str, ...]) -> list[str]:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in families if name in installed]


@functools.cache
def cjk_font_families() -> list[str]:
    """The CJK font families matplotlib can use here, best first (computed once)."""
    found = _available(CJK_FAMILIES)
    if not found:
        from matplotlib import font_manager

        for path in font_manager.findSystemFonts():
            if any(hint in path.lower().replace("-", "").replace("_", "") for hint in _CJK_FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file
                    continue
        found = _available(CJK_FAMILIES)
    if not found:
        logger.warning("No CJK font found for plots: Chinese titles will draw as empty boxes. "
                       "Install one (Debian/Ubuntu: apt-get install fonts-noto-cjk).")
    return found


def plot_font_family() -> list[str]:
    """matplotlib's ``font.family``: the Latin face first, then the CJK fallbacks
    (matplotlib takes each glyph from the first family in the list that has it)."""
    return [LATIN_FAMILY, *cjk_font_families()]
