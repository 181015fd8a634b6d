"""The project's ASGI application with a PostgreSQL connection pool, for the voting
load benchmark (``--no-pool`` serves ``config.asgi`` unchanged).

Under ASGI, Django runs each synchronous request in a thread of its own, and each of
those threads opens its own database connection: 200 fans arriving at once means 200
connections, past PostgreSQL's default max_connections of 100. Production sets
``DB_POOL_SIZE`` (``config.env.use_connection_pool``); this module applies the same
function with ``BENCH_POOL_SIZE`` (default 30) before the first connection is made, so
the benchmark can compare with and without a pool from one environment.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

from config.env import use_connection_pool  # noqa: E402

_db = settings.DATABASES["default"]
if _db["ENGINE"].endswith("postgresql") and "pool" not in _db.get("OPTIONS", {}):
    use_connection_pool(_db, int(os.environ.get("BENCH_POOL_SIZE", "30")))

from config.asgi import application  # noqa: E402,F401
