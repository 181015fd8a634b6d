"""config.api.tokens and the token rules of accounts: expiry and revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiToken
from tests.factories import UserFactory, technician

pytestmark = pytest.mark.django_db


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def test_a_signed_in_user_issues_lists_and_revokes_tokens(client):
    user = technician()
    client.force_login(user)
    made = client.post("/api/tokens/", {"name": "ingest script", "days": 7}, content_type="application/json")
    assert made.status_code == 201
    key, token_id = made.json()["key"], made.json()["id"]
    expires = ApiToken.objects.get(pk=token_id).expires_at
    assert timedelta(days=6.9) < expires - timezone.now() <= timedelta(days=7)
    client.logout()
    assert client.get("/api/clips/", **auth(key)).status_code == 200
    listed = client.get("/api/tokens/", **auth(key)).json()
    assert [t["name"] for t in listed] == ["ingest script"] and "key" not in listed[0]
    assert client.delete(f"/api/tokens/{token_id}/", **auth(key)).json()["active"] is False
    # Revoked: the key stops working at once, the row stays for the record.
    assert client.get("/api/clips/", **auth(key)).status_code == 401
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None


def test_an_expired_token_is_refused(client, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    token, key = ApiToken.issue(technician())
    assert token.expires_at is not None and client.get("/api/clips/", **auth(key)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/clips/", **auth(key)).status_code == 401
    never, forever_key = ApiToken.issue(technician(), ttl=None)
    assert never.expires_at is None and client.get("/api/clips/", **auth(forever_key)).status_code == 200


def test_nobody_revokes_another_users_token(client):
    token, _ = ApiToken.issue(technician())
    client.force_login(UserFactory())
    assert client.delete(f"/api/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.is_active


def test_an_inactive_user_s_token_is_refused(client):
    user = technician()
    _, key = ApiToken.issue(user)
    user.is_active = False
    user.save()
    assert client.get("/api/clips/", **auth(key)).status_code == 401
