"""A small version of the voting load benchmark (tests/benchmarks/bench_voting_load.py):
concurrent fans against a real daphne process on this run's PostgreSQL test database
and Redis; every accepted ballot stored exactly once, every duplicate refused."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from tests.benchmarks.bench_voting_load import (
    check_database,
    run_fans,
    seed_contest,
    server_env,
    start_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VOTERS = 20
BALLOTS = 2  # the first is re-submitted after its answer, the second sent twice at once


@pytest.fixture
def real_backends():
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the load test is about concurrent writers")
    if "redis" not in django_settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs Redis (REDIS_URL): rate-limit counters shared across processes")
    from django.db import connection

    name = connection.settings_dict["NAME"]  # this run's test database
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def test_concurrent_fans_every_accepted_ballot_stored_once(real_backends, tmp_path):
    contest_id, slug = seed_contest(min_watch=1.0)
    redis_db = int(django_settings.CACHES["default"]["LOCATION"].rsplit("/", 1)[-1] or 0)
    # A small pool: PostgreSQL's connections are shared with everything else on the machine.
    server = start_server(server_env(real_backends, redis_db, {"BENCH_POOL_SIZE": "6"}), tmp_path / "server.log")
    try:
        results, wall = run_fans(server.url, slug, VOTERS, BALLOTS)
    finally:
        server.stop()
    statuses = {kind: dict(v) for kind, v in results.statuses.items()}
    assert not results.errors, (results.errors[:5], statuses, (tmp_path / "server.log").read_text()[-3000:])
    check = check_database(contest_id, results)
    assert check.accepted == check.distinct_accepted == check.stored == VOTERS * BALLOTS
    assert check.stored_ids_match and check.pairs_unique and check.pairings_answered_once
    assert results.duplicates_accepted == 0
    assert statuses["ballot"] == {200: VOTERS * BALLOTS, 409: VOTERS * BALLOTS}, (
        statuses, (tmp_path / "server.log").read_text()[-3000:])
    assert results.duplicates_refused == VOTERS * BALLOTS  # one duplicate per ballot, each refused
    print(f"\n{VOTERS} fans, {check.stored} ballots in {wall:.1f} s")
