"""Token authentication for the JSON API, alongside Django's session login."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken, User


def user_from_token_header(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "token" or not key.strip():
        return None
    token = (ApiToken.objects.select_related("user")
             .filter(key_hash=ApiToken.hash_key(key.strip())).first())
    if token is None or not token.is_active or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


class TokenMiddleware:
    """Sets request.user from an API token when the request carries one.

    Token requests are not cookie-authenticated, so CSRF does not apply to them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = user_from_token_header(request)
        if user is not None:
            request.user = user
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)


