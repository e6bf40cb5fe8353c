"""Pulling: each page and the cursor commit together; tombstones erase; the hub is
authoritative, but an erasure made here is never undone by an older upsert."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.client import HubUnavailableError
from sync.client import apply as apply_module
from sync.client.packs import announced_pack
from sync.client.site_state import PULLED_STATE_NAMES, cursor_name, log_tip_name
from sync.client.state import (
    put_values,
    read_cursor,
    read_values,
    record_species_pack,
    save_registration,
)
from sync.protocol import RETENTION_REASON, PullResult, SpeciesPackPublished, format_timestamp
from sync.store import FishObservation, ModelRef, Passphrase, PredictionStatus, Store
from sync.store.backups import backup, restore
from sync.store.records import Crop
from sync.store.resend import decisions_name
from tests.sync.client.fakehub import DEVICE, SITE, FakeHub, Fault, registration
from tests.sync.client.units import SMALL, client_of, states
from tests.sync.conftest import FAST, FakeClock, enrol, random_vector
from tests.sync.hub import entries as e
from tests.sync.test_store_outbox import acknowledge_all

MODEL = ModelRef("dlib-resnet-128", "1")


def hub_with_person(hub: FakeHub, badge: str = "B-1", seed: int = 1) -> str:
    person = e.person(SITE, badge=badge)
    hub.add_change("person", "upsert", person)
    hub.add_change(
        "face_template", "upsert", e.template(person["person_uid"], random_vector(seed).tolist())
    )
    return str(person["person_uid"])


def test_pulled_records_are_applied_without_outbox_entries(store: Store) -> None:
    hub = FakeHub()
    person = hub_with_person(hub)
    observation = e.observation(confirmed_species="Gadus morhua", needs_review=False)
    hub.add_change("fish_observation", "upsert", observation)
    report = client_of(store, hub).pull()
    assert (report.applied, report.skipped, report.cursor) == (3, 0, 3)
    assert store.people.get(person).display_name == "Ana Ruiz"
    assert len(store.gallery(MODEL)) == 1
    pulled = store.observations.get(observation["observation_uid"])
    assert pulled.confirmed_species == "Gadus morhua" and pulled.position is not None
    assert states(store) == {}  # nothing to push back
    assert read_cursor(store.database, SITE) == 3


def test_a_hub_correction_replaces_the_devices_fields(store: Store) -> None:
    hub = FakeHub()
    observation = e.observation()
    hub.add_change("fish_observation", "upsert", observation)
    client = client_of(store, hub)
    client.pull()
    corrected = {**observation, "confirmed_species": "Lutjanus synagris", "needs_review": False}
    hub.add_change("fish_observation", "upsert", corrected)
    assert client.pull().applied == 1
    assert store.observations.get(observation["observation_uid"]).confirmed_species == (
        "Lutjanus synagris"
    )
    assert store.observations.review_queue() == []


def test_a_pulled_catch_is_another_boats_unless_this_device_sent_it(store: Store) -> None:
    """The review list on deck is this device's own flagged catches (``recorded_here``).
    Another boat's, or the hub's, are pulled; one this device sent itself comes back after a
    restore from an older backup and is its own; an edit pulled later keeps the origin."""
    hub, other_boat = FakeHub(), uuid.uuid4()
    own = store.observations.add(
        FishObservation(store.clock.now(), (), needs_review=True, officer="o-7", notes="own")
    )
    theirs, restored, hubs = (e.observation(notes=n) for n in ("theirs", "restored", "hub's"))
    hub.add_change("fish_observation", "upsert", theirs, origin=other_boat)
    hub.add_change("fish_observation", "upsert", restored, origin=DEVICE)
    hub.add_change("fish_observation", "upsert", hubs)
    echoed = {**e.observation(own.observation_uid), "notes": "own, edited on the hub"}
    hub.add_change("fish_observation", "upsert", echoed, origin=other_boat)
    client = client_of(store, hub)
    client.pull()
    here = {o.notes: o.recorded_here for o in store.observations.review_queue(include_pulled=True)}
    assert here == {"theirs": False, "restored": True, "hub's": False, echoed["notes"]: True}
    hub.add_change("fish_observation", "upsert", theirs | {"notes": "theirs, 2"}, origin=DEVICE)
    client.pull()
    assert not store.observations.get(theirs["observation_uid"]).recorded_here
    mine = [o.notes for o in store.observations.review_queue()]
    assert sorted(mine) == sorted(["restored", echoed["notes"]])


def test_a_pulled_pack_version_is_kept_and_a_change_without_one_leaves_it(store: Store) -> None:
    hub = FakeHub()
    observation = e.observation(pack_version="f4k-7")
    uid = observation["observation_uid"]
    hub.add_change("fish_observation", "upsert", observation)
    client = client_of(store, hub)
    client.pull()
    assert store.observations.get(uid).pack_version == "f4k-7"
    # A change the hub logged before it knew the field: it says nothing of the pack.
    logged_before = {k: v for k, v in observation.items() if k != "pack_version"}
    hub.add_change("fish_observation", "upsert", logged_before | {"notes": "gill net"})
    assert client.pull().applied == 1
    assert (store.observations.get(uid).notes, store.observations.get(uid).pack_version) == (
        "gill net",
        "f4k-7",
    )
    hub.add_change("fish_observation", "upsert", observation | {"pack_version": "f4k-8"})
    client.pull()
    assert store.observations.get(uid).pack_version == "f4k-8"
    new = e.observation()  # first seen without the field: no pack known
    hub.add_change("fish_observation", "upsert", new)
    client.pull()
    assert store.observations.get(new["observation_uid"]).pack_version is None
    assert states(store) == {}


def test_a_pulled_box_is_kept_and_a_change_without_one_leaves_it(store: Store) -> None:
    hub = FakeHub()
    observation = e.observation(crop=[0, 5, 40, 30])
    uid = observation["observation_uid"]
    hub.add_change("fish_observation", "upsert", observation)
    client = client_of(store, hub)
    client.pull()
    assert store.observations.get(uid).crop == Crop(0, 5, 40, 30)
    logged_before = {k: v for k, v in observation.items() if k != "crop"}
    hub.add_change("fish_observation", "upsert", logged_before | {"notes": "gill net"})
    assert client.pull().applied == 1
    assert (store.observations.get(uid).notes, store.observations.get(uid).crop) == (
        "gill net",
        Crop(0, 5, 40, 30),
    )
    hub.add_change("fish_observation", "upsert", observation | {"crop": None})
    client.pull()
    assert store.observations.get(uid).crop is None  # sent as None: the whole photo
    assert states(store) == {}


def test_a_catch_first_pulled_without_its_box_is_confirmed_without_one(store: Store) -> None:
    """A change without ``crop`` (as protocol 2 carries it, or logged before the hub knew
    boxes) does not tell the box: the catch holds none it knows, and the officer's
    confirmation leaves it out, where "the whole photo" would reset it for everyone. A
    change that says the whole photo is a box known."""
    hub = FakeHub()
    observation = e.observation(crop=[0, 5, 40, 30])
    uid = observation["observation_uid"]
    hub.add_change("fish_observation", "upsert", {k: v for k, v in observation.items()
                                                  if k != "crop"})  # fmt: skip
    client = client_of(store, hub)
    client.pull()
    pulled = store.observations.get(uid)
    assert (pulled.crop, pulled.crop_known) == (None, False)
    store.observations.confirm(uid, "Lutjanus synagris", officer="officer-9")
    assert "crop" not in store.outbox.entries()[-1].payload()
    # Pushed, as a sync does before it pulls: a change pulled while the confirmation waits
    # would not replace it (the fake hub dates every change before it).
    acknowledge_all(store)
    hub.add_change("fish_observation", "upsert", observation)
    client.pull()
    assert store.observations.get(uid).crop == Crop(0, 5, 40, 30)  # told at last
    hub.add_change("fish_observation", "upsert", observation | {"crop": None})
    client.pull()
    told = store.observations.get(uid)
    assert (told.crop, told.crop_known) == (None, True)
    store.observations.confirm(uid, "Lutjanus synagris", officer="officer-9")
    assert store.outbox.entries()[-1].payload()["crop"] is None


def test_a_pulled_verdict_is_kept_and_a_change_without_one_leaves_it(store: Store) -> None:
    hub = FakeHub()
    blank: dict[str, Any] = {
        "predictions": [],
        "status": "no_fish",
        "status_reason": "image is blank",
    }
    observation = e.observation(**blank)
    uid = observation["observation_uid"]
    hub.add_change("fish_observation", "upsert", observation)
    client = client_of(store, hub)
    client.pull()
    pulled = store.observations.get(uid)
    assert (pulled.status, pulled.status_reason) == (PredictionStatus.NO_FISH, "image is blank")
    # A change the hub logged before it knew the fields: it says nothing of the verdict.
    logged_before = {k: v for k, v in observation.items() if k not in blank or k == "predictions"}
    hub.add_change("fish_observation", "upsert", logged_before | {"notes": "gill net"})
    assert client.pull().applied == 1
    kept = store.observations.get(uid)
    assert (kept.notes, kept.status, kept.status_reason) == (
        "gill net",
        "no_fish",
        "image is blank",
    )
    unknown = {"predictions": [["Gadus morhua", 0.4]], "status": "unknown", "status_reason": None}
    hub.add_change("fish_observation", "upsert", observation | unknown)
    client.pull()
    again = store.observations.get(uid)
    assert (again.status, again.status_reason) == (PredictionStatus.UNKNOWN, None)
    new = e.observation()  # first seen without the fields: no verdict known
    hub.add_change("fish_observation", "upsert", new)
    client.pull()
    assert store.observations.get(new["observation_uid"]).status is None
    assert states(store) == {}


def test_a_hub_review_is_recorded_here_with_its_reviewer(store: Store) -> None:
    hub = FakeHub()
    observation = e.observation()  # as the hub sends an unreviewed one: no reviewer keys
    hub.add_change("fish_observation", "upsert", observation)
    client = client_of(store, hub)
    client.pull()
    uid = observation["observation_uid"]
    unreviewed = store.observations.get(uid)
    assert (unreviewed.reviewed_by, unreviewed.reviewed_at) == (None, None)
    reviewed = {
        **observation,
        "confirmed_species": "Lutjanus synagris",
        "needs_review": False,
        "reviewed_by": "hub-reviewer",
        "reviewed_at": "2026-03-02T09:30:00.000000Z",
    }
    hub.add_change("fish_observation", "upsert", reviewed)
    assert client.pull().applied == 1
    pulled = store.observations.get(uid)
    assert (pulled.confirmed_species, pulled.reviewed_by) == ("Lutjanus synagris", "hub-reviewer")
    assert pulled.reviewed_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert states(store) == {}


def test_a_tombstone_erases_the_person_here(store: Store, clock: FakeClock) -> None:
    person = enrol(store, clock, "B-2", seed=2)
    hub = FakeHub()
    client = client_of(store, hub)
    client.push()
    hub.add_change("person", "tombstone", e.tombstone(person))
    report = client.pull()
    assert report.erased == 1
    assert store.people.count() == 0 and len(store.gallery(MODEL)) == 0
    last = store.audit.entries()[-1]
    assert (last.action, last.actor, last.subject) == ("person.erased", "hub", person)
    payloads = [entry.payload() for entry in store.outbox.entries()]
    assert all(p == {"erased": True} for p in payloads)  # no personal data left in the outbox


def test_an_older_upsert_cannot_bring_back_a_person_erased_here(
    store: Store, clock: FakeClock
) -> None:
    person = enrol(store, clock, "B-3", seed=3)
    store.people.erase(person, operator="officer-7", reason="request")
    hub = FakeHub()
    hub.add_change("person", "upsert", e.person(SITE, person_uid=person, badge="B-3"))
    report = client_of(store, hub).pull()
    assert report.skipped == 1 and store.people.count() == 0


def test_what_cannot_apply_here_is_skipped_and_the_rest_applied(
    store: Store, clock: FakeClock
) -> None:
    enrol(store, clock, "B-4", seed=4)
    hub = FakeHub()
    hub.add_change("person", "upsert", e.person(SITE, badge="B-4"))  # another person, same badge
    hub.add_change("face_template", "upsert", e.template(e.uid(), random_vector(5).tolist()))
    hub.add_change("access_event", "upsert", e.access_event(SITE))  # not kept from the hub
    hub.add_change("fish_observation", "upsert", {"observation_uid": e.uid()})  # malformed
    hub.add_change("fish_observation", "upsert", e.observation())
    report = client_of(store, hub).pull()
    assert (report.applied, report.skipped, report.set_aside, report.cursor) == (1, 3, 1, 5)
    assert store.observations.count() == 1


def test_a_page_that_fails_midway_leaves_records_and_cursor_untouched(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = FakeHub()
    hub_with_person(hub)
    hub.add_change("species_pack", "publish", {"version": "v2", "sha256": "0" * 64, "byte_size": 9})

    def explode(*_: object) -> None:
        raise RuntimeError("disk pulled out mid-page")

    handlers = dict(apply_module._HANDLERS)
    handlers[next(k for k in handlers if k.__name__ == "SpeciesPackPublished")] = explode
    monkeypatch.setattr(apply_module, "_HANDLERS", handlers)
    with pytest.raises(RuntimeError):
        client_of(store, hub).pull()
    assert store.people.count() == 0 and read_cursor(store.database, SITE) == 0


def test_pages_are_pulled_until_the_hub_has_no_more(store: Store) -> None:
    hub = FakeHub()
    for _ in range(25):
        hub.add_change("fish_observation", "upsert", e.observation())
    tuning = replace(SMALL, pull_limit=10)
    report = client_of(store, hub, tuning).pull()
    assert (report.pages, report.applied, report.cursor) == (3, 25, 25)


def test_a_page_that_would_move_the_cursor_back_is_refused(store: Store) -> None:
    hub = FakeHub()
    hub.add_change("fish_observation", "upsert", e.observation())
    client = client_of(store, hub)
    client.pull()
    stale = PullResult(changes=hub.changes, next_cursor=1, has_more=False)  # again after 1
    hub.faults.append(Fault("changes", body=stale.model_dump_json().encode()))
    with pytest.raises(HubUnavailableError, match="after"):
        client.pull()
    looping = PullResult(changes=[], next_cursor=1, has_more=True)
    hub.faults.append(Fault("changes", body=looping.model_dump_json().encode()))
    with pytest.raises(HubUnavailableError, match="does not follow"):
        client.pull()
    assert read_cursor(store.database, SITE) == 1


def _set_aside_of(store: Store, person: str) -> list[str]:
    rows = store.database.query(
        "SELECT entity_uid FROM deferred_changes WHERE person_uid = ?", (person,)
    )
    return [str(row[0]) for row in rows]


def test_the_erasure_of_a_person_held_only_set_aside_is_recorded_and_purged(
    store: Store, clock: FakeClock
) -> None:
    """The hub erases a person this device set aside (their badge is held here): their
    name and face vector leave the store's files at once, and the erasure is in the audit
    trail, which is what a restore carries over."""
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    client = client_of(store, hub)
    assert client.pull().set_aside == 2
    hub.add_change("person", "tombstone", e.tombstone(person))
    report = client.pull()
    assert report.erased == 1 and _set_aside_of(store, person) == []
    erased = [a for a in store.audit.entries() if a.action == "person.erased"]
    assert [(a.actor, a.subject) for a in erased] == [("hub", person)]
    assert json.loads(erased[0].details_json)["set_aside_removed"] == 2
    assert store.database.owed_purge_since() is None  # purged, not only owed


def _set_aside_person(hub: FakeHub, badge: str, retain_until: datetime) -> str:
    person = e.person(SITE, badge=badge)
    person["consent"]["retain_until"] = format_timestamp(retain_until)
    hub.add_change("person", "upsert", person)
    return str(person["person_uid"])


def test_the_retention_purge_erases_set_aside_people_past_their_retention_too(
    store: Store, clock: FakeClock
) -> None:
    """Pulled people set aside here (their badges held by someone else) keep a name, a badge
    and, with their templates, a face vector. Offline, no hub tombstone can come: the kiosk's
    own retention purge erases those past retention as it erases the people it holds
    (audit entry, tombstone, purge), and keeps the others."""
    enrol(store, clock, "B-1", seed=1)
    enrol(store, clock, "B-2", seed=2)
    hub = FakeHub()
    ending = _set_aside_person(hub, "B-1", clock.now() + timedelta(days=1))
    hub.add_change("face_template", "upsert", e.template(ending, random_vector(3).tolist()))
    staying = _set_aside_person(hub, "B-2", clock.now() + timedelta(days=30))
    assert client_of(store, hub).pull().set_aside == 3
    clock.moment += timedelta(days=2)
    assert store.people.expired(clock.now()) == [ending]
    assert store.people.purge_expired() == [ending]
    assert _set_aside_of(store, ending) == [] and _set_aside_of(store, staying) == [staying]
    erased = [a for a in store.audit.entries() if a.action == "person.erased"]
    assert [(a.actor, a.subject) for a in erased] == [("retention", ending)]
    details = json.loads(erased[0].details_json)
    assert (details["set_aside_removed"], details["reason"]) == (2, RETENTION_REASON)
    assert [t.entity_uid for t in store.outbox.tombstones()] == [ending]
    assert store.database.owed_purge_since() is None


def test_an_operator_can_erase_a_person_held_only_set_aside(store: Store, clock: FakeClock) -> None:
    """``jaga people erase`` of a person this kiosk set aside erases them here, records it
    and queues the tombstone, as for anyone it holds (it raised "no person" before)."""
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    assert client_of(store, hub).pull().set_aside == 2
    assert store.people.erase(person, operator="dpo", reason="subject request")
    assert _set_aside_of(store, person) == []
    erased = [a for a in store.audit.entries() if a.action == "person.erased"]
    assert [(a.actor, a.subject) for a in erased] == [("dpo", person)]
    assert [t.entity_uid for t in store.outbox.tombstones()] == [person]


def test_a_restore_does_not_bring_back_a_set_aside_person_erased_since_the_backup(
    store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    client = client_of(store, hub)
    client.pull()
    copy = tmp_path / "backup.db"
    backup(store, copy, operator="ops")
    hub.add_change("person", "tombstone", e.tombstone(person))
    client.pull()
    path = store.path
    store.close()
    restored = restore(copy, path, passphrase, operator="ops", force=True, clock=clock,
                       config=FAST)  # fmt: skip
    assert restored.erasures_carried == 1
    with Store.open(path, passphrase, clock=clock, config=FAST) as reopened:
        assert _set_aside_of(reopened, person) == []
        carried = [a for a in reopened.audit.entries() if a.action == "person.erased"]
        assert [a.subject for a in carried] == [person]  # kept for a later restore too


def test_set_aside_changes_of_the_site_a_device_left_are_dropped_when_it_registers_elsewhere(
    store: Store, clock: FakeClock
) -> None:
    """Set-aside changes are tried again only for the site the device belongs to: moved to
    another site, they would keep a name and a face vector here for ever."""
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    client_of(store, hub).pull()
    now = clock.now()
    save_registration(store.database, registration(), now, send_face_images=False)
    assert len(_set_aside_of(store, person)) == 2  # registered again to the same site: kept
    moved = replace(registration(), site="another-site")
    save_registration(store.database, moved, now, send_face_images=False)
    assert _set_aside_of(store, person) == []
    assert store.database.owed_purge_since() is None


def test_a_device_moved_to_another_site_and_back_pulls_the_dropped_set_aside_changes_again(
    store: Store, clock: FakeClock
) -> None:
    """Dropping a site's set-aside changes also forgets that site's pull cursor: registered
    back to it, the device pulls it from the start, and the person applies once the badge
    clash is gone (with the cursor kept, their changes were behind it for good)."""
    holder = enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    client = client_of(store, hub)
    assert client.pull().set_aside == 2 and read_cursor(store.database, SITE) == 2
    now = clock.now()
    save_registration(store.database, replace(registration(), site="another-site"), now,
                      send_face_images=False)  # fmt: skip
    assert read_cursor(store.database, SITE) == 0
    save_registration(store.database, registration(), now, send_face_images=False)
    store.people.erase(holder, operator="ops", reason="subject request")  # the clash goes
    client = client_of(store, hub)  # registered again: a client made before syncs no more
    assert client.pull().applied == 2
    assert store.people.get(person).display_name == "Ana Ruiz"


def test_registered_elsewhere_a_device_forgets_all_it_pulled_of_the_old_site(
    store: Store, clock: FakeClock
) -> None:
    """Two paths forgot a left site's state, each a part: ``save_registration`` its set-aside
    changes and cursor, ``jaga sync register`` its cursor and log tip. Before: registered
    through the first, the old site's log tip, seal and pulled-with note stayed for good."""
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    hub_with_person(hub, badge="B-1", seed=2)
    client_of(store, hub).pull()
    pulled = _pulled_state_of(store, SITE)
    assert {cursor_name(SITE), log_tip_name(SITE)} <= pulled  # something to forget
    save_registration(store.database, replace(registration(), site="another-site"),
                      clock.now(), send_face_images=False)  # fmt: skip
    assert _pulled_state_of(store, SITE) == set()
    assert store.database.query("SELECT count(*) FROM deferred_changes")[0][0] == 0


def test_registered_with_another_hub_a_device_drops_the_same_slugs_set_aside_changes(
    store: Store, clock: FakeClock
) -> None:
    """Another hub's site of the same slug is another site. Before: the old hub's changes set
    aside stayed (only another slug's went), to be applied from the new hub's pulls."""
    save_registration(store.database, registration(), clock.now(), send_face_images=False)
    enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    person = hub_with_person(hub, badge="B-1", seed=2)
    assert client_of(store, hub).pull().set_aside == 2
    elsewhere = replace(registration(), hub_url="https://another-hub.example")
    save_registration(store.database, elsewhere, clock.now(), send_face_images=False)
    assert _set_aside_of(store, person) == [] and _pulled_state_of(store, SITE) == set()
    assert store.database.owed_purge_since() is None  # their names left the files


def test_registered_elsewhere_a_device_keeps_the_decisions_a_restored_hub_lost(
    store: Store, clock: FakeClock
) -> None:
    """The note of decisions to queue again names unsent records, not pulled state: they
    exist only here, and go if the device is registered back to their site."""
    put_values(store.database, {decisions_name(SITE): "0:7"}, clock.now())
    save_registration(store.database, replace(registration(), site="another-site"),
                      clock.now(), send_face_images=False)  # fmt: skip
    assert read_values(store.database)[decisions_name(SITE)] == "0:7"


def _pulled_state_of(store: Store, site: str) -> set[str]:
    names = {name(site) for name in PULLED_STATE_NAMES}
    return names & set(read_values(store.database))


def _pack(version: str) -> dict[str, Any]:
    return {"version": version, "sha256": version[-1] * 64, "byte_size": 9}


def _announced(store: Store) -> str | None:
    pack = announced_pack(read_values(store.database))
    return None if pack is None else pack.version


def test_the_answer_names_the_pack_whatever_the_log_announced(store: Store) -> None:
    """A hub that names the newest pack in its answers is the word on the pack, on every
    page: the log of a site created while a pack was being published can lack it, or end on
    an older one. Only a hub that names none (one before the answer) leaves the log's."""
    hub = FakeHub()
    hub.add_change("species_pack", "publish", _pack("v1"))
    hub.names_pack = SpeciesPackPublished.model_validate(_pack("v2"))
    client = client_of(store, hub)
    client.pull()
    assert _announced(store) == "v2"
    hub.add_change("species_pack", "publish", _pack("v1"))  # a log ending on an older pack
    client.pull()
    assert _announced(store) == "v2"
    hub.names_pack = None  # an older hub: its log's announcement counts
    hub.add_change("species_pack", "publish", _pack("v3"))
    client.pull()
    assert _announced(store) == "v3"


def test_an_answer_names_the_pack_a_device_was_past_before_it_said_what_it_reads(
    store: Store,
) -> None:
    """A device upgraded from a release that did not say which packs it reads was not sent
    the newer ones it now reads: the answer's pack is taken, until the log announces one."""
    hub = FakeHub()
    hub.add_change("species_pack", "publish", _pack("v1"))
    client = client_of(store, hub)
    client.pull()
    with store.database.write() as connection:  # as that release kept it
        record_species_pack(connection, _pack("v1"), store.clock.now())
    hub.names_pack = SpeciesPackPublished.model_validate(_pack("v2"))
    client.pull()
    assert _announced(store) == "v2"
    hub.add_change("species_pack", "publish", _pack("v3"))
    hub.names_pack = SpeciesPackPublished.model_validate(_pack("v3"))  # the newest, as a hub
    client.pull()  # names it once it published it (the page that ends the log takes it)
    assert _announced(store) == "v3"
