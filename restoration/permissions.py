"""Role checks for pages and the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse


def _has_role(request: HttpRequest, role: str) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.has_role(role))


def role_required(*roles: str) -> Callable:
    """Page views: anonymous users go to the login page; users with none of the roles get 403."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
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
                return JsonResponse({"error": "authentication required"}, status=401)
            if not any(_has_role(request, role) for role in roles):
                return JsonResponse({"error": f"this needs the {' or '.join(roles)} role"}, status=403)
            return view(request, *args, **kwargs)
        return wrapper
    return decorator
