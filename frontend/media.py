"""Serving stored media from the local folder with HTTP range requests, to those allowed.

Video players seek by asking for byte ranges; Django's own static `serve` view answers
with the whole file, which breaks seeking and the synchronised players. In production
media are served by S3 (signed URLs) or the web server in front of the site.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils._os import safe_join

from accounts.roles import is_staff_role

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
BLOCK = 256 * 1024


def _read_range(path: Path, start: int, length: int):
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            block = handle.read(min(BLOCK, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block


#: Predicates ``path -> bool`` saying a stored file is public (apps above this layer
#: register theirs in ``AppConfig.ready``: curation says which files published works use).
_public_checks: list[Callable[[str], bool]] = []


def register_public_media(check: Callable[[str], bool]) -> None:
    """Let ``check(name)`` declare stored files anyone may read."""
    if check not in _public_checks:
        _public_checks.append(check)


def may_read(user: Any, name: str) -> bool:
    """Technicians and curators see every stored file; everyone else only files a
    registered check calls public (published works). Unpublishing or deleting a work
    makes its check say no, which revokes access at once."""
    if is_staff_role(user) or getattr(user, "is_superuser", False):
        return True
    return any(check(name) for check in _public_checks)


def serve_media(request: HttpRequest, path: str) -> HttpResponse:
    # Unknown and private files answer the same 404: nobody learns what exists.
    if not may_read(request.user, path):
        raise Http404("not found")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))
    except Exception:
        raise Http404("not found") from None
    if not full.is_file():
        raise Http404("not found")
    response = ranged_response(request, full)
    # Browsers may keep a copy, shared caches may not, and every reuse asks again, so
    # revoking access takes effect at once.
    response["Cache-Control"] = "private, no-cache"
    return response


def requested_length(request: HttpRequest, size: int) -> int:
    """How many bytes ``ranged_response`` sends for this request of a ``size``-byte file
    (0 for an unsatisfiable range): what a caller records as served."""
    match = RANGE.match(request.headers.get("Range", ""))
    if not match or (not match.group(1) and not match.group(2)):
        return size
    first, last = match.groups()
    if first:
        start, end = int(first), (min(int(last), size - 1) if last else size - 1)
    else:
        start, end = max(0, size - int(last)), size - 1
    return 0 if start >= size or end < start else end - start + 1


def ranged_response(request: HttpRequest, full: Path) -> HttpResponse:
    """``full`` (an existing local file) with HTTP range support: 200, 206 or 416."""
    size = full.stat().st_size
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    match = RANGE.match(request.headers.get("Range", ""))
    if not match or (not match.group(1) and not match.group(2)):
        response = FileResponse(open(full, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # suffix range: the last N bytes
        start = max(0, size - int(last))
        end = size - 1
    if start >= size or end < start:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    response = StreamingHttpResponse(_read_range(full, start, length), status=206,
                                     content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


