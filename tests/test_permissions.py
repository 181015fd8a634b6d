"""The permission matrix: every URL of the site, for every kind of visitor.

The URLs are enumerated from config.urls' resolver, so a new URL is covered as soon
as it exists: a URL name missing from MATRIX fails the test until someone decides who
may open it. Each entry gives the expected status of a GET (and, for actions, of a
POST with an empty body) for the four visitors:

    anonymous · fan (logged in, no role) · technician · curator

Conventions the codes follow: pages send anonymous visitors to the login page (302)
and refuse users without the role (403); the JSON API answers 401 and 403 instead;
an action reached with GET by someone allowed answers 405. Only curators publish,
only technicians upload and render, fans only vote and view.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken
from restoration.curation.models import Publication, Review
from restoration.models import PresetVersion, RenderJob
from tests.factories import RenderJobFactory, UploadSessionFactory, UserFactory, curator, technician
from tests.restoration.curation.factories import (
    PublicationFactory,
    ReviewFactory,
    ReviewNoteFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "fan", "technician", "curator")
PUBLIC = (200, 200, 200, 200)
STAFF_PAGE = (302, 403, 200, 200)        # technicians and curators
TECH_PAGE = (302, 403, 200, 403)         # technicians only
CURATOR_PAGE = (302, 403, 403, 200)      # curators only
STAFF_API = (401, 403, 200, 200)
TECH_API = (401, 403, 200, 403)
TECH_ACTION_GET = (302, 403, 405, 403)   # technician-only action reached with GET
CURATOR_ACTION_GET = (302, 403, 403, 405)
STAFF_ACTION_GET = (302, 403, 405, 405)
ADMIN_SITE = (302, 302, 302, 302)        # nobody in the matrix is staff: the admin login
ANY_405 = (405, 405, 405, 405)           # POST-only, method checked before the role

# name -> {"GET": codes, "POST": codes}; None in a POST tuple: not sent for that role
# (a real action with side effects; its access is proven by the others and by the GET).
MATRIX: dict[str, dict[str, tuple]] = {
    # operations: probes and metrics (restrict /metrics at the proxy in production)
    "healthz": {"GET": PUBLIC},
    "readyz": {"GET": PUBLIC},
    "prometheus-django-metrics": {"GET": PUBLIC},
    # languages: the switcher's target (redirects back) and the JavaScript catalogue
    "set_language": {"GET": (302, 302, 302, 302), "POST": (302, 302, 302, 302)},
    "javascript-catalog": {"GET": PUBLIC},
    # accounts
    "login": {"GET": PUBLIC},
    "logout": {"GET": ANY_405},
    "admin:login": {"GET": PUBLIC},
    "admin:logout": {"GET": ADMIN_SITE},
    # pages of the site
    "home": {"GET": PUBLIC},
    "film-create": {"GET": TECH_PAGE, "POST": (302, 403, 200, 403)},
    "film-detail": {"GET": STAFF_PAGE},
    "clip-upload": {"GET": TECH_PAGE},
    "clip-detail": {"GET": STAFF_PAGE},
    "clip-analysis-plot": {"GET": STAFF_PAGE},
    "media": {"GET": PUBLIC},
    # presets, sweeps, renders
    "preset-list": {"GET": STAFF_PAGE},
    "preset-new": {"GET": TECH_PAGE},
    "preset-import": {"GET": TECH_ACTION_GET, "POST": (302, 403, None, 403)},
    "operator-catalog": {"GET": PUBLIC},
    "preset-detail": {"GET": STAFF_PAGE},
    "preset-version-edit": {"GET": TECH_PAGE},
    "preset-version-export": {"GET": STAFF_PAGE},
    "clip-sweep": {"GET": TECH_PAGE, "POST": (302, 403, None, 403)},
    "clip-compare-variants": {"GET": TECH_ACTION_GET, "POST": (302, 403, None, 403)},
    "job-cancel": {"GET": TECH_ACTION_GET, "POST": (302, 403, None, 403)},
    "variant-rerender": {"GET": TECH_ACTION_GET, "POST": (302, 403, None, 403)},
    "film-render": {"GET": STAFF_PAGE, "POST": (302, 403, 302, 404)},
    "film-render-resume": {"GET": TECH_ACTION_GET, "POST": (302, 403, None, 403)},
    # JSON API (config.api): 405 for a method the path lacks, then 401/403, then the body
    "api:api-root": {"GET": (404, 404, 404, 404)},
    "api:openapi-json": {"GET": PUBLIC},
    "api:openapi-view": {"GET": PUBLIC},
    "api:tokens": {"GET": (401, 200, 200, 200), "POST": (401, 400, 400, 400)},
    "api:token": {"GET": ANY_405},
    "api:films": {"GET": STAFF_API, "POST": (401, 403, 400, 403)},
    "api:film": {"GET": STAFF_API},
    "api:film-render": {"GET": ANY_405, "POST": (401, 403, 400, 403)},
    "api:clips": {"GET": STAFF_API, "POST": (401, 403, 400, 403)},
    "api:clip": {"GET": STAFF_API},
    "api:upload-start": {"GET": ANY_405, "POST": (401, 403, 400, 403)},
    "api:upload-session": {"GET": TECH_API},
    "api:upload-complete": {"GET": ANY_405, "POST": (401, 403, None, 403)},
    "api:operators": {"GET": PUBLIC},
    "api:presets": {"GET": STAFF_API, "POST": (401, 403, 400, 403)},
    "api:preset": {"GET": STAFF_API},
    "api:preset-versions": {"GET": ANY_405, "POST": (401, 403, 400, 403)},
    "api:preset-version": {"GET": STAFF_API},
    "api:clip-sweeps": {"GET": ANY_405, "POST": (401, 403, 400, 403)},
    "api:clip-comparisons": {"GET": STAFF_API, "POST": (401, 403, 400, 403)},
    "api:variants": {"GET": STAFF_API},
    "api:variant": {"GET": STAFF_API},
    "api:variant-rerender": {"GET": ANY_405, "POST": (401, 403, None, 403)},
    "api:jobs": {"GET": STAFF_API},
    "api:job": {"GET": STAFF_API},
    "api:job-cancel": {"GET": ANY_405, "POST": (401, 403, None, 403)},
    "api:job-resume": {"GET": ANY_405, "POST": (401, 403, None, 403)},
    "api:contests": {"GET": STAFF_API, "POST": (401, 403, 400, 403)},
    "api:contest": {"GET": STAFF_API},
    "api:contest-tally": {"GET": STAFF_API},
    "api:contest-action": {"GET": ANY_405, "POST": (401, 403, None, 403)},
    "api:publications": {"GET": PUBLIC},
    "api:publication": {"GET": PUBLIC},
    "api:review-publish": {"GET": ANY_405, "POST": (401, 403, 403, 400)},
    "api:publication-unpublish": {"GET": ANY_405, "POST": (401, 403, 403, None)},
    # voting: public pages and the voting page's API
    "voting:vote": {"GET": PUBLIC},
    "voting:results": {"GET": PUBLIC},
    "voting:qr": {"GET": PUBLIC},
    "voting:plot": {"GET": PUBLIC},
    "voting:api-pow": {"GET": PUBLIC},
    "voting:api-next": {"GET": PUBLIC},
    "voting:api-heartbeat": {"GET": ANY_405},
    "voting:api-ballot": {"GET": ANY_405},
    "voting:api-tally": {"GET": PUBLIC},
    # a blind media URL works only for the rater it was served to (the world's fan
    # pairing belongs to a cookie none of these visitors hold)
    "voting:media": {"GET": (404, 404, 404, 404)},
    # a screening seat's link and the code form: public; an unknown code is a 404
    "voting:code": {"GET": PUBLIC, "POST": (404, 404, 404, 404)},
    "voting:seat": {"GET": PUBLIC, "POST": (404, 404, 404, 404)},
    # voting: technicians manage contests
    "voting:manage": {"GET": TECH_PAGE},
    "voting:contest-new": {"GET": TECH_PAGE, "POST": (302, 403, 200, 403)},
    "voting:dashboard": {"GET": TECH_PAGE},
    # the contest's creator (the technician in world()); another technician: 403
    "voting:codes": {"GET": TECH_PAGE, "POST": (302, 403, 302, 403)},
    "voting:audit": {"GET": TECH_PAGE},
    "voting:export": {"GET": TECH_PAGE},
    "voting:contest-action": {"GET": ANY_405, "POST": (302, 403, 302, 403)},
    # curation: the public gallery
    "gallery": {"GET": PUBLIC},
    "gallery-detail": {"GET": PUBLIC},
    # curation: review and publishing (curators act, technicians read and resubmit)
    "review-index": {"GET": STAFF_PAGE},
    "review-open": {"GET": CURATOR_ACTION_GET, "POST": (302, 403, 403, 302)},
    "review-detail": {"GET": STAFF_PAGE},
    "review-json": {"GET": STAFF_API},
    # The world's clip has no frame count, so there is no timeline to give: 404 once in.
    "review-timeline": {"GET": (302, 403, 404, 404)},
    "review-note-add": {"GET": CURATOR_ACTION_GET, "POST": (302, 403, 403, 302)},
    "review-status": {"GET": STAFF_ACTION_GET, "POST": (302, 403, 302, 302)},
    "review-excerpt": {"GET": CURATOR_ACTION_GET, "POST": (302, 403, 403, None)},
    "review-publish": {"GET": CURATOR_ACTION_GET, "POST": (302, 403, 403, 302)},
    "review-note-resolve": {"GET": STAFF_ACTION_GET, "POST": (302, 403, 302, 302)},
    "publication-unpublish": {"GET": CURATOR_ACTION_GET, "POST": (302, 403, 403, None)},
    "dashboard": {"GET": STAFF_PAGE},
    "film-look": {"GET": STAFF_PAGE},
    "film-look-plot": {"GET": STAFF_PAGE},
}


# --- enumerating the URLconf ------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str          # "namespace:name", or "" for an unnamed route
    route: str         # the pattern text, for messages
    params: tuple[str, ...]


def _params(pattern) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters:
        return tuple(converters)
    return tuple(pattern.pattern.regex.groupindex)


def walk(patterns=None, prefix: str = "", namespace: str = "", params: tuple[str, ...] = ()) -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            ns = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns, params + _params(entry))
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield Route(name, prefix + str(entry.pattern), params + _params(entry))


ROUTES = list(walk())


def expected_for(route: Route) -> dict[str, tuple]:
    if route.name in MATRIX:
        return MATRIX[route.name]
    if route.route.startswith("admin/"):
        return {"GET": ADMIN_SITE}  # every admin view sits behind the admin's staff check
    raise KeyError(route.name or route.route)


# --- data every URL can point at ------------------------------------------------------------------------

@pytest.fixture
def world(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.files.storage import default_storage

    from tests.voting.voting_factories import make_contest

    contest = make_contest(2)
    clip = contest.clip
    film = clip.film
    # An analysis, so the clip's analysis plot exists for those who may see it.
    from gpu_worker.engine.analysis import analyze_frames

    clip.analysis = analyze_frames([np.full((48, 64, 3), 100 + i, np.uint8) for i in range(8)], fps=24,
                                   faces=False)
    clip.save(update_fields=["analysis"])
    variant = contest.entries.first().variant
    version: PresetVersion = variant.preset_version
    job = RenderJobFactory(film=film, status=RenderJob.Status.DONE, preset_version=version,
                           output="renders/film.mp4")
    tech = technician()
    contest.created_by = tech  # screening codes are their contest's creator's
    contest.save(update_fields=["created_by"])
    token, _ = ApiToken.issue(tech)
    session = UploadSessionFactory(film=film, filename="reel.mp4", size=10, created_by=tech)
    review = ReviewFactory(variant=variant, excerpt_error="not a video")
    note = ReviewNoteFactory(review=review, frame=0, x=0.5, y=0.5, text="dust")
    published = ReviewFactory(variant=None, render_job=job, status=Review.Status.PUBLISHED)
    poster = default_storage.save("publications/poster.jpg", ContentFile(b"\xff\xd8\xff"))
    publication = PublicationFactory(review=published, film=film, slug="the-film", title="The Film",
                                     restored=job.output.name, poster=poster, is_public=True)
    values = {
        "film_id": film.pk, "clip_id": clip.pk, "preset_id": version.preset_id, "version_id": version.pk,
        "job_id": job.pk, "variant_id": variant.pk, "session_id": session.pk, "contest_id": contest.pk,
        "review_id": review.pk, "note_id": note.pk, "token_id": token.pk, "publication_id": publication.pk,
        "target_id": variant.pk, "object_id": "1", "id": tech.pk, "content_type_id": "1", "app_label": "restoration",
        "url": "no-such-page/", "path": poster,
    }
    per_name = {
        "gallery-detail": {"slug": publication.slug},
        "voting:qr": {"kind": "svg"}, "voting:plot": {"name": "ratings"}, "voting:export": {"fmt": "csv"},
        "voting:contest-action": {"action": "close"}, "review-open": {"kind": "variant"},
        "review-timeline": {"fmt": "edl"},
        "api:contest-action": {"action": "close"}, "api:publication": {"slug": publication.slug},
    }
    from tests.voting.factories import PairingFactory
    from voting.services import media_url_token

    left, right = contest.entries.all()[:2]
    pairing = PairingFactory(contest=contest, left=left, right=right)
    per_name["voting:media"] = {"token": media_url_token(pairing, "left")}
    per_name["voting:seat"] = {"code": "NOSUCHCODE"}
    users = {"anonymous": None, "fan": UserFactory(), "technician": tech, "curator": curator()}
    return {"values": values, "per_name": per_name, "contest": contest, "users": users}


def concrete_url(route: Route, world) -> str:
    kwargs = {p: world["values"].get(p) for p in route.params}
    kwargs.update({k: v for k, v in world["per_name"].get(route.name, {}).items() if k in route.params})
    if route.name.startswith("voting:") and "slug" in route.params:
        kwargs["slug"] = world["contest"].slug
    missing = [p for p, v in kwargs.items() if v is None]
    assert not missing, f"{route.route}: the matrix has no value for {missing}; add one to world()"
    if route.name:
        return reverse(route.name, kwargs=kwargs)
    # Unnamed admin routes: fill the pattern's parameters by hand.
    text = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), route.route)
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(kwargs[m.group(1)]), text)
    return "/" + text.replace("^", "").replace("$", "")


# --- the tests ------------------------------------------------------------------------------------------------------

def test_every_url_is_in_the_matrix():
    unknown = []
    for route in ROUTES:
        try:
            expected_for(route)
        except KeyError:
            unknown.append(f"{route.name or '(unnamed)'}  {route.route}")
    assert not unknown, ("URLs with no entry in tests/test_permissions.py MATRIX; decide who may open "
                         "them and add them:\n  " + "\n  ".join(unknown))
    stale = set(MATRIX) - {r.name for r in ROUTES}
    assert not stale, f"MATRIX names no URL has any more: {sorted(stale)}"


def test_permission_matrix(client, world):
    failures = []
    checked = 0
    for route in ROUTES:
        expected = expected_for(route)
        url = concrete_url(route, world)
        for method, codes in expected.items():
            for role, code in zip(ROLES, codes, strict=True):
                if code is None:
                    continue
                client.logout()
                user = world["users"][role]
                if user is not None:
                    client.force_login(user)
                response = client.get(url) if method == "GET" else client.post(url, {})
                checked += 1
                if response.status_code != code:
                    failures.append(f"{method} {url} as {role}: {response.status_code}, expected {code}")
                elif role == "anonymous" and code == 302 and codes[1] == 403 \
                        and "/accounts/login/" not in response["Location"]:
                    # a protected page must send visitors to log in, nowhere else
                    failures.append(f"{method} {url} as anonymous redirects to {response['Location']}")
    assert not failures, f"{len(failures)} of {checked} checks failed:\n  " + "\n  ".join(failures)
    assert checked > 4 * len(ROUTES) * 0.9


def test_only_curators_publish_and_nothing_happens_for_others(client, world):
    review = Review.objects.get(variant__isnull=False)
    Review.objects.filter(pk=review.pk).update(status=Review.Status.APPROVED, excerpt_error="")
    url = reverse("review-publish", args=[review.pk])
    for role in ("fan", "technician"):
        client.force_login(world["users"][role])
        assert client.post(url, {"title": "Sneaky"}).status_code == 403
    assert not Publication.objects.filter(title="Sneaky").exists()
    review.refresh_from_db()
    assert review.status == Review.Status.APPROVED


# --- stored media ---------------------------------------------------------------------------------------------

STAFF_MEDIA = (404, 404, 200, 200)
PUBLIC_MEDIA = (200, 200, 200, 200)


def _media_codes(client, world, url: str) -> tuple[int, ...]:
    codes = []
    for role in ROLES:
        client.logout()
        if world["users"][role] is not None:
            client.force_login(world["users"][role])
        codes.append(client.get(url).status_code)
    return tuple(codes)


def test_media_urls_staff_see_everything_the_public_only_published_work(client, world):
    from django.core.files.storage import default_storage

    from restoration.curation.services.publishing import unpublish

    publication = Publication.objects.get()
    variant = world["contest"].entries.first().variant
    review = Review.objects.get(variant=variant)
    review.after_excerpt.name = default_storage.save("reviews/review-x-secret/after-1.mp4",
                                                     ContentFile(b"unpublished excerpt"))
    review.save(update_fields=["after_excerpt"])
    public = {"published poster": publication.poster.name}
    private = {"unpublished review excerpt": review.after_excerpt.name, "variant render": variant.output.name,
               "no such file": "reviews/nothing.mp4"}
    failures = []
    for what, name in [*public.items(), *private.items()]:
        expected = PUBLIC_MEDIA if what in public else STAFF_MEDIA
        if what == "no such file":
            expected = (404, 404, 404, 404)
        codes = _media_codes(client, world, "/media/" + name)
        if codes != expected:
            failures.append(f"{what} ({name}): {codes}, expected {expected}")
    assert not failures, "\n".join(failures)
    # Unpublishing revokes the public's access at once; staff keep theirs.
    unpublish(publication, world["users"]["curator"], "withdrawn")
    assert _media_codes(client, world, "/media/" + publication.poster.name) == STAFF_MEDIA
    # So does deleting the work.
    publication.is_public = True
    publication.save(update_fields=["is_public"])
    assert _media_codes(client, world, "/media/" + publication.poster.name)[0] == 200
    publication.delete()
    assert _media_codes(client, world, "/media/" + publication.poster.name) == STAFF_MEDIA
