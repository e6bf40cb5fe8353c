"""A person the hub took before the protocol refused hidden characters in names (an older
hub, an older kiosk) is skipped by every device that pulls them, and their templates with
them, for good; once the hub's migration 0055 has taken the characters out, the next pull
brings the person, clean, and their templates.

A real hub process on the session's PostgreSQL and real devices; the person is stored the
way the old hub stored them (their row and their logged upsert, past today's validation),
and the migration's code runs on that database, as ``migrate`` runs it on an upgrading hub.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import httpx
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, transaction

from sync.hub.models import Change, Person
from sync.store import Store
from tests.sync.client.devices import enrol, new_device
from tests.sync.hub.hubkit import HubProcess

NAME = "Ana \u202eziuR"  # shown as "Ana Ruiz" in the admin, stored as written
OPERATOR = "officer-7\x1b[31m"  # a terminal's escape


def _enrolled_by_an_older_release(store: Store, uid: str) -> None:
    """The kiosk's own copy of the person as a release before the rule enrolled them."""
    with store.database.write() as connection:
        connection.execute(
            "UPDATE people SET display_name = ?, consent_operator = ? WHERE person_uid = ?",
            (NAME, OPERATOR, uid),
        )


def _stored_as_the_old_hub_did(uid: str) -> None:
    """The person's row and upsert holding the characters, as the hub took them then."""
    person = Person.objects.get(uid=uid)
    person.display_name, person.consent = NAME, person.consent | {"operator": OPERATOR}
    person.save(update_fields=["display_name", "consent"])
    for change in Change.objects.filter(entity="person", entity_uid=uid):
        consent = change.payload["consent"] | {"operator": OPERATOR}
        change.payload = change.payload | {"display_name": NAME, "consent": consent}
        change.save(update_fields=["payload"])


def _migrate_0055() -> dict[str, int]:
    migration = importlib.import_module("sync.hub.migrations.0055_names_without_hidden_characters")
    with transaction.atomic():  # as ``migrate`` runs it: one transaction
        return dict(migration.clean_names(apps, DEFAULT_DB_ALIAS))


def test_a_person_stored_with_hidden_characters_reaches_devices_once_the_hub_cleans_them(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    kiosk = new_device(tmp_path, live_hub.url, site_slug, "kiosk")
    reader = new_device(tmp_path, live_hub.url, site_slug, "reader")
    with kiosk.open() as store, httpx.Client() as http:
        uid = enrol(store, site_slug, "B-1", seed=1)
        assert kiosk.client(store, http).sync_once().push.acknowledged == 2  # person, template
        _enrolled_by_an_older_release(store, uid)
    _stored_as_the_old_hub_did(uid)
    with reader.open() as store, httpx.Client() as http:
        client = reader.client(store, http)
        skipped = client.sync_once().pull
        assert (skipped.applied, skipped.skipped) == (0, 2), skipped  # the defect
        assert _migrate_0055().get("person") == 1
        assert Person.objects.get(uid=uid).display_name == "Ana ziuR"
        pulled = client.sync_once().pull
        assert pulled.applied == 2 and not pulled.skipped, pulled  # the person, the template
        held = store.people.get(uid)
        assert (held.display_name, held.consent.operator) == ("Ana ziuR", "officer-7[31m")
        assert [count for person, count in store.people.listing()] == [1]
    with kiosk.open() as store, httpx.Client() as http:
        pulled = kiosk.client(store, http).sync_once().pull  # its own person, the hub's edit
        assert not pulled.skipped, pulled  # the same consent, as the hub cleaned it
        held = store.people.get(uid)
        assert (held.display_name, held.consent.operator) == ("Ana ziuR", "officer-7[31m")
