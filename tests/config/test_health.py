"""config.health: /healthz answers while the process runs; /readyz checks the database,
the broker and the storage, and says which one failed."""

from __future__ import annotations

import pytest

from config import health

pytestmark = pytest.mark.django_db


def test_healthz_touches_nothing(client, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "database", lambda: pytest.fail("healthz must not check"))
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_every_dependency(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_readyz_names_what_is_down(client, monkeypatch):
    def broker_down() -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setitem(health.CHECKS, "broker", broker_down)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert "ConnectionRefusedError" in body["checks"]["broker"]


def test_an_unreachable_broker_fails_the_real_check(settings, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    with pytest.raises(Exception):  # noqa: B017 - kombu raises its own or the socket's error
        health.check_broker()
