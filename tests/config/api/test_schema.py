"""The API's OpenAPI schema: it validates, its docs page is served from local static
files, and schemathesis fuzzes every operation against it (a few examples each, so CI
stays fast): no input may crash the server, and answers must match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import validate

from accounts.models import ApiToken
from config.api import api
from config.wsgi import application
from tests.factories import ClipFactory, technician

# The same document /api/openapi.json serves (made without a request, so collecting
# the tests needs no database); requests then go to the site's WSGI application.
schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/"))
schema.app = application


@pytest.mark.django_db
def test_the_schema_is_valid_openapi(client):
    document = client.get("/api/openapi.json").json()
    validate(document)  # raises on any violation of the OpenAPI specification
    paths = document["paths"]
    for path in ("/api/films/", "/api/clips/", "/api/uploads/", "/api/uploads/{session_id}/",
                 "/api/presets/", "/api/clips/{clip_id}/sweeps/", "/api/variants/", "/api/jobs/{job_id}/",
                 "/api/contests/", "/api/contests/{contest_id}/tally/", "/api/publications/",
                 "/api/tokens/"):
        assert path in paths, path
    assert {"TokenAuth", "SiteSessionAuth"} <= set(document["components"]["securitySchemes"])


@pytest.mark.django_db
def test_the_docs_page_uses_local_static_files_only(client):
    page = client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page


@pytest.fixture
def token(db):
    """A technician's token, and a clip so the fuzzed reads can find a row."""
    ClipFactory()
    return ApiToken.issue(technician())[1]


@pytest.fixture
def in_process_requests():
    # As Django's test client does: a request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_input_crashes_the_api(case, token, in_process_requests):
    case.call_and_validate(headers={"Authorization": f"Token {token}"},
                           checks=[schemathesis.checks.not_a_server_error,
                                   schemathesis.checks.response_schema_conformance])
