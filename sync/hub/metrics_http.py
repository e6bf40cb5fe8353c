"""``GET /metrics`` for Prometheus, behind a bearer token; the middleware that times requests.

Who may read: whoever holds ``JAGA_HUB_METRICS_TOKEN`` (Prometheus sends it with
``authorization: credentials_file``). The figures name sites and say how busy each one is,
so the endpoint is off (403) until a token of at least ``MIN_TOKEN_LENGTH`` characters is
configured (not hub.env.example's ``CHANGE-ME`` placeholder, which is public), and a
scrape without it is 401. Device tokens do not open it: a device sees only
its own site, these figures span all of them.

Under ``jaga hub run`` every worker writes its counts to one shared folder and any worker's
answer adds them all up (``sync.hub.metrics``); under a server that set no
``PROMETHEUS_MULTIPROC_DIR`` a worker answers with its own counts (and its process's
memory and CPU figures), which is exact only with a single worker process.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_safe

from sync.hub.api.errors import error_response
from sync.hub.example_env import METRICS_TOKEN_PLACEHOLDER, is_placeholder
from sync.hub.metrics import observe_request

MIN_TOKEN_LENGTH = 16
UNMATCHED = "unmatched"
# The admin has dozens of URL patterns and static files one for each path: one label each.
_COLLAPSED = (("admin/", "admin/"), ("^static/", "static/"))
_log = logging.getLogger(__name__)


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot guard the metrics, or None when it can."""
    if not token:
        return "metrics are off: set JAGA_HUB_METRICS_TOKEN on the hub to turn them on"
    if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        return (
            f"JAGA_HUB_METRICS_TOKEN must be at least {MIN_TOKEN_LENGTH} printable ASCII"
            " characters; metrics stay off until it is"
        )
    if is_placeholder(token, METRICS_TOKEN_PLACEHOLDER):
        return (
            "JAGA_HUB_METRICS_TOKEN is still hub.env.example's placeholder, which anyone can"
            " read; metrics stay off until it is a random one"
            " (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return None


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request, settings.JAGA_HUB_METRICS_TOKEN)
    if refusal is not None:
        return refusal
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _refusal(request: HttpRequest, token: str) -> HttpResponse | None:
    problem = token_problem(token)
    if problem is not None:
        return error_response(403, "metrics_off", problem)
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode()
    ):
        return None
    response = error_response(401, "not_authenticated", "send the hub's metrics token as Bearer")
    response["WWW-Authenticate"] = 'Bearer realm="jaga-hub-metrics"'
    return response


def exposition() -> bytes:
    """Every worker's counts (or this process's), then the database's figures."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from sync.hub.metrics_db import DatabaseCollector
    from sync.hub.metrics_journal import JournalCollector

    counts = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # A registry per scrape, as prometheus_client asks: it reads every worker's files.
        counts = CollectorRegistry()
        MultiProcessCollector(counts)  # type: ignore[no-untyped-call]  # untyped upstream
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    database.register(JournalCollector())
    return generate_latest(counts) + generate_latest(database)


class MetricsMiddleware:
    """Counts and times every request; first in the chain, so refusals count too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        try:
            observe_request(endpoint_of(request), request.method or "", response.status_code,
                            elapsed)  # fmt: skip
        except Exception:  # a metrics bug must never cost a device its answer
            _log.exception("counting a request failed")
        return response


def endpoint_of(request: HttpRequest) -> str:
    """The URL pattern that serves the request (bounded, unlike the path)."""
    match = request.resolver_match
    if match is None:  # refused before the URL was resolved (a body too large, say)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    route = str(match.route)
    for prefix, label in _COLLAPSED:
        if route.startswith(prefix):
            return label
    return route
