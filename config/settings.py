"""Django settings for Reel Arena, all read from the environment.

With no environment at all this is the embedded default: SQLite under var/, media in
var/media, a filesystem Celery broker under var/broker and progress relayed from the
database. Set DATABASE_URL and REDIS_URL (and storage settings) for production.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    channel_layer_hosts,
    installation_secret,
    read_bool,
    read_database,
    read_int,
    read_list,
    read_redis_url,
    read_size,
    read_storage,
    use_connection_pool,
)
from config.observability import init_sentry, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
# A source checkout keeps its state beside manage.py; an installed wheel (BASE_DIR is
# then site-packages) keeps it under the directory the site is started from.
SITE_DIR = BASE_DIR if (BASE_DIR / "manage.py").exists() else Path.cwd()
VAR_DIR = Path(os.environ.get("REEL_ARENA_VAR_DIR", SITE_DIR / "var"))

# Off unless asked for: debug pages show settings and code to whoever triggers an error.
DEBUG = read_bool("DEBUG", False)
# SECRET_KEY from the environment, else this installation's own key in the state folder
# (generated on first start; never a key printed in the source).
SECRET_KEY = os.environ.get("SECRET_KEY", "") or installation_secret(VAR_DIR)
ALLOWED_HOSTS = read_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_prometheus",
    "ninja",  # the API docs page uses its bundled Swagger UI (static files, no CDN)
    # The project's apps, lowest layer first: each imports only those above it here.
    "accounts",
    "frontend",
    "restoration",
    "voting",
    "restoration.curation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # request counts and latencies
    "django.middleware.security.SecurityMiddleware",
    "frontend.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of each request (cookie or Accept-Language): after sessions, before
    # CommonMiddleware, where Django's documentation places it.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.auth.TokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.roles",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------
DATABASES = {"default": read_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'reel_arena.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has a web process and worker processes writing to one file:
    # WAL lets readers and one writer proceed together; the timeout waits out the
    # short write locks instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", read_int("DB_CONN_MAX_AGE", 60, minimum=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Checked for every backend so that asking SQLite for a pool fails at start-up.
use_connection_pool(DATABASES["default"], read_int("DB_POOL_SIZE", 0, minimum=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# API tokens expire after this many days (0: never); a token can be revoked at any time.
API_TOKEN_TTL_DAYS = read_int("API_TOKEN_TTL_DAYS", 90, minimum=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- languages, time zone -----------------------------------------------------------
# English, Simplified Chinese and Traditional Chinese (Hong Kong). LocaleMiddleware picks
# one from the language cookie (the switcher) or the browser's Accept-Language; Django's own
# fallbacks map zh-CN/zh-SG to zh-hans and zh-HK/zh-TW/zh-MO to zh-hant.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "简体中文"),
    ("zh-hant", "繁體中文（香港）"),
]
# The translations live in one catalogue inside the config package (so a wheel ships them).
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "") or "UTC"
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone (e.g. Asia/Hong_Kong)") from exc
USE_TZ = True

# --- static and media -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
STORAGE = read_storage(SITE_DIR)
if STORAGE.backend == "local":
    MEDIA_ROOT = STORAGE.options["location"]
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL}}
else:
    MEDIA_ROOT = str(VAR_DIR / "media")
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": STORAGE.options}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- uploads ------------------------------------------------------------------------
# Request bodies above this size stream to temporary files instead of memory; chunked
# uploads are appended to a staging folder on disk, so multi-GB files never sit in RAM.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024  # one upload chunk at most
UPLOAD_STAGING_DIR = Path(os.environ.get("UPLOAD_STAGING_DIR", VAR_DIR / "uploads"))
UPLOAD_STAGING_DIR.mkdir(parents=True, exist_ok=True)  # Django checks it exists
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_STAGING_DIR)
MAX_UPLOAD_SIZE = read_size("MAX_UPLOAD_SIZE", 20 * 1024**3)
UPLOAD_CHUNK_SIZE = read_size("UPLOAD_CHUNK_SIZE", 8 * 1024**2)
MAX_VIDEO_PIXELS = read_int("MAX_VIDEO_PIXELS", 8192 * 8192, minimum=64 * 64)
if UPLOAD_CHUNK_SIZE > DATA_UPLOAD_MAX_MEMORY_SIZE:
    raise ImproperlyConfigured(
        f"UPLOAD_CHUNK_SIZE={UPLOAD_CHUNK_SIZE} exceeds the largest accepted request body "
        f"({DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)")

# --- Redis, Celery, Channels ------------------------------------------------------------
REDIS_URL = read_redis_url("REDIS_URL")
CELERY_BROKER_DIR = VAR_DIR / "broker"
EMBEDDED = REDIS_URL is None

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": channel_layer_hosts(REDIS_URL), "prefix": "reel-arena:"},
        }
    }
    # The cache may live in another Redis database (REDIS_CACHE_URL), so clearing it
    # never touches the broker's queues.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": read_redis_url("REDIS_CACHE_URL") or REDIS_URL,
                          "KEY_PREFIX": "reel-arena"}}
else:
    # Embedded default: no server to install. Celery talks through a folder (kombu's
    # filesystem transport) that every local process can reach, and the channel layer
    # lives in the web process; workers publish live events into the database and the
    # web process relays them (frontend.live).
    CELERY_BROKER_URL = "filesystem://"
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # One web process in the embedded default, so its rate-limit counters can live in
    # its own memory.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": "reel-arena"}}
# True when a worker's group_send reaches the web process directly.
CHANNEL_LAYER_SHARED = REDIS_URL is not None

RENDER_SOFT_TIME_LIMIT = read_int("RENDER_SOFT_TIME_LIMIT", 6 * 3600, minimum=60)
RENDER_TIME_LIMIT = RENDER_SOFT_TIME_LIMIT + 300
# Two variants of a sweep whose ColorVideoVDP difference (10 - JOD of one against the
# other) is below this are flagged as hard to tell apart; 1 JOD = 75 % of observers
# prefer one, so 0.5 JOD is about where a fan starts to see a difference.
try:
    VARIANT_JND_JOD = float(os.environ.get("VARIANT_JND_JOD", "") or 0.5)
except ValueError:
    raise ImproperlyConfigured("VARIANT_JND_JOD must be a number of JOD, e.g. 0.5") from None
# Redis redelivers an unacknowledged task after the visibility timeout. With acks_late a
# render is acknowledged only when it ends, so the timeout must outlast the longest
# render, or a second worker would start the same render while the first still runs.
CELERY_VISIBILITY_TIMEOUT = read_int("CELERY_VISIBILITY_TIMEOUT", RENDER_TIME_LIMIT + 3600, minimum=60)
if CELERY_VISIBILITY_TIMEOUT <= RENDER_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT={CELERY_VISIBILITY_TIMEOUT}s must exceed the render time "
        f"limit ({RENDER_TIME_LIMIT}s), or Redis would hand a running render to a second worker")
# Leases (restoration.leases): a started unit of work (probe, analysis, render, film
# segment, assembly) must show a sign of life (a progress report, a heartbeat) within
# WORK_LEASE_SECONDS or the sweeper sends it again; one dispatched but not started yet
# waits up to WORK_QUEUED_LEASE_SECONDS in the queue (other renders may be ahead of it).
# The sweeper runs every SWEEP_INTERVAL_SECONDS (Celery beat, or the embedded supervisor).
WORK_LEASE_SECONDS = read_int("WORK_LEASE_SECONDS", 300, minimum=2)
WORK_QUEUED_LEASE_SECONDS = read_int("WORK_QUEUED_LEASE_SECONDS", 24 * 3600, minimum=2)
WORK_MAX_ATTEMPTS = read_int("WORK_MAX_ATTEMPTS", 3, minimum=1)
SWEEP_INTERVAL_SECONDS = read_int("SWEEP_INTERVAL_SECONDS", 60, minimum=1)
# Staging files of uploads nobody touched for this long are removed by the sweeper.
UPLOAD_STAGING_TTL_SECONDS = read_int("UPLOAD_STAGING_TTL_SECONDS", 2 * 24 * 3600, minimum=60)
# A "complete" still storing its file after this long was killed: the sweeper hands the
# upload back so the client can complete it again.
UPLOAD_INGEST_TIMEOUT_SECONDS = read_int("UPLOAD_INGEST_TIMEOUT_SECONDS", 3600, minimum=60)
CELERY_TASK_ALWAYS_EAGER = False  # only unit tests switch this on, through their fixtures

# --- sessions, security -------------------------------------------------------------------
SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
SESSION_ENGINE = "django.contrib.sessions.backends.db"
BEHIND_TLS_PROXY = read_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
# Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed: the voting
# services cluster ballots by the client's network, and a forwarded address from anyone
# else is the client's own claim (voting.integrity.client_address). Empty: REMOTE_ADDR only.
TRUSTED_PROXIES = read_list("TRUSTED_PROXIES", [])
try:
    import ipaddress as _ipaddress

    for _cidr in TRUSTED_PROXIES:
        _ipaddress.ip_network(_cidr, strict=False)
except ValueError as _err:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_err}") from None
# Secure cookies where the site is reached over TLS; the embedded default on plain http
# (localhost, a venue's LAN) needs them to travel over http or nobody could log in or vote.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = read_bool("SECURE_COOKIES", BEHIND_TLS_PROXY)
# Security headers. HSTS only behind TLS (over plain http it would lock browsers out).
SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", 31536000 if BEHIND_TLS_PROXY else 0, minimum=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Served by frontend.security.ContentSecurityPolicyMiddleware. Scripts and styles come
# from the site itself; a few pages still carry inline scripts, hence 'unsafe-inline'.
# Media may come from the S3 endpoint (signed URLs) when it is another origin.
_media_origin = (STORAGE.options.get("endpoint_url") or "https:") if STORAGE.backend == "s3" else ""
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:" + (f" {_media_origin}" if _media_origin else ""),
    "media-src 'self' blob:" + (f" {_media_origin}" if _media_origin else ""),
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

# --- engine ---------------------------------------------------------------------------
MODELS_DIR = Path(os.environ.get("MODELS_DIR", SITE_DIR / "models"))
# Folders a spec's file parameters (LUTs, masks, reference frames) may name files in;
# the first takes relative paths. Anything else the worker can read stays out of reach.
SPEC_FILE_ROOTS = read_list("SPEC_FILE_ROOTS", [str(VAR_DIR / "assets"), str(MEDIA_ROOT) + "/assets"])
# Global caps on what one render may write, checked before it is sent to a worker:
# pixels per output frame (8K by default) and output frames (chained interpolation).
MAX_OUTPUT_PIXELS = read_int("MAX_OUTPUT_PIXELS", 7680 * 4320, minimum=64 * 64)
MAX_OUTPUT_FRAMES = read_int("MAX_OUTPUT_FRAMES", 2_000_000, minimum=1)
DEMO_FILM_ON_START = read_bool("DEMO_FILM_ON_START", True)
# The damage analysis a clip gets once it is probed (restoration.tasks.probe_clip).
ANALYZE_AFTER_PROBE = read_bool("ANALYZE_AFTER_PROBE", True)

# --- logs, errors ---------------------------------------------------------------------
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use plain or json")
LOGGING = logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO").upper())
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
init_sentry(SENTRY_DSN, environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
            traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0") or 0))
