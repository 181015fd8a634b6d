"""Settings validation: a bad value fails at start-up with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

REPO = Path(__file__).resolve().parents[2]


def test_booleans():
    assert env.read_bool("X", False, {"X": "yes"}) is True
    assert env.read_bool("X", True, {"X": "0"}) is False
    assert env.read_bool("X", True, {}) is True
    with pytest.raises(ImproperlyConfigured, match="X='maybe' is not a boolean"):
        env.read_bool("X", False, {"X": "maybe"})


def test_integers_and_sizes():
    assert env.read_int("N", 3, environ_map={"N": "1_000"}) == 1000
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not a whole number"):
        env.read_int("N", 3, environ_map={"N": "ten"})
    with pytest.raises(ImproperlyConfigured, match="at least 60"):
        env.read_int("N", 3, minimum=60, environ_map={"N": "5"})
    assert env.read_size("S", 1, {"S": "20G"}) == 20 * 1024**3
    assert env.read_size("S", 1, {"S": "512M"}) == 512 * 1024**2
    with pytest.raises(ImproperlyConfigured, match="is not a size"):
        env.read_size("S", 1, {"S": "lots"})
    with pytest.raises(ImproperlyConfigured, match="positive"):
        env.read_size("S", 1, {"S": "-5"})


def test_database_urls():
    sqlite = env.read_database("DATABASE_URL", "sqlite:////tmp/x.sqlite3", {})
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    pg = env.read_database("DATABASE_URL", "", {"DATABASE_URL": "postgres://u:p@db:5432/reel"})
    assert pg["ENGINE"] == "django.db.backends.postgresql" and pg["NAME"] == "reel" and pg["HOST"] == "db"
    with pytest.raises(ImproperlyConfigured, match="unsupported database scheme 'mongodb'"):
        env.read_database("DATABASE_URL", "", {"DATABASE_URL": "mongodb://x/y"})
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        env.read_database("DATABASE_URL", "", {"DATABASE_URL": "postgres://u@db:5432/"})


def test_connection_pool_for_postgres():
    db = env.read_database("DATABASE_URL", "", {"DATABASE_URL": "postgres://u@db:5432/reel"})
    db["CONN_MAX_AGE"] = 60
    env.use_connection_pool(db, 20)
    assert db["CONN_MAX_AGE"] == 0  # Django refuses persistent connections beside a pool
    assert db["OPTIONS"]["pool"] == {"min_size": 4, "max_size": 20, "timeout": 30}
    unpooled = env.read_database("DATABASE_URL", "", {"DATABASE_URL": "postgres://u@db:5432/reel"})
    assert "pool" not in env.use_connection_pool(unpooled, 0).get("OPTIONS", {})
    sqlite = env.read_database("DATABASE_URL", "sqlite:////tmp/x.sqlite3", {})
    with pytest.raises(ImproperlyConfigured, match="a connection pool needs PostgreSQL"):
        env.use_connection_pool(sqlite, 5)


def test_redis_urls():
    assert env.read_redis_url("REDIS_URL", {}) is None
    assert env.read_redis_url("REDIS_URL", {"REDIS_URL": "redis://r:6379/0"}) == "redis://r:6379/0"
    with pytest.raises(ImproperlyConfigured, match="is not a Redis URL"):
        env.read_redis_url("REDIS_URL", {"REDIS_URL": "http://r:6379"})
    with pytest.raises(ImproperlyConfigured, match="invalid port"):
        env.read_redis_url("REDIS_URL", {"REDIS_URL": "redis://r:notaport/0"})


def test_channel_layer_waits_longer_than_its_blocking_pop():
    """channels-redis reads a channel with a 5 s BZPOPMIN; a connection that gives up
    reading at the same 5 s (redis-py 8's default) raises TimeoutError in the websocket
    consumer whenever its channel is quiet for 5 s."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.utils import create_pool, decode_hosts

    hosts = env.channel_layer_hosts("redis://r:6379/3")
    pool = create_pool(decode_hosts(hosts)[0])  # connects only when used
    assert pool.connection_kwargs["socket_timeout"] >= RedisChannelLayer.brpop_timeout + 10
    assert pool.connection_kwargs["db"] == 3
    # An operator's own timeout in the URL still wins.
    pool = create_pool(decode_hosts(env.channel_layer_hosts("redis://r:6379/0?socket_timeout=60"))[0])
    assert pool.connection_kwargs["socket_timeout"] == 60

def test_storage_choice(tmp_path):
    local = env.read_storage(tmp_path, {})
    assert local.backend == "local" and local.options["location"].endswith("var/media")
    s3 = env.read_storage(tmp_path, {"STORAGE_BACKEND": "s3", "S3_BUCKET": "reels",
                                     "S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert s3.options["bucket_name"] == "reels" and s3.options["endpoint_url"] == "http://127.0.0.1:9000"
    assert s3.options["signature_version"] == "s3v4"  # presigned URLs that say how long they live
    with pytest.raises(ImproperlyConfigured, match="needs S3_BUCKET"):
        env.read_storage(tmp_path, {"STORAGE_BACKEND": "s3"})
    with pytest.raises(ImproperlyConfigured, match="use 'local' or 's3'"):
        env.read_storage(tmp_path, {"STORAGE_BACKEND": "ftp"})


def start_django(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "REEL_ARENA_VAR_DIR": str(tmp_path)})
    environ.update(overrides)
    return subprocess.run([sys.executable, "-c", "import django; django.setup(); print('ok')"],
                          cwd=REPO, env=environ, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"DEBUG": "perhaps"}, "DEBUG='perhaps' is not a boolean"),
    ({"DATABASE_URL": "oracle://x/y"}, "unsupported database scheme 'oracle'"),
    ({"REDIS_URL": "localhost:6379"}, "is not a Redis URL"),
    ({"MAX_UPLOAD_SIZE": "huge"}, "MAX_UPLOAD_SIZE='huge' is not a size"),
    ({"CELERY_VISIBILITY_TIMEOUT": "600"}, "must exceed the render time limit"),
    ({"STORAGE_BACKEND": "s3"}, "needs S3_BUCKET"),
    ({"DB_POOL_SIZE": "8"}, "a connection pool needs PostgreSQL"),
    ({"DB_POOL_SIZE": "-1"}, "DB_POOL_SIZE=-1 is too small"),
])
def test_invalid_environment_fails_at_start_up_with_a_clear_message(tmp_path, overrides, message):
    result = start_django(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_empty_environment_is_the_embedded_default(tmp_path):
    result = start_django(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_debug_is_off_and_the_secret_key_is_this_installations_own(tmp_path):
    show = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SECRET_KEY, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)")

    def start(var_dir: Path, **overrides: str) -> list[str]:
        environ = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
        environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "REEL_ARENA_VAR_DIR": str(var_dir),
                        **overrides})
        result = subprocess.run([sys.executable, "-c", show], cwd=REPO, env=environ, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    debug, key, secure, hsts = start(tmp_path / "one")
    assert debug == "False" and secure == "False" and hsts == "0"  # plain http on localhost keeps cookies
    assert len(key) >= 50 and "insecure" not in key
    assert (tmp_path / "one" / env.SECRET_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert start(tmp_path / "one")[1] == key  # the same key on every start
    assert start(tmp_path / "two")[1] != key  # another installation, another key
    assert start(tmp_path / "one", SECRET_KEY="from-the-environment")[1] == "from-the-environment"
    assert start(tmp_path / "one", BEHIND_TLS_PROXY="1")[2:] == ["True", "31536000"]


def test_installation_secret_is_shared_by_processes_starting_together(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: env.installation_secret(tmp_path), range(16)))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [env.SECRET_KEY_FILE]  # no temporary files left
    (tmp_path / env.SECRET_KEY_FILE).write_text("")
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        env.installation_secret(tmp_path)


@pytest.mark.integration
def test_pooled_connections_serve_queries_from_threads(tmp_path):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs PostgreSQL in DATABASE_URL")
    script = (
        "import django, threading; django.setup()\n"
        "from django.db import connection, connections\n"
        "answers = []\n"
        "def ask():\n"
        "    with connections['default'].cursor() as c:\n"
        "        c.execute('SELECT 41 + 1'); answers.append(c.fetchone()[0])\n"
        "    connections.close_all()\n"
        "threads = [threading.Thread(target=ask) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(answers.count(42), connection.pool.get_stats()['pool_max'])\n")
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
               "REEL_ARENA_VAR_DIR": str(tmp_path), "DB_POOL_SIZE": "3"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=environ,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Eight threads were served by a pool that never grew past three connections.
    assert result.stdout.split() == ["8", "3"]
