"""Voting settings: read from Django settings when set there, else from the environment.

Every knob has a safe default for a public screening (phones behind one venue NAT share
an IP, so the per-IP limit is far above the per-session one). The load benchmark and
tests override them through the environment or ``settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings


def _value(name: str, default: float) -> float:
    if hasattr(settings, name):
        return float(getattr(settings, name))
    raw = os.environ.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        return float(raw)
    except ValueError:  # fail loudly: a typo in a limit must not silently disable it
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_seconds: int


def pow_bits() -> int:
    """Leading zero bits of SHA-256 the once-per-session proof of work needs.

    16 bits is ~65k hashes on average: well under a second in a phone's browser, but
    it makes minting thousands of fresh identities cost real CPU time.
    """
    return int(_value("VOTING_POW_BITS", 16))


def ballot_limit_per_rater() -> RateLimit:
    return RateLimit(int(_value("VOTING_BALLOTS_PER_RATER", 40)),
                     int(_value("VOTING_BALLOTS_PER_RATER_WINDOW", 600)))


def ballot_limit_per_ip() -> RateLimit:
    return RateLimit(int(_value("VOTING_BALLOTS_PER_IP", 1200)),
                     int(_value("VOTING_BALLOTS_PER_IP_WINDOW", 600)))


def heartbeat_limit_per_rater() -> RateLimit:
    # Heartbeats come once a second; twice that leaves room for a second tab.
    return RateLimit(int(_value("VOTING_HEARTBEATS_PER_RATER", 1200)),
                     int(_value("VOTING_HEARTBEATS_PER_RATER_WINDOW", 600)))


def heartbeat_max_credit() -> float:
    """Most watch time one heartbeat can add: the client beats every second, so a gap
    longer than this means the tab slept, and that time is not credited."""
    return _value("VOTING_HEARTBEAT_MAX_CREDIT", 2.5)


def ratings_bootstrap() -> int:
    return int(_value("VOTING_BOOTSTRAP", 200))


def pairing_expiry_seconds() -> int:
    """An unanswered pairing is served again on reload (no re-rolling for a nicer pair)
    until it is this old."""
    return int(_value("VOTING_PAIRING_EXPIRY", 1800))


def ratings_cooldown() -> float:
    """Least time between two recomputes of one contest's ratings. Under a flood of
    ballots this caps the CPU spent on bootstraps; a trailing recompute picks up what
    arrived in between. 0 recomputes after every ballot."""
    return _value("VOTING_RATINGS_COOLDOWN", 1.0)


def media_url_max_age() -> int:
    """How long a blind media URL handed to a fan stays valid. Asking for the pair again
    (``api/next``) hands out fresh URLs, so this only bounds how long a leaked URL works."""
    return int(_value("VOTING_MEDIA_URL_MAX_AGE", 3600))


def blind_url_seconds() -> int:
    """How long a presigned S3 URL of a blind copy stays valid (voting.blind): the media
    view hands out a fresh one each time the player asks, so it only has to outlast one
    load of a short excerpt, and it bounds how long a leaked URL works."""
    return int(_value("VOTING_BLIND_URL_SECONDS", 900))


def max_body_bytes() -> int:
    """Largest request body the voting API reads (its real bodies are under 200 bytes)."""
    return int(_value("VOTING_MAX_BODY_BYTES", 2048))
