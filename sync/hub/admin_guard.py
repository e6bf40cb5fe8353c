"""Refuse oversized bodies outside the API before Django reads them.

Django writes a multipart upload to a temporary file while it parses a form, before any
view (or the CSRF check) can refuse it, and ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count
file parts: anyone holding a CSRF cookie from a GET could make the hub spool gigabytes to
disk by posting them to the admin login. The admin's forms are small, except the species
pack upload, which may be as large as a pack, and only for a signed-in staff member. Runs
after the authentication middleware (``request.user`` comes from the session; no body is
read for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from sync.species_packs import MAX_ARCHIVE_BYTES

FORM_BODY_BYTES = 1024 * 1024
_PACK_UPLOAD = re.compile(r"^/admin/hub/speciespack/add/?$")
_FORM_OVERHEAD_BYTES = 64 * 1024  # the form's other fields and the multipart boundaries


class AdminBodyGuard:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)  # ApiGuardMiddleware's business
        raw = request.META.get("CONTENT_LENGTH") or "0"
        # ASCII digits only: other Unicode digits ("²") pass isdigit() and fail int().
        declared = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
        if declared is None or declared > _limit(request):
            return HttpResponse("This request is too large.", status=413, content_type="text/plain")
        return self.get_response(request)


def _limit(request: HttpRequest) -> int:
    staff = bool(getattr(request.user, "is_staff", False))
    if staff and _PACK_UPLOAD.fullmatch(request.path_info):
        return MAX_ARCHIVE_BYTES + _FORM_OVERHEAD_BYTES
    return FORM_BODY_BYTES
