"""Roles and the checks that guard pages and the JSON API.

Roles are Django groups: technicians upload, analyse, compose presets and render;
curators review and publish. Fans need no account.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

TECHNICIAN = "technician"
CURATOR = "curator"
ROLES = (TECHNICIAN, CURATOR)


def is_staff_role(user: Any) -> bool:
    """A signed-in technician or curator (the people who see unpublished work)."""
    return bool(user and user.is_authenticated
                and (user.has_role(TECHNICIAN) or user.has_role(CURATOR)))


def _has_role(request: HttpRequest, role: str) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.has_role(role))


def role_required(*roles: str) -> Callable:
    """Page views: anonymous users go to the login page; users with none of the roles get 403."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                # Imported here: the auth views module needs the user model, which imports
                # the role names from this module.
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not any(_has_role(request, role) for role in roles):
                raise PermissionDenied(f"this page is for the {' or '.join(roles)} role")
            return view(request, *args, **kwargs)
        return wrapper
    return decorator


def api_role_required(*roles: str) -> Callable:
    """JSON views: 401 without credentials, 403 without one of the roles."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"error": _("authentication required")}, status=401)
            if not any(_has_role(request, role) for role in roles):
                return JsonResponse({"error": _("this needs the %(roles)s role") % {"roles": _(" or ").join(roles)}}, status=403)
            return view(request, *args, **kwargs)
        return wrapper
    return decorator
