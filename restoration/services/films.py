"""Films: the one place a film row is made, for the API and scripts."""

from __future__ import annotations

from typing import Any

from restoration.models import Film


def create_film(*, title: str, user: Any = None, year: int | None = None, description: str = "") -> Film:
    title = (title or "").strip()
    if not title:
        raise ValueError("a film needs a title")
    return Film.objects.create(title=title[:200], year=year, description=description,
                               created_by=user if getattr(user, "pk", None) else None)
