"""JSON API for clips and uploads. Thin views over restoration.services."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from accounts.roles import CURATOR, TECHNICIAN, api_role_required
from restoration.models import Clip, Film, UploadSession
from restoration.selectors import clip_payload
from restoration.services import uploads
from restoration.services.uploads import UploadRejected

CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise UploadRejected("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UploadRejected("the request body must be a JSON object")
    return body


def _clip_json(clip: Clip) -> dict:
    return {**clip_payload(clip), "id": clip.pk, "film": clip.film_id, "title": clip.title,
            "original_filename": clip.original_filename, "size_bytes": clip.size_bytes,
            "sha256": clip.sha256, "url": clip.get_absolute_url()}


def _session_json(session: UploadSession) -> dict:
    return {"id": str(session.id), "filename": session.filename, "size": session.size,
            "received": session.received, "status": session.status, "error": session.error,
            "chunk_size": settings.UPLOAD_CHUNK_SIZE,
            "clip": _clip_json(session.clip) if session.clip_id else None}


def _film_from(request: HttpRequest, raw) -> Film:
    if raw in (None, ""):
        raise UploadRejected("choose the film this clip belongs to")
    try:
        return Film.objects.get(pk=int(raw))
    except (ValueError, TypeError, Film.DoesNotExist):
        raise UploadRejected(f"no film with id {raw!r}") from None


@require_http_methods(["POST"])
@api_role_required(TECHNICIAN)
def upload_start(request: HttpRequest) -> JsonResponse:
    """POST {film, filename, size, title?} → a resumable upload session."""
    try:
        body = _json_body(request)
        film = _film_from(request, body.get("film"))
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise UploadRejected("size must be the file's size in bytes")
        session = uploads.start_upload(user=request.user, film=film,
                                       filename=str(body.get("filename") or "upload"),
                                       size=size, title=str(body.get("title") or ""))
    except UploadRejected as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(_session_json(session), status=201)


@require_http_methods(["GET", "PUT", "DELETE"])
@api_role_required(TECHNICIAN)
def upload_session(request: HttpRequest, session_id) -> JsonResponse:
    """GET: where to resume. PUT with Content-Range: one chunk. DELETE: abandon."""
    session = get_object_or_404(UploadSession, pk=session_id, created_by=request.user)
    if request.method == "GET":
        return JsonResponse(_session_json(session))
    if request.method == "DELETE":
        session.staging_path.unlink(missing_ok=True)
        session.delete()
        return JsonResponse({"deleted": True})
    match = CONTENT_RANGE.fullmatch(request.headers.get("Content-Range", ""))
    if not match:
        return JsonResponse({"error": "a chunk needs a header Content-Range: bytes START-END/SIZE"},
                            status=400)
    start, end, total = (int(g) for g in match.groups())
    if total != session.size or end < start:
        return JsonResponse({"error": "Content-Range does not match this upload"}, status=400)
    if end - start + 1 > settings.UPLOAD_CHUNK_SIZE:
        return JsonResponse({"error": f"a chunk is at most {settings.UPLOAD_CHUNK_SIZE} bytes"}, status=413)
    try:
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().get(pk=session.pk)
            # The bytes are counted as they arrive: a body longer than its Content-Range
            # (whatever Content-Length said) is refused, not written.
            uploads.append_chunk(locked, start, iter(lambda: request.read(1024 * 1024), b""),
                                 max_bytes=end - start + 1)
    except UploadRejected as exc:
        session.refresh_from_db()
        return JsonResponse({"error": str(exc), "received": session.received}, status=409)
    locked.refresh_from_db()
    return JsonResponse(_session_json(locked))


@require_http_methods(["POST"])
@api_role_required(TECHNICIAN)
def upload_complete(request: HttpRequest, session_id) -> JsonResponse:
    session = get_object_or_404(UploadSession, pk=session_id, created_by=request.user)
    try:
        clip = uploads.finish_upload(session)
    except UploadRejected as exc:
        return JsonResponse({"error": str(exc)}, status=422)
    except uploads.UploadInProgress as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse(_session_json(UploadSession.objects.get(pk=session.pk)) | {"clip": _clip_json(clip)},
                        status=201)


@require_http_methods(["GET", "POST"])
@api_role_required(TECHNICIAN, CURATOR)
def clips(request: HttpRequest) -> JsonResponse:
    """GET: list clips. POST multipart (file, film, title?): single-request upload."""
    if request.method == "GET":
        rows = Clip.objects.select_related("film").order_by("-created_at")[:200]
        return JsonResponse({"clips": [_clip_json(c) for c in rows]})
    if not request.user.has_role(TECHNICIAN):
        return JsonResponse({"error": "this needs the technician role"}, status=403)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise UploadRejected("no file in the request (form field 'file')")
        film = _film_from(request, request.POST.get("film"))
        clip = uploads.upload_file_object(user=request.user, film=film, handle=upload,
                                          filename=upload.name or "upload", size=upload.size or 0,
                                          title=request.POST.get("title", ""))
    except UploadRejected as exc:
        return JsonResponse({"error": str(exc)}, status=422 if upload is not None else 400)
    return JsonResponse(_clip_json(clip), status=201)


@require_http_methods(["GET"])
@api_role_required(TECHNICIAN, CURATOR)
def clip_detail(request: HttpRequest, clip_id: int) -> JsonResponse:
    return JsonResponse(_clip_json(get_object_or_404(Clip, pk=clip_id)))
