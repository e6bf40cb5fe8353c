"""Django settings for the hub, all from the environment (twelve-factor, stateless workers).

``DATABASE_URL``           PostgreSQL with pgvector (``jaga hub run`` sets it to the embedded
                           server when the operator gives none)
``REDIS_URL``              Redis as Django's cache (shared by all workers); else local memory,
                           one per worker process, and so are the registration and sign-in
                           limits' counts
``JAGA_HUB_SECRET_KEY``    Django's signing key (``jaga hub run`` keeps one in its data folder;
                           without it the WSGI entry point refuses to start, and anything
                           that would sign raises ``ImproperlyConfigured``)
``JAGA_HUB_ALLOWED_HOSTS`` comma-separated host names the hub answers to besides the
                           loopback names it always answers to (any other Host header: 400);
                           ``jaga hub run`` refuses to start without it. ``*`` (any name)
                           trusts the Host a request sends for the absolute URLs the hub builds
``JAGA_HUB_EF_SEARCH``     HNSW ``ef_search`` for template search (recall against latency)
``JAGA_HUB_MAX_CLOCK_SKEW_S`` how far ahead of the hub a device clock may stamp an edit
                           (or date a catch past both clocks: ``apply.catch_time``)
``JAGA_HUB_CODE_TTL_S``    lifetime of a one-time registration code
``JAGA_HUB_REGISTER_RATE`` registration attempts allowed per client (default ``30/minute``)
                           in each fixed window of that period; more are refused (429)
                           until the window ends
``JAGA_HUB_LOGIN_RATE``    failed admin sign-ins allowed per client and per user name
                           (default ``10/hour``) in each fixed window of that period (the
                           clock's whole hours for ``/hour``); more are refused, unchecked,
                           until the window ends
``JAGA_HUB_HTTPS``         ``1``: browsers reach the hub over https through a TLS reverse proxy
                           that sets ``X-Forwarded-Proto`` (packaging/nginx/jaga-hub.conf):
                           Secure session and CSRF cookies, HSTS, the proxy's word on the
                           scheme, and https origins of the allowed hosts trusted for CSRF
``JAGA_HUB_HSTS_SECONDS``  with ``JAGA_HUB_HTTPS``: how long browsers keep to https (default
                           a day: a mistake locks a browser out for that long at most)
``JAGA_HUB_TRUSTED_PROXIES`` reverse proxies in front of the hub (default 0): how many
                           ``X-Forwarded-For`` entries, from the right, were written by them;
                           the client's own header is never trusted beyond those
``JAGA_HUB_METRICS_TOKEN`` bearer token Prometheus scrapes ``/metrics`` with (16+ characters);
                           unset: ``/metrics`` is off
``JAGA_HUB_DECISION_KEEP_DAYS`` days the hub keeps kiosk access decisions (default 365; 0:
                           for ever): ``jaga hub purge-expired`` deletes older ones, by when
                           they happened and when the hub took them (``sync.hub.retention``)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from sync.hub.dburl import DatabaseUrlError, database_settings
from sync.protocol import MAX_AUDIT_BODY_BYTES

BASE_DIR = Path(__file__).resolve().parent


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Django's own fallback under DEBUG: names that reach only this machine.
LOOPBACK_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def operator_hosts(names: str) -> list[str]:
    """The comma-separated ``names`` the operator gave."""
    return [name.strip() for name in names.split(",") if name.strip()]


def allowed_hosts(names: str) -> list[str]:
    """The operator's ``names`` and always the loopback names, never any name unless told.

    Loopback always: a Prometheus on the hub's own host scrapes http://127.0.0.1:PORT/metrics
    (packaging/prometheus/jaga.yml) whatever public name the hub has. Safe: a client sending
    such a Host through the proxy reaches nothing the public name does not, and the URLs the
    hub builds for it point at loopback, not at a name of its choosing; a DNS-rebinding page
    sends its own name, still refused.
    """
    given = operator_hosts(names)
    return given + [name for name in LOOPBACK_HOSTS if name not in given]


def trusted_origins(hosts: list[str]) -> list[str]:
    """The https origins of ``hosts`` (``.example.org``: it and its subdomains), for the
    CSRF check of a browser that reached the hub through the TLS proxy; ``*`` adds none."""
    return [f"https://*{host}" if host.startswith(".") else f"https://{host}"
            for host in hosts if host != "*"]  # fmt: skip


# Empty without one: Django then refuses to sign anything, and wsgi.py to start. Commands
# that sign nothing (check, makemigrations) run without; `jaga hub` keeps one (bootstrap).
SECRET_KEY = os.environ.get("JAGA_HUB_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = allowed_hosts(os.environ.get("JAGA_HUB_ALLOWED_HOSTS", ""))

if os.environ.get("JAGA_HUB_HTTPS", "") == "1":
    # The hub listens on 127.0.0.1 only: the proxy, which sets this header on every request
    # (overwriting the client's), is the only one who can send it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _env_int("JAGA_HUB_HSTS_SECONDS", 24 * 3600)
    # The operator's names only: a browser on https://127.0.0.1 is not the proxy's.
    CSRF_TRUSTED_ORIGINS = trusted_origins(
        operator_hosts(os.environ.get("JAGA_HUB_ALLOWED_HOSTS", ""))
    )
    # No SECURE_SSL_REDIRECT: redirecting http is the proxy's job, and Prometheus on the
    # hub's own host scrapes it over plain http. No HSTS for subdomains, no preload: those
    # bind the whole domain, the operator's call.

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "sync.hub.apps.HubConfig",
]

MIDDLEWARE = [
    "sync.hub.metrics_http.MetricsMiddleware",  # first: it times and counts every answer
    "sync.hub.api.middleware.ApiGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sync.hub.admin_guard.AdminBodyGuard",  # after authentication: it asks who is posting
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The admin's messages are kept in the session (in the database), never in Django's default
# cookie, which is signed but readable by anyone who sees the browser's cookies or a
# plain-HTTP hop. One-time registration codes are never messages: they are shown on the
# answer that issued them and stored nowhere (sync.hub.admin.devices).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "sync.hub.urls"
WSGI_APPLICATION = "sync.hub.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Checked here, where every way in passes (gunicorn, django-admin, `jaga hub`): a URL that
# cannot be read, or hub.env.example's public placeholder password, is refused by name.
try:
    _DATABASE = database_settings(os.environ.get("DATABASE_URL", "postgresql://localhost/jaga"))
except DatabaseUrlError as error:
    raise ImproperlyConfigured(f"jaga hub: {error}") from None

DATABASES = {
    "default": {
        **_DATABASE,
        # Workers keep a connection between requests and check it first, so a restarted
        # PostgreSQL costs one reconnect instead of a failed request.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}


# Sign-in counters kept in memory per worker: about 340 bytes each (measured with
# tracemalloc), so some 32 MiB when full.
LIMITS_CACHE_ENTRIES = 100_000


# How long a request waits on Redis (to connect, or for an answer) before it fails.
REDIS_TIMEOUT_S = 5


def caches_for(redis_url: str) -> dict[str, dict[str, Any]]:
    """Redis (shared by every worker and hub) when configured, else per-process memory.

    The counters of the sign-in and registration limits (``sync.hub.throttle``) have an
    alias of their own (``limits``), in memory with far more room than Django's default 300
    entries: a full cache drops its least recently used third, and a dropped count is a lock
    lifted.
    """
    if redis_url:
        redis = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            # redis-py waits for ever by default: a Redis that takes connections and never
            # answers (a hung host, a half-open firewall) would hold every request that counts
            # a sign-in or notes a bad seal, each worker's threads one by one.
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_S,
                "socket_timeout": REDIS_TIMEOUT_S,
            },
        }
        return {"default": redis, "limits": dict(redis)}
    memory = "django.core.cache.backends.locmem.LocMemCache"
    return {
        "default": {"BACKEND": memory},
        "limits": {
            "BACKEND": memory,
            "LOCATION": "limits",  # a name of its own, or it would share the default's room
            "OPTIONS": {"MAX_ENTRIES": LIMITS_CACHE_ENTRIES},
        },
    }


CACHES = caches_for(os.environ.get("REDIS_URL", ""))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# The API checks sizes itself (413 with a reason, before the body is read); this is the
# backstop for bodies without a Content-Length.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["sync.hub.auth.DeviceTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Declared for the OpenAPI schema only: views validate raw bodies with sync.protocol.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "sync.hub.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Registration codes and admin passwords are guessable only by brute force: slow that
    # down per client (and, for failed admin sign-ins, per user name: sync.hub.admin.login),
    # counting each attempt atomically (sync.hub.throttle).
    "DEFAULT_THROTTLE_RATES": {
        "register": os.environ.get("JAGA_HUB_REGISTER_RATE", "30/minute"),
        "login": os.environ.get("JAGA_HUB_LOGIN_RATE", "10/hour"),
    },
    # Who "the client" is for those limits: unset, DRF believes any X-Forwarded-For header, so
    # a client rotating it would never be limited.
    "NUM_PROXIES": _env_int("JAGA_HUB_TRUSTED_PROXIES", 0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Jaga hub",
    "DESCRIPTION": "Device sync API of the Jaga hub (schemas: sync.protocol).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

JAGA_HUB_EF_SEARCH = _env_int("JAGA_HUB_EF_SEARCH", 100)
JAGA_HUB_MAX_CLOCK_SKEW_S = _env_int("JAGA_HUB_MAX_CLOCK_SKEW_S", 300)
JAGA_HUB_CODE_TTL_S = _env_int("JAGA_HUB_CODE_TTL_S", 24 * 3600)
JAGA_HUB_METRICS_TOKEN = os.environ.get("JAGA_HUB_METRICS_TOKEN", "")
# Bytes of audit entries (as sent: each entry's JSON) a device may add in any 24 hours, so a
# stolen token cannot grow the audit table without bound (sync.hub.audit_limit). An access
# decision's entry is some 510 bytes: 16 MiB is some 30,000 a day. At least one batch's
# body, or a device could never send its next batch.
JAGA_HUB_AUDIT_DAILY_BYTES = max(
    _env_int("JAGA_HUB_AUDIT_DAILY_BYTES", 16 * 1024 * 1024), MAX_AUDIT_BODY_BYTES
)
# Kiosk access decisions (who was let in or refused, where, when) are personal data: the
# hub keeps them a year by default (``sync.hub.retention``), a full cycle of the yearly
# audits, reviews of a site's access and disputes an access-control log is kept for, four
# times the 90 days a kiosk keeps them (``sync.store.retention``). 0 keeps them for ever.
JAGA_HUB_DECISION_KEEP_DAYS = max(_env_int("JAGA_HUB_DECISION_KEEP_DAYS", 365), 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("JAGA_HUB_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
