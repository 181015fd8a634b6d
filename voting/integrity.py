"""Integrity helpers: rate limits, proof of work, and hashing of request context.

Plain functions with no request objects, so the services and the tests can call them
directly.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from voting.conf import RateLimit


class VotingError(Exception):
    """A request the voting services refuse; ``status`` is the HTTP status views use."""

    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContestClosed(VotingError):
    status, code = 410, "contest_closed"


class ProofOfWorkRequired(VotingError):
    status, code = 403, "proof_of_work_required"


class WatchTimeTooShort(VotingError):
    status, code = 409, "watch_time_too_short"


class DuplicateBallot(VotingError):
    status, code = 409, "duplicate_ballot"


class RateLimited(VotingError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(VotingError):
    status, code = 404, "not_found"


# --------------------------------------------------------------------------- rate limits


def hit(scope: str, key: str, rule: RateLimit, *, now: float | None = None) -> tuple[int, int]:
    """Count one event in the current fixed window; return (count, seconds left).

    ``cache.add`` creates the counter only if it is missing and ``cache.incr`` is atomic
    in Redis (INCR) and under LocMem's lock, so concurrent requests on many processes
    never lose a count. The window index is part of the key, so counters expire on
    their own and no read-modify-write is ever needed.
    """
    now = time.time() if now is None else now
    window = int(now // rule.window_seconds)
    cache_key = f"voting:rl:{scope}:{key}:{window}"
    cache.add(cache_key, 0, timeout=rule.window_seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.add(cache_key, 0, timeout=rule.window_seconds + 5)
        count = cache.incr(cache_key)
    left = int(rule.window_seconds - (now - window * rule.window_seconds)) + 1
    return count, left


def check_rate(scope: str, key: str, rule: RateLimit, what: str, *, now: float | None = None) -> None:
    count, left = hit(scope, key, rule, now=now)
    if count > rule.limit:
        every = (ngettext("%(n)d minute", "%(n)d minutes", rule.window_seconds // 60)
                 % {"n": rule.window_seconds // 60} if rule.window_seconds >= 60 else
                 ngettext("%(n)d second", "%(n)d seconds", rule.window_seconds) % {"n": rule.window_seconds})
        raise RateLimited(_("Too many %(what)s: at most %(limit)d every %(every)s. Try again in %(left)d s.")
                          % {"what": what, "limit": rule.limit, "every": every, "left": left}, retry_after=left)


# --------------------------------------------------------------------------- request context


def network_of(ip: str) -> str:
    """The network an address belongs to for clustering: its /24 (IPv4) or /48 (IPv6).
    One household, office or attacker's server usually shares one of these."""
    address = _parse_ip(ip)
    if address is None:
        return ip.strip()
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()]


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # "[v6]:port"
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "v4:port"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(remote_addr: str, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """The client's address: ``REMOTE_ADDR``, unless the request came from a trusted proxy.

    Behind trusted proxies the X-Forwarded-For list is read from the right (each proxy
    appends the address it saw) past every trusted hop; the first untrusted address is
    the client. Anything to its left was written by the client and is ignored, as is the
    whole header when the direct peer is not a trusted proxy (a script can send any
    header it likes). A malformed entry ends the walk at the last good address.
    """
    trusted = _networks(trusted_proxies)
    peer = _parse_ip(remote_addr or "")
    if peer is None:
        return (remote_addr or "").strip()
    if not trusted or not any(peer in net for net in trusted if net.version == peer.version):
        return str(peer)
    client = peer
    for hop in reversed([h for h in (forwarded_for or "").split(",") if h.strip()]):
        address = _parse_ip(hop)
        if address is None:
            break
        client = address
        if not any(address in net for net in trusted if net.version == address.version):
            break
    return str(client)


def context_hash(value: str) -> str:
    """Keyed hash of an IP address or user agent: stable enough to spot many ballots from
    one address in an audit, but the address itself is never stored."""
    key = hashlib.sha256(("voting-context:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


# --------------------------------------------------------------------------- proof of work

POW_SALT = "voting.pow"
POW_MAX_AGE = 3600


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def issue_challenge(rater_token: str, bits: int) -> str:
    """A signed, time-stamped challenge bound to one rater: stateless on the server, and
    useless to anyone else (a solution proves work for this rater only)."""
    return signing.dumps({"r": rater_token, "b": bits, "n": secrets.token_hex(8)}, salt=POW_SALT,
                         compress=False)


def verify_solution(challenge: str, nonce: str, rater_token: str) -> int:
    """Check a solution; return the difficulty it proves. Raises ProofOfWorkRequired."""
    try:
        data = signing.loads(challenge, salt=POW_SALT, max_age=POW_MAX_AGE)
    except signing.SignatureExpired:
        raise ProofOfWorkRequired(_("The challenge expired; a new one is on its way.")) from None
    except signing.BadSignature:
        raise ProofOfWorkRequired(_("The challenge is not one this server issued.")) from None
    if data.get("r") != rater_token:
        raise ProofOfWorkRequired(_("The challenge belongs to another session."))
    if len(nonce) > 64:
        raise ProofOfWorkRequired(_("The solution is malformed."))
    bits = int(data.get("b", 0))
    if leading_zero_bits(pow_digest(challenge, nonce)) < bits:
        raise ProofOfWorkRequired(_("The solution does not meet the difficulty."))
    return bits


def solve(challenge: str, bits: int, limit: int = 1 << 28) -> str:
    """Reference solver (the browser runs the same loop with crypto.subtle); used by the
    load benchmark and tests."""
    for nonce in range(limit):
        if leading_zero_bits(pow_digest(challenge, str(nonce))) >= bits:
            return str(nonce)
    raise RuntimeError("no solution found")
