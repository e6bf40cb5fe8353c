"""The hub names itself (``HUB_ID_HEADER``) in its status, register and pull answers, by one
id kept in its database (``sync.hub.identity``): the same in every answer, and the same
again for a hub restored from a backup made before the id existed (its migration derives it
from when the hub's database was made, its first migration's row, which a restore carries
and nobody deletes). A backup made after it holds the row."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import psycopg
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.test import Client

from sync.hub.auth import create_device
from sync.hub.identity import derived_id, hub_id
from sync.hub.models import HubIdentity
from sync.protocol import HUB_ID_HEADER, PROTOCOL_VERSION
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_audit_retention import _pg, _restored_into_new_database
from tests.sync.hub.test_migrations import upgraded

__all__ = ["upgraded"]  # the fixture, used by name

BEFORE = ("hub", "0042_decision_purge_held_counted")


def test_status_register_and_pull_answers_name_the_same_hub(site_slug: str) -> None:
    client = Client()
    status = client.get("/api/v1/status")
    code = create_device(site_slug, "kiosk").code
    registered = client.post(
        "/api/v1/devices/register", {"code": code}, content_type="application/json"
    )
    token = registered.json()["token"]
    pulled = client.get(
        f"/api/v1/sites/{site_slug}/changes",
        {"protocol_version": PROTOCOL_VERSION},
        headers={"Authorization": f"Bearer {token}"},
    )

    named = {status[HUB_ID_HEADER], registered[HUB_ID_HEADER], pulled[HUB_ID_HEADER]}
    assert named == {str(hub_id())}
    assert "hub_id" not in registered.json()  # a header: an older device reads the body as before


def test_a_hub_restored_to_a_backup_before_the_id_is_given_the_same_id(upgraded: str) -> None:
    """Migrated back to 0042 (a backup made before the id) and up again: the same id.
    (Migrated up from nothing first, all the other apps with it: auth's permission names
    are only wide enough after its own later migrations.)"""
    migrated_to(upgraded)
    call_command("migrate", *BEFORE, database=upgraded, interactive=False, verbosity=0)
    apps = MigrationLoader(connections[upgraded]).project_state(BEFORE).apps
    apps.get_model("hub", "Site").objects.using(upgraded).create(slug="first-site")
    apps.get_model("hub", "Site").objects.using(upgraded).create(slug="a-later-site")

    def migrated_id() -> UUID:
        call_command("migrate", database=upgraded, interactive=False, verbosity=0)
        return UUID(str(HubIdentity.objects.using(upgraded).get().uid))

    first = migrated_id()
    call_command("migrate", *BEFORE, database=upgraded, interactive=False, verbosity=0)
    assert migrated_id() == first


def test_a_backup_made_before_its_oldest_site_was_deleted_gives_the_hub_the_same_id(
    upgraded: str,
) -> None:
    """The id a hub's migration derives does not hang on a site an admin may delete: a hub
    restored from a backup made before a site was deleted (before the id existed) names the
    id the live hub named, whose migration ran after the deletion. Before: derived from the
    oldest site, the two were other hubs to their devices."""
    migrated_to(upgraded)
    call_command("migrate", *BEFORE, database=upgraded, interactive=False, verbosity=0)
    sites = MigrationLoader(connections[upgraded]).project_state(BEFORE).apps
    sites = sites.get_model("hub", "Site").objects.using(upgraded)
    sites.create(slug="demo")
    sites.create(slug="north-gate")

    def migrated_id() -> UUID:
        call_command("migrate", database=upgraded, interactive=False, verbosity=0)
        return UUID(str(HubIdentity.objects.using(upgraded).get().uid))

    from_the_backup = migrated_id()
    call_command("migrate", *BEFORE, database=upgraded, interactive=False, verbosity=0)
    sites.filter(slug="demo").delete()  # the live hub, later: the demo site deleted
    assert migrated_id() == from_the_backup


def test_what_the_id_is_derived_from_is_carried_by_a_dump_and_restore(
    hub_database: str, tmp_path: Path
) -> None:
    """The hub's database dumped (``pg_dump``) and restored whole into another database
    derives the same id: ``django_migrations`` is carried as it is."""
    dump = tmp_path / "hub.dump"
    assert _pg("pg_dump", "-Fc", "-f", str(dump), "-d", hub_database).returncode == 0
    url, failed = _restored_into_new_database(dump, ("--single-transaction",))
    assert failed == "", failed
    with psycopg.connect(url) as restored:
        assert derived_id(restored) == derived_id(connections[DEFAULT_DB_ALIAS])
