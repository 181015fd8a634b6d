"""The project's ASGI application with a PostgreSQL connection pool, for the voting
load benchmark (``--no-pool`` serves ``config.asgi`` unchanged).

Under ASGI, Django runs each synchronous request in a thread of its own, and each of
those threads opens its own database connection: 200 fans arriving at once means 200
connections, past PostgreSQL's default max_connections of 100. Django 5.1+ can share a
psycopg pool instead (``OPTIONS["pool"]``; it requires CONN_MAX_AGE = 0). The settings
are patched before the first connection is made.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

_db = settings.DATABASES["default"]
if _db["ENGINE"].endswith("postgresql"):
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 4, "max_size": int(os.environ.get("BENCH_POOL_SIZE", "30")),
                                             "timeout": 30}

from config.asgi import application  # noqa: E402,F401
