"""Print `export` lines for the real backends found on this machine.

The test command uses PostgreSQL and Redis when they answer on their standard local
ports (they do on the CI machine) and falls back to SQLite and in-process layers,
saying so, when they do not. Explicit DATABASE_URL / REDIS_URL always win.
"""

import os
import socket


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ and answers("127.0.0.1", 5432):
    print("export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")
if "REDIS_URL" not in os.environ and answers("127.0.0.1", 6379):
    print("export REDIS_URL=redis://127.0.0.1:6379/0")
    print("export REDIS_CACHE_URL=redis://127.0.0.1:6379/1")
