"""The Content-Security-Policy header (Django 5.2 has none of its own).

The policy itself is the setting ``CONTENT_SECURITY_POLICY`` (config/settings.py); a view
that sets its own header keeps it. ``MiddlewareMixin`` makes it work in both sync and
async chains, so it adds no thread hop under ASGI.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
