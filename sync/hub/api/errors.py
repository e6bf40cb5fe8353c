"""Every refusal as an ``ErrorBody`` JSON: DRF's exceptions, ours, and Django's 404.

Codes a client acts on: a 401/403 pauses sync only with one of
``sync.protocol.AUTH_ERROR_CODES`` (``unknown_token``, ``device_revoked``, ...: a new 401/403
code goes there too, or devices take it for a captive portal's page); a 413 splits a push
only with ``too_large``; ``offset_mismatch`` (409) resumes an upload.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions
from rest_framework.response import Response

from sync.hub.errors import HubError
from sync.protocol import ErrorBody


def error_body(error: str, reason: str, expected_offset: int | None = None) -> dict[str, Any]:
    body = ErrorBody(error=error, reason=reason, expected_offset=expected_offset)
    return body.model_dump(mode="json", exclude_none=True)


def error_response(status: int, error: str, reason: str) -> JsonResponse:
    return JsonResponse(error_body(error, reason), status=status)


def retry_after(wait_s: float) -> str:
    """``Retry-After`` for a wait of ``wait_s`` seconds: whole seconds rounded up, at least
    one. Rounded down, a lock ending within the second would say 0, and a device told 0
    comes straight back into the same lock."""
    return str(max(1, math.ceil(wait_s)))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's hook: our errors and DRF's become ``ErrorBody``; anything else is a bug (500)."""
    if isinstance(exc, HubError):
        return Response(error_body(exc.error, exc.reason, exc.expected_offset), status=exc.status)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = retry_after(exc.wait)
        reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(
            error_body(str(exc.default_code), reason), status=exc.status_code, headers=headers
        )
    return None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON 404 under /api/, Django's page elsewhere (the admin)."""
    if request.path_info.startswith("/api/"):
        return error_response(404, "not_found", f"no such endpoint: {request.path[:200]}")
    return page_not_found(request, exception or Exception("not found"))
