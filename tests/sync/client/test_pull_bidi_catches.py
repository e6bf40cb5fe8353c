"""A catch the hub took before the protocol refused bidirectional controls (an older hub,
an older device) is skipped by every device that pulls it, for good; once the hub's
migration 0052 has taken the characters out, the next pull brings it, clean.

A real hub process on the session's PostgreSQL and real devices; the catch is stored the
way the old hub stored it (its row and its logged upsert, past today's validation), and
the migration's code runs on that database, as ``migrate`` runs it on an upgrading hub.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import httpx
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, transaction

from sync.hub.models import Change, FishObservation
from tests.sync.client.devices import add_observations, new_device
from tests.sync.hub.hubkit import HubProcess

VESSEL = "Sea \u202eratS"  # shown as "Sea Star" in the admin, stored as written
NOTES = "near the \u2066reef\u2069, \u200e42\u200e cm"


def _stored_as_the_old_hub_did(uid: str) -> None:
    """The catch's row and its upsert holding the controls, as the hub took them then."""
    FishObservation.objects.filter(uid=uid).update(vessel=VESSEL, notes=NOTES)
    for change in Change.objects.filter(entity="fish_observation", entity_uid=uid):
        change.payload = change.payload | {"vessel": VESSEL, "notes": NOTES}
        change.save(update_fields=["payload"])


def _migrate_0052() -> int:
    migration = importlib.import_module("sync.hub.migrations.0052_catch_text_without_bidi_controls")
    with transaction.atomic():  # as ``migrate`` runs it: one transaction
        return int(migration.clean_catches(apps, DEFAULT_DB_ALIAS))


def test_a_catch_stored_with_bidi_controls_reaches_devices_once_the_hub_cleans_it(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    writer = new_device(tmp_path, live_hub.url, site_slug, "writer")
    reader = new_device(tmp_path, live_hub.url, site_slug, "reader")
    with writer.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "overridden")
        assert writer.client(store, http).sync_once().push.acknowledged == 1
    _stored_as_the_old_hub_did(uid)
    with reader.open() as store, httpx.Client() as http:
        client = reader.client(store, http)
        skipped = client.sync_once().pull
        assert (skipped.applied, skipped.skipped) == (0, 1), skipped  # the defect
        assert _migrate_0052() >= 1
        assert FishObservation.objects.get(uid=uid).vessel == "Sea ratS"
        pulled = client.sync_once().pull
        assert pulled.applied == 1 and not pulled.skipped, pulled
        held = store.observations.get(uid)
        assert (held.vessel, held.notes) == ("Sea ratS", "near the reef, \u200e42\u200e cm")
    with writer.open() as store, httpx.Client() as http:
        writer.client(store, http).sync_once()  # its own catch comes back, the hub's edit
        assert store.observations.get(uid).vessel == "Sea ratS"
