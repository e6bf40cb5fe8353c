"""Refuse oversized API bodies before they are read; answer failures in JSON (503 while
the database is unavailable, so clients back off and retry; 400 for a body the network cut
short, or a request Django refuses as the client's); say the sha256 of every JSON answer
(``BODY_SHA256_HEADER``), so a device can tell an answer damaged on the way.

The limit depends on the endpoint (a photo chunk, a push batch, any other JSON body) and is
checked against ``Content-Length``, so a hostile client cannot make a worker buffer
megabytes just to be told no. Paths are judged as Django routes them (``path_info``, after
any ``SCRIPT_NAME`` prefix a proxy mounts the hub under), never with the prefix.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, UnreadablePostError

from sync.hub.api.errors import error_response, retry_after
from sync.protocol import (
    BODY_SHA256_HEADER,
    MAX_AUDIT_BODY_BYTES,
    MAX_CHUNK_BYTES,
    MAX_JSON_BODY_BYTES,
    MAX_PUSH_BODY_BYTES,
)

_log = logging.getLogger(__name__)
# The wait a 503 names while the database is away: long enough for a restart's or a
# failover's first seconds, short enough that a blip costs a device little. Every device is
# told the same number; each spreads its retry above it (``sync.client.backoff``).
DATABASE_RETRY_S = 5
_LIMITS = (
    (re.compile(r"^/api/v1/sites/[^/]+/uploads/[^/]+/?$"), MAX_CHUNK_BYTES),
    (re.compile(r"^/api/v1/sites/[^/]+/push/?$"), MAX_PUSH_BODY_BYTES),
    (re.compile(r"^/api/v1/sites/[^/]+/audit/?$"), MAX_AUDIT_BODY_BYTES),
)


def body_limit(path: str) -> int:
    for pattern, limit in _LIMITS:
        if pattern.fullmatch(path):
            return limit
    return MAX_JSON_BODY_BYTES


class ApiGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            refusal = self._refuse_body(request)
            if refusal is not None:
                return refusal
            return _with_sha256(self.get_response(request))
        return self.get_response(request)

    def _refuse_body(self, request: HttpRequest) -> HttpResponse | None:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        # ASCII digits only: other Unicode digits ("²") pass isdigit() and fail int().
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            return error_response(400, "bad_content_length", "Content-Length is not a number")
        limit = body_limit(request.path_info)
        if int(raw) > limit:
            return error_response(413, "too_large", f"this endpoint takes at most {limit} bytes")
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith("/api/"):
            return None
        refusal = _client_fault(request, exception)
        if refusal is not None:
            return refusal
        if isinstance(exception, OperationalError | InterfaceError):
            # The database is restarting, unreachable, or broke a lock cycle: nothing was
            # committed, and the same request will succeed later.
            _log.warning("database unavailable on %s %s: %s", request.method, request.path,
                         exception)  # fmt: skip
            response = error_response(503, "database_unavailable", "the hub's database is "
                                      "unavailable; retry later")  # fmt: skip
            response["Retry-After"] = retry_after(DATABASE_RETRY_S)
            return response
        _log.exception("hub bug on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the hub failed; this is a bug, not you")


def _with_sha256(response: HttpResponse) -> HttpResponse:
    """A JSON answer with the sha256 of its body (not a streamed pack file: it has an ETag)."""
    is_json = response.get("Content-Type", "").startswith("application/json")
    if is_json and not response.streaming:
        response[BODY_SHA256_HEADER] = hashlib.sha256(response.content).hexdigest()
    return response


def _client_fault(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """400 for what the request itself did, which Django raises while a view reads it: a
    body the network cut short, or what Django refuses as a client's (too many fields);
    None for anything else. Not a hub bug, whatever the catch-all would say."""
    if isinstance(exception, UnreadablePostError):
        _log.warning("body cut short on %s %s: %s", request.method, request.path, exception)
        return error_response(400, "unreadable_body", "the body was cut short; send it again")
    if isinstance(exception, SuspiciousOperation | BadRequest):
        _log.warning("bad request on %s %s: %s", request.method, request.path, exception)
        return error_response(400, "bad_request", str(exception)[:200] or "a bad request")
    return None
