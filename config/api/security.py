"""Who may call the API: a token or the site's session, then a role check.

Roles are checked while authenticating (before the body is parsed), so a caller
without the role gets 403 whatever they sent, and an anonymous caller 401, the codes
the permission matrix (tests/test_permissions.py) expects of every JSON endpoint.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import APIKeyHeader
from ninja.security.session import SessionAuth

from accounts.auth import user_from_token_header


def _check_roles(user: Any, roles: tuple[str, ...]) -> Any:
    if roles and not any(user.has_role(role) for role in roles):
        raise HttpError(403, _("this needs the %(roles)s role") % {"roles": _(" or ").join(roles)})
    return user


class TokenAuth(APIKeyHeader):
    """`Authorization: Token <key>`: an ApiToken that is neither expired nor revoked."""

    param_name = "Authorization"
    openapi_description = "An API token: `Authorization: Token <key>` (expires; can be revoked)."

    def __init__(self, roles: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.roles = roles

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = user_from_token_header(request)
        return _check_roles(user, self.roles) if user is not None else None


class SiteSessionAuth(SessionAuth):
    """The site's login cookie (CSRF-checked), as the upload page uses it."""

    openapi_description = "The site's session cookie; unsafe methods need the X-CSRFToken header."

    def __init__(self, roles: tuple[str, ...] = ()) -> None:
        super().__init__(csrf=True)
        self.roles = roles

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return _check_roles(user, self.roles) if user else None


def signed_in(*roles: str) -> list:
    """Auth for an operation: a token or a session, holding one of ``roles`` (any user if none)."""
    return [TokenAuth(roles), SiteSessionAuth(roles)]
