"""A device upgraded across a protocol or store schema bump pulls its site again, once.

Older code moved the cursor past what it could not keep: a person whose badge it still gave
to someone else (before store schema 10, skipped rather than set aside), a catch's box, pack
and verdict (protocols 2 and 3 were never told them). The stores here are left exactly as
that code left them: the cursor moved on, no note of what pulled it, the person absent
(nothing set aside), the pulled catch's new columns empty as the migrations leave them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.client import HubUnavailableError, Tuning
from sync.client.full_pull import FullPull
from sync.client.site_state import full_pull_name
from sync.client.state import SPECIES_PACK_NAME, read_cursor, read_values
from sync.client.status import read_status
from sync.hub import review
from sync.hub.models import FishObservation as HubObservation
from sync.store import FishObservation, Photo, PredictionStatus, SpeciesScore, Store
from sync.store.records import Crop
from tests.sync.client.devices import FAST_TUNING, add_observations, enrol, new_device, photo_bytes
from tests.sync.client.fakehub import SITE, FakeHub
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.units import client_of
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import HubProcess

BOX = Crop(10, 20, 100, 50)


def _as_older_code_left_it(store: Store) -> None:
    """No note of what pulled the cursor (older code kept none), nothing set aside (before
    schema 10 such a change was skipped), and pulled catches without what protocol 2 did
    not carry: the migrations left their pack, box and verdict empty, the box not known."""
    with store.database.write() as connection:
        connection.execute("DELETE FROM sync_state WHERE name LIKE 'pulled_with.%'")
        connection.execute("DELETE FROM deferred_changes")
        connection.execute(
            "UPDATE fish_observations SET pack_version = NULL, crop_x = NULL, crop_y = NULL,"
            " crop_w = NULL, crop_h = NULL, crop_known = 0, status = NULL,"
            " status_reason = NULL WHERE recorded_here = 0"
        )


def _people(store: Store) -> list[str]:
    return [str(uid) for (uid,) in store.database.query("SELECT person_uid FROM people")]


def test_a_person_older_code_skipped_arrives_once_the_kiosk_is_upgraded(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    old = new_device(tmp_path, live_hub.url, site_slug, "kiosk-old")
    new = new_device(tmp_path, live_hub.url, site_slug, "kiosk-new")
    with old.open() as so, new.open() as sn, httpx.Client() as http:
        mine = enrol(so, site_slug, "B-X", seed=21)  # enrolled here while offline
        theirs = enrol(sn, site_slug, "B-X", seed=22)  # the same badge, synced first
        new.client(sn, http).sync_once()
        old.client(so, http).sync_once()  # mine refused at the hub; theirs pulled
        _as_older_code_left_it(so)  # ...and skipped, as code before schema 10 did
        cursor = read_cursor(so.database, site_slug)
        assert cursor > 0 and theirs not in _people(so)
        so.people.erase(mine, operator="officer-7", reason="badge typed wrong")

        report = old.client(so, http).sync_once()

        assert _people(so) == [theirs]  # arrived; the one erased here stayed erased
        assert so.database.query("SELECT count(*) FROM face_templates")[0][0] == 1
        assert report.pull.full_pull is not None and report.pull.full_pull.until == cursor
        status = "\n".join(read_status(so, {}).lines())
        assert f"full pull    pulled again from the start {report.pull.full_pull.began_at}" in (
            status
        )
        assert f"its cursor {cursor} had been pulled by an earlier release" in status
        assert "caught up" in status
        again = old.client(so, http).sync_once()
        assert again.pull.full_pull is None and again.pull.applied == 0  # once


def _boxed_unknown_catch(store: Store) -> FishObservation:
    photo = Photo(photo_bytes(9000, 77), "image/jpeg", store.clock.now())
    fish = FishObservation(
        observed_at=store.clock.now(),
        predictions=(SpeciesScore("Lutjanus", 0.31), SpeciesScore("Gadus morhua", 0.2)),
        needs_review=True, officer="officer-7", notes="boxed",
        pack_version="pack-7", crop=BOX, status=PredictionStatus.UNKNOWN,
    )  # fmt: skip
    return store.observations.add_with_photo(photo, [fish])[0]


def test_catches_pulled_on_an_older_protocol_get_their_box_pack_and_verdict(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    new = new_device(tmp_path, live_hub.url, site_slug, "boat-new")
    up = new_device(tmp_path, live_hub.url, site_slug, "boat-up")
    with new.open() as sn, up.open() as su, httpx.Client() as http:
        catch = _boxed_unknown_catch(sn)
        new.client(sn, http).sync_once()
        first, second = (
            su.observations.add(
                FishObservation(su.clock.now(), (SpeciesScore("Gadus morhua", 0.6),), True, "o-9")
            )
            for _ in range(2)
        )
        up.client(su, http).sync_once()
        _as_older_code_left_it(su)  # it pulled the catch on protocol 2
        assert su.observations.get(catch.observation_uid).status is None
        su.observations.confirm(first.observation_uid, "Gadus morhua", officer="o-9")
        su.observations.confirm(second.observation_uid, "Pollachius", officer="o-9")
        one_batch = Tuning(batch_entries=1, max_batches_per_sync=1)

        up.client(su, http, tuning=one_batch).sync_once()  # one edit left unpushed

        # It waits: the hub's older copy would overwrite that edit here.
        assert su.observations.get(second.observation_uid).confirmed_species == "Pollachius"
        assert su.observations.get(catch.observation_uid).status is None
        assert "owed: cursor" in "\n".join(read_status(su, {}).lines())
        rows = su.observations.count()

        report = up.client(su, http).sync_once()

        mine = su.observations.get(catch.observation_uid)
        assert (mine.status, mine.pack_version, mine.crop) == (
            PredictionStatus.UNKNOWN,
            "pack-7",
            BOX,
        )
        assert report.pull.full_pull is not None and "pulled the site again" in report.summary()
        assert su.observations.get(second.observation_uid).confirmed_species == "Pollachius"
        assert su.observations.count() == rows  # nothing doubled
        assert new.client(sn, http).sync_once().pull.full_pull is None  # a current device


def test_a_pull_from_the_start_does_not_take_back_older_pack_announcements(
    store: Store,
) -> None:
    """Spread over several syncs, a full pull would otherwise note an older pack as the
    newest between them, and the device would install it."""
    hub = FakeHub()
    for version in ("v1", "v2"):
        pack = {"version": version, "sha256": "0" * 64, "byte_size": 9}
        hub.add_change("species_pack", "publish", pack)
    client_of(store, hub).pull()
    _as_older_code_left_it(store)
    one_page = Tuning(pull_limit=1, max_pages_per_sync=1)

    report = client_of(store, hub, one_page).pull()

    assert report.full_pull is not None and report.cursor == 1
    assert '"v2"' in read_values(store.database)[SPECIES_PACK_NAME]
    assert read_cursor(store.database, SITE) == 1


def _caught_up(store: Store, site: str) -> bool:
    full = FullPull.from_stored(read_values(store.database).get(full_pull_name(site)))
    return full is not None and full.done_at is not None


def _held(store: Store) -> list[tuple[Any, ...]]:
    """Every pulled field of every record held here (not the device's own bookkeeping)."""
    people = store.database.query(
        "SELECT person_uid, external_id, display_name, retain_until FROM people ORDER BY 1"
    )
    catches = store.database.query(
        "SELECT observation_uid, confirmed_species, needs_review, reviewed_by, reviewed_at,"
        " notes, count, pack_version, status, crop_known FROM fish_observations ORDER BY 1"
    )
    return [*people, *catches]


def test_a_pull_from_the_start_cut_after_each_page_never_takes_back_a_hub_correction(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The hub's log keeps every version of a record: pulled again in order, each page
    would put an older one back (the reviewer's correction undone, the catch back in the
    boat's review queue, where the officer's confirmation would then overrule the hub)."""
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-cut")
    kiosk = new_device(tmp_path, live_hub.url, site_slug, "kiosk-cut")
    with boat.open() as store, kiosk.open() as other, httpx.Client() as http:
        enrol(other, site_slug, "B-1", seed=31)
        kiosk.client(other, http).sync_once()
        reviewed, gone = add_observations(store, 2, "cut")
        boat.client(store, http).sync_once()
        for uid in (reviewed, gone):
            review.correct_species(HubObservation.objects.get(uid=uid).pk, "Pollachius", "hub-r")
        boat.client(store, http).sync_once()
        assert store.observations.get(reviewed).confirmed_species == "Pollachius"
        _as_older_code_left_it(store)
        with store.database.write() as connection:  # a catch this device does not hold
            connection.execute("DELETE FROM fish_observations WHERE observation_uid = ?", (gone,))
        before = _held(store)
        one_page = replace(FAST_TUNING, pull_limit=1, max_pages_per_sync=1)

        for _ in range(50):
            boat.client(store, http, tuning=one_page).sync_once()
            if _caught_up(store, site_slug):
                break
            assert [row for row in _held(store) if row[0] != gone] == [
                row for row in before if row[0] != gone
            ]
            assert store.observations.review_queue() == []

        assert _caught_up(store, site_slug)
        assert [row for row in _held(store) if row[0] != gone] == before
        back = store.observations.get(gone)  # pulled in full, up to its newest version
        assert (back.confirmed_species, back.needs_review, back.reviewed_by) == (
            "Pollachius", False, "hub-r"
        )  # fmt: skip
        boat.client(store, http).sync_once()
        on_hub = HubObservation.objects.get(uid=reviewed)
        assert (on_hub.confirmed_species, on_hub.reviewed_by) == ("Pollachius", "hub-r")


def test_a_pull_from_the_start_cut_by_the_link_keeps_what_the_device_held(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-link")
    with boat.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "link")
        boat.client(store, http).sync_once()
        add_observations(store, 600, "busy")  # more than one page of 500 changes
        boat.client(store, http).sync_once()
        review.correct_species(HubObservation.objects.get(uid=uid).pk, "Pollachius", "hub-r")
        boat.client(store, http).sync_once()
        _as_older_code_left_it(store)
        before = _held(store)
        proxy.add(Rule(Action.REFUSE, match="changes?cursor=500&", times=None))

        with pytest.raises(HubUnavailableError):
            boat.client(store, http, hub_url=proxy.url).sync_once()  # cut on page 2

        assert read_cursor(store.database, site_slug) == 500
        assert _held(store) == before
        here = store.observations.get(uid)
        assert (here.confirmed_species, here.needs_review) == ("Pollachius", False)
        proxy.clear()
        boat.client(store, http, hub_url=proxy.url).sync_once()
        assert _caught_up(store, site_slug) and _held(store) == before


def test_a_catch_pulled_on_protocol_3_gets_its_pack_and_verdict_and_keeps_its_review(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    new = new_device(tmp_path, live_hub.url, site_slug, "boat-p4")
    up = new_device(tmp_path, live_hub.url, site_slug, "boat-p3")
    with new.open() as sn, up.open() as su, httpx.Client() as http:
        catch = _boxed_unknown_catch(sn)
        new.client(sn, http).sync_once()
        pk = HubObservation.objects.get(uid=catch.observation_uid).pk
        review.correct_species(pk, "Pollachius", "hub-r")
        up.client(su, http).sync_once()
        with su.database.write() as connection:  # protocol 3 told the box, not the rest
            connection.execute("DELETE FROM sync_state WHERE name LIKE 'pulled_with.%'")
            connection.execute(
                "UPDATE fish_observations SET pack_version = NULL, status = NULL,"
                " status_reason = NULL"
            )

        one_page = replace(FAST_TUNING, pull_limit=1, max_pages_per_sync=1)
        for _ in range(20):
            up.client(su, http, tuning=one_page).sync_once()
            held = su.observations.get(catch.observation_uid)  # its review, at every page
            assert (held.confirmed_species, held.needs_review) == ("Pollachius", False)
            if _caught_up(su, site_slug):
                break

        mine = su.observations.get(catch.observation_uid)
        assert (mine.status, mine.pack_version, mine.crop) == (
            PredictionStatus.UNKNOWN, "pack-7", BOX
        )  # fmt: skip
        assert (mine.confirmed_species, mine.needs_review) == ("Pollachius", False)
        assert _caught_up(su, site_slug)


def test_a_pull_from_the_start_is_caught_up_when_the_hub_withholds_the_last_changes(
    store: Store,
) -> None:
    """The hub may no longer send the changes just below the old cursor (a person past
    retention it has not purged yet): the answer saying there is no more ends it."""
    hub = FakeHub()
    for version in ("v1", "v2", "v3"):
        pack = {"version": version, "sha256": "0" * 64, "byte_size": 9}
        hub.add_change("species_pack", "publish", pack)
    client_of(store, hub).pull()
    _as_older_code_left_it(store)
    hub.changes.pop()  # withheld now

    report = client_of(store, hub).pull()

    assert report.full_pull is not None and report.cursor == 2
    assert _caught_up(store, SITE)


def test_a_pull_from_the_start_keeps_a_person_held_and_takes_a_skipped_one_at_its_newest(
    store: Store,
) -> None:
    hub = FakeHub()
    held, skipped = e.person(SITE, name="Ana"), e.person(SITE, name="Bo")
    for person in (held, skipped):
        hub.add_change("person", "upsert", person)
    for person, name in ((held, "Ana Ruiz"), (skipped, "Bo Li")):
        hub.add_change("person", "upsert", {**person, "display_name": name})
    client_of(store, hub).pull()
    _as_older_code_left_it(store)
    with store.database.write() as connection:  # older code skipped Bo (badge held here)
        connection.execute("DELETE FROM people WHERE person_uid = ?", (skipped["person_uid"],))
    one_page = Tuning(pull_limit=1, max_pages_per_sync=1)

    for _ in range(10):
        client_of(store, hub, one_page).pull()
        assert store.people.get(held["person_uid"]).display_name == "Ana Ruiz"
        if _caught_up(store, SITE):
            break

    assert _caught_up(store, SITE)
    assert store.people.get(skipped["person_uid"]).display_name == "Bo Li"


def test_a_cursor_pulled_on_protocol_4_is_not_pulled_again() -> None:
    """Protocol 5 added only ``PhotoUpsert.withheld``, which no pull carries: every device
    pulling its whole site again after the upgrade would gain nothing."""
    from sync.client.full_pull import KEEPS_ALL_SINCE_SCHEMA, PulledWith

    assert PulledWith(4, KEEPS_ALL_SINCE_SCHEMA).complete
    assert not PulledWith(3, KEEPS_ALL_SINCE_SCHEMA).complete
