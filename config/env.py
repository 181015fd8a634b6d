"""Reading and validating settings from the environment.

Every setting comes from an environment variable (12-factor). Values are checked when
the settings module loads, so a typo fails at start-up with a message naming the
variable instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _raw(name: str, environ_map: dict[str, str] | None = None) -> str | None:
    source = os.environ if environ_map is None else environ_map
    return source.get(name)


def read_bool(name: str, default: bool, environ_map: dict[str, str] | None = None) -> bool:
    raw = _raw(name, environ_map)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off")


def read_int(name: str, default: int, *, minimum: int | None = None,
             environ_map: dict[str, str] | None = None) -> int:
    raw = _raw(name, environ_map)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small: it must be at least {minimum}")
    return value


def read_size(name: str, default: int, environ_map: dict[str, str] | None = None) -> int:
    """A byte size such as 20G, 512M, 1048576."""
    raw = _raw(name, environ_map)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().upper().removesuffix("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a size (examples: 20G, 512M, 1048576)") from None
    if value <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a positive size")
    return value


def read_list(name: str, default: list[str], environ_map: dict[str, str] | None = None) -> list[str]:
    raw = _raw(name, environ_map)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def read_database(name: str, default: str, environ_map: dict[str, str] | None = None) -> dict:
    raw = _raw(name, environ_map) or default
    scheme = urlparse(raw).scheme
    supported = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
    if scheme not in supported:
        raise ImproperlyConfigured(
            f"{name}={raw!r}: unsupported database scheme {scheme!r}; "
            "use sqlite:////absolute/path.sqlite3 or postgres://user:password@host:5432/name")
    try:
        config = environ.Env.db_url_config(raw)
    except Exception as exc:  # environ raises several types for malformed URLs
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid database URL: {exc}") from None
    if scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name}={raw!r} names no database (…/DATABASE_NAME at the end)")
    return config


def use_connection_pool(database: dict, size: int) -> dict:
    """Serve ``database`` through a psycopg connection pool of at most ``size`` connections.

    Under ASGI every synchronous request runs in a thread of its own with a connection
    of its own, so a crowd arriving at once (a QR code shown at a screening) can exceed
    PostgreSQL's ``max_connections``; a pool bounds the connections per web process.
    Django requires ``CONN_MAX_AGE = 0`` with a pool. ``size`` 0 leaves ``database`` as is.
    """
    if size <= 0:
        return database
    if not database["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured(
            f"DB_POOL_SIZE={size}: a connection pool needs PostgreSQL (DATABASE_URL=postgres://…)")
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {"min_size": min(4, size), "max_size": size,
                                                  "timeout": 30}
    return database


def read_redis_url(name: str, environ_map: dict[str, str] | None = None) -> str | None:
    raw = _raw(name, environ_map)
    if raw is None or raw.strip() == "":
        return None
    parsed = urlparse(raw.strip())
    if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a Redis URL: expected redis://host:6379/0 or rediss://…")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} has an invalid port") from None
    return raw.strip()


CHANNEL_LAYER_SOCKET_TIMEOUT = 30.0
"""Seconds a channel-layer connection waits for Redis to answer. A websocket's channel
is read with BZPOPMIN blocking for 5 s on the server (channels-redis's brpop_timeout);
redis-py 8 gives every connection a 5 s socket timeout by default, so a channel quiet
for 5 s raised TimeoutError in its consumer, and the websocket got nothing more."""


def channel_layer_hosts(redis_url: str) -> list[dict]:
    """The RedisChannelLayer `hosts` for a Redis URL: a read timeout well above the
    layer's blocking pop, so a quiet channel is waited on, not an error. A
    `?socket_timeout=` in the URL still wins."""
    return [{"address": redis_url, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}]


@dataclass(frozen=True)
class StorageChoice:
    backend: str  # "local" or "s3"
    options: dict


def read_storage(base_dir: Path, environ_map: dict[str, str] | None = None) -> StorageChoice:
    backend = (_raw("STORAGE_BACKEND", environ_map) or "local").strip().lower()
    if backend == "local":
        root = _raw("MEDIA_ROOT", environ_map) or str(base_dir / "var" / "media")
        return StorageChoice("local", {"location": root})
    if backend == "s3":
        bucket = _raw("S3_BUCKET", environ_map)
        if not bucket:
            raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET")
        options = {
            "bucket_name": bucket,
            "endpoint_url": _raw("S3_ENDPOINT_URL", environ_map) or None,
            "access_key": _raw("S3_ACCESS_KEY_ID", environ_map) or None,
            "secret_key": _raw("S3_SECRET_ACCESS_KEY", environ_map) or None,
            "region_name": _raw("S3_REGION", environ_map) or None,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": read_bool("S3_SIGNED_URLS", True, environ_map),
            # Signature V4 (V2 is deprecated and refused by newer regions): presigned URLs
            # carry their lifetime (X-Amz-Expires), which the blind voting media keep short.
            "signature_version": "s3v4",
        }
        return StorageChoice("s3", {k: v for k, v in options.items() if v is not None})
    raise ImproperlyConfigured(f"STORAGE_BACKEND={backend!r}: use 'local' or 's3'")


SECRET_KEY_FILE = "secret_key"


def installation_secret(var_dir: Path) -> str:
    """This installation's own secret key, generated into the state folder on first start.

    A key shipped in the source is known to everyone: with it anyone forges signed
    cookies, proof-of-work challenges and media URLs. Several processes (web and workers)
    start at once, so the file is written under a temporary name and linked into place
    (``os.link`` fails if it already exists): every process reads the same complete key.
    """
    path = var_dir / SECRET_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        temporary = var_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            temporary.unlink()
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise ImproperlyConfigured(f"{path} is empty: delete it to generate a new secret key, or set SECRET_KEY")
