"""URL converters shared by the apps' URL patterns."""

from __future__ import annotations


class UnicodeSlugConverter:
    """A slug in any script (what ``slugify(allow_unicode=True)`` makes): letters and
    digits of every language, ``_`` and ``-``. Django's own ``slug`` converter accepts
    ASCII only, so 《武状元苏乞儿》 (slug ``武状元苏乞儿``) would not resolve."""

    regex = r"[-\w]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
