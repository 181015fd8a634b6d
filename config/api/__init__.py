"""The site's JSON API (django-ninja): one OpenAPI schema over every app.

It lives in config because it spans the apps (restoration, voting, curation). Each
module here is a router of thin operations over that app's services. The schema is at
/api/openapi.json, its documentation at /api/docs (Swagger UI served from the
project's own static files: nothing comes from a CDN).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from config.api import curation, restoration, tokens, voting

api = NinjaAPI(
    title="Reel Arena API", version="1", urls_namespace="api",
    description="Films, clips, resumable uploads, presets, sweeps, renders, contests and "
                "publications. Authenticate with `Authorization: Token <key>` (POST /api/tokens/ "
                "while signed in makes one) or the site's session. Errors are `{\"error\": …}`.",
)
api.add_router("", tokens.router)
api.add_router("", restoration.router)
api.add_router("", voting.router)
api.add_router("", curation.router)


# Every error has the same shape, {"error": message}, which the upload page reads.
@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc.message)
    if message.startswith("Cannot parse request body"):  # ninja's words for a body it cannot read
        message = _("the request body is not valid JSON")
    return api.create_response(request, {"error": message}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"error": _("authentication required")}, status=401)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"error": _("not found")}, status=404)


def _field_message(error: dict) -> str:
    # ninja's locations start with where the value came from ("body", "query", …) and,
    # for a body schema, its parameter name: the field's own path is what a caller needs.
    loc = [str(p) for p in error.get("loc", ())]
    while loc and loc[0] in ("body", "query", "path", "form", "file", "header"):
        loc = loc[1:]
    where = ".".join(loc) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = list(exc.errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        message = _("the request body is not valid JSON")
    else:
        message = "; ".join(_field_message(e) for e in errors)
    return api.create_response(request, {"error": message, "detail": errors}, status=400)
