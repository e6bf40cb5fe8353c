"""A pulled change never changes the consent this device holds for a person.

The hub refuses a push that would change a recorded consent (``sync.hub.apply.people``);
a device keeps the same rule for what it pulls, so a hub that relays another consent (an
older hub, a buggy or hostile one) cannot keep someone here past their retention date.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from sync.store import Store
from sync.store.clock import format_timestamp
from tests.sync.client.fakehub import SITE, FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FakeClock, enrol
from tests.sync.hub import entries as e


def _retain_until(store: Store, person_uid: str) -> str:
    (row,) = store.database.query(
        "SELECT retain_until FROM people WHERE person_uid = ?", (person_uid,)
    )
    return str(row[0])


def test_a_pulled_change_cannot_extend_a_pulled_persons_consent(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    hub = FakeHub()
    person = e.person(SITE)
    person["consent"]["retain_until"] = format_timestamp(clock.now() + timedelta(days=1))
    hub.add_change("person", "upsert", person)
    client = client_of(store, hub)
    client.pull()
    caplog.set_level(logging.INFO, logger="sync.client.apply")
    later = format_timestamp(clock.now() + timedelta(days=7300))
    extended = {**person, "consent": {**person["consent"], "retain_until": later}}
    hub.add_change("person", "upsert", {**extended, "display_name": "Ana Again"})

    report = client.pull()

    uid = str(person["person_uid"])
    assert _retain_until(store, uid) == person["consent"]["retain_until"], "consent changed"
    assert (report.applied, report.skipped) == (0, 1)
    assert "its consent differs from the one held here" in caplog.text
    assert store.people.get(uid).display_name == "Ana Ruiz"  # nothing of it applied
    clock.moment += timedelta(days=2)
    assert store.people.expired(clock.now()) == [uid]


def test_a_pulled_change_cannot_change_the_consent_of_a_person_enrolled_here(
    store: Store, clock: FakeClock
) -> None:
    uid = enrol(store, clock, "B-1", seed=1)
    held = store.people.get(uid)
    hub = FakeHub()
    pulled = e.person(SITE, person_uid=uid, badge="B-1")  # another consent than enrolled
    hub.add_change("person", "upsert", pulled)

    report = client_of(store, hub).pull()

    assert report.skipped == 1 and store.people.get(uid).consent == held.consent


def test_a_pulled_change_with_the_consent_held_here_applies(store: Store) -> None:
    hub = FakeHub()
    person = e.person(SITE)
    hub.add_change("person", "upsert", person)
    client = client_of(store, hub)
    client.pull()
    hub.add_change("person", "upsert", {**person, "display_name": "Ana Again"})

    assert client.pull().applied == 1
    assert store.people.get(str(person["person_uid"])).display_name == "Ana Again"
