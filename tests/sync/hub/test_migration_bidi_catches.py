"""0052: catches the hub took before the protocol refused bidirectional controls in them
lose those characters, are stamped by the hub and logged again, so every device gets them;
a hub at 0051 holding such a catch, migrated as a hub upgrading migrates."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from sync.hub.models import Change, FishObservation
from sync.protocol import FishObservationUpsert, parse_payload
from tests.sync.hub import entries as e
from tests.sync.hub.migrated import migrated_to
from tests.sync.hub.test_migrations import upgraded

__all__ = ["upgraded"]

BEFORE = ("hub", "0051_fish_photo_index")
OVERRIDDEN = {
    "vessel": "Sea \u202eratS",  # shown as "Sea Star", stored and matched as written
    "notes": "near the \u2066reef\u2069, \u200e42\u200e cm",  # an isolate, and marks
    "predictions": [["Gadus\u202d morhua", 0.9]],
    "trip": "\u202b",  # nothing but a control: no trip
}
CLEANED = {
    "vessel": "Sea ratS",
    "notes": "near the reef, \u200e42\u200e cm",  # free text keeps its marks
    "predictions": [["Gadus morhua", 0.9]],
    "trip": None,
}


def _catch(apps: Any, alias: str, site: Any, device: Any, cursor: int, **fields: Any) -> Any:
    """A catch as the hub before 0052 took it: its row, and its upsert in the site's log."""
    payload = e.observation(**fields)
    catch = apps.get_model("hub", "FishObservation").objects.using(alias).create(
        uid=payload["observation_uid"], site=site, device=device, observed_at=timezone.now(),
        officer=payload["officer"], vessel=payload["vessel"], trip=payload["trip"],
        notes=payload["notes"], predictions=payload["predictions"],
        field_versions={"vessel": ["2026-03-01T08:00:00.000000Z", str(device.uid)]},
    )  # fmt: skip
    apps.get_model("hub", "Change").objects.using(alias).create(
        site=site, cursor=cursor, entity="fish_observation", entity_uid=catch.uid,
        operation="upsert", payload=payload, origin_device=device,
    )  # fmt: skip
    return catch


def test_0052_takes_bidi_controls_out_of_stored_catches_and_logs_them_again(
    upgraded: str, caplog: pytest.LogCaptureFixture
) -> None:
    migrated_to(upgraded, ("auth",), BEFORE)
    apps = MigrationLoader(connections[upgraded]).project_state(BEFORE).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug="boats", last_cursor=2)
    device = (
        apps.get_model("hub", "Device")
        .objects.using(upgraded)
        .create(site=site, name="boat", uid=uuid.uuid4())
    )
    overridden = _catch(apps, upgraded, site, device, 1, **OVERRIDDEN)
    plain = _catch(apps, upgraded, site, device, 2, vessel="Gaviota", notes="\u200fRLM first")
    with caplog.at_level(logging.WARNING, logger="sync.hub.migrations"):
        call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    catch = FishObservation.objects.using(upgraded).get(uid=overridden.uid)
    held = {name: getattr(catch, name) for name in CLEANED}
    assert held == CLEANED, f"the catch still holds {held}"
    assert catch.field_versions["vessel"][1] == "hub" and catch.field_versions["notes"][1] == "hub"
    log = Change.objects.using(upgraded).filter(site__slug="boats").order_by("cursor")
    assert [(c.cursor, str(c.entity_uid)) for c in log] == [
        (1, str(overridden.uid)), (2, str(plain.uid)), (3, str(overridden.uid)),
    ]  # fmt: skip
    again = parse_payload("fish_observation", "upsert", log[2].payload)  # a device takes it
    assert isinstance(again, FishObservationUpsert) and again.vessel == "Sea ratS"
    assert (again.notes, again.trip, again.predictions[0][0]) == (
        CLEANED["notes"], None, "Gadus morhua",
    )  # fmt: skip
    assert log[2].origin_device is None  # the hub's edit
    assert FishObservation.objects.using(upgraded).get(uid=plain.uid).notes == "\u200fRLM first"
    (logged,) = [r.getMessage() for r in caplog.records if "0052" in r.getMessage()]
    assert str(overridden.uid) in logged and "'Sea \\u202eratS'" in logged, logged
    assert "notes, predictions, trip, vessel" in logged and "cursor 3" in logged, logged


def test_0052_leaves_an_officer_of_controls_alone_a_name_a_device_takes(upgraded: str) -> None:
    """The officer is required on the wire: one who was nothing but controls became no
    officer in the logged catch (None), which every device refused, and skipped."""
    migrated_to(upgraded, ("auth",), BEFORE)
    apps = MigrationLoader(connections[upgraded]).project_state(BEFORE).apps
    site = apps.get_model("hub", "Site").objects.using(upgraded).create(slug="deck", last_cursor=1)
    device = (
        apps.get_model("hub", "Device")
        .objects.using(upgraded)
        .create(site=site, name="boat", uid=uuid.uuid4())
    )
    nameless = _catch(apps, upgraded, site, device, 1, officer="\u202e\u2066")
    call_command("migrate", database=upgraded, interactive=False, verbosity=0)
    assert FishObservation.objects.using(upgraded).get(uid=nameless.uid).officer == "\\u202e\\u2066"
    last = Change.objects.using(upgraded).filter(site__slug="deck").order_by("cursor").last()
    assert last is not None and last.cursor == 2, "the catch was not logged again"
    again = parse_payload("fish_observation", "upsert", last.payload)  # a device takes it
    assert isinstance(again, FishObservationUpsert) and again.officer == "\\u202e\\u2066"
