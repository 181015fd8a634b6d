"""API tokens of the signed-in user: issue (the key is shown once), list, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from accounts.models import ApiToken
from config.api.schemas import Id, NewTokenOut, TokenIn, TokenOut
from config.api.security import signed_in

router = Router(tags=["tokens"])
ANYONE = signed_in()


def token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.pk, "name": token.name, "created_at": token.created_at,
            "last_used_at": token.last_used_at, "expires_at": token.expires_at,
            "revoked_at": token.revoked_at, "active": token.is_active}


@router.get("/tokens/", response=list[TokenOut], auth=ANYONE, url_name="tokens")
def token_list(request: HttpRequest):
    return [token_json(t) for t in request.auth.api_tokens.order_by("-created_at")[:200]]


@router.post("/tokens/", response={201: NewTokenOut}, auth=ANYONE, url_name="tokens")
def token_issue(request: HttpRequest, body: TokenIn):
    """A new token for the caller; `days` overrides the configured lifetime (0: never expires).
    The key is in this answer only."""
    ttl: Any = True if body.days is None else (timedelta(days=body.days) if body.days else None)
    token, key = ApiToken.issue(request.auth, body.name, ttl=ttl)
    return Status(201, token_json(token) | {"key": key})


@router.delete("/tokens/{token_id}/", response=TokenOut, auth=ANYONE, url_name="token")
def token_revoke(request: HttpRequest, token_id: Id):
    """Revoke one of the caller's tokens; it stops working at once and is kept for the record."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.auth)
    token.revoke()
    return token_json(token)
