"""The review of a catch held as of no known hub (``UNKNOWN_HUB``: a catch a v16 store pulled
before its upgrade, reviewed after a move) goes to the hub a pull later vouches for the catch
by: pulled from that hub, the catch is stamped as its (``sync.store.catch_hub``), and so is
what waits about it. Found by review: the hold of an entry was decided only when it was
queued and at a move, so the review stayed held for good, while the catch it corrects was
known to be of the very hub the device synced with. What no pull vouches for stays held, and
a catch pulled from a hub left since is that hub's: its review is held for it, never sent to
the hub registered now."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from main import main
from sync.client.apply import apply_page
from sync.client.config import Registration
from sync.client.state import save_registration
from sync.protocol import Change
from sync.store import Passphrase, Store
from sync.store.hub_keys import UNKNOWN_HUB, hub_key
from sync.store.observations import observation_payload
from sync.store.outbox_hub import held_for_no_known_hub, held_for_other_hubs
from sync.store.schema.migrations import MIGRATIONS
from tests.sync.client.devices import PASSPHRASE, add_observations, new_device, sync_until_drained
from tests.sync.client.test_held_records_follow import (
    HUB_A,
    HUB_B,
    SITE,
    moved_to_b,
    registered_with,
)
from tests.sync.client.test_pulled_catches_held import _catch_on
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import HubProcess
from tests.sync.test_store_migration_catch_hub import _v16_store_with_catches
from tests.sync.test_store_outbox import acknowledge_all

__all__ = ["env"]  # the fixture, used by name


def _v16_store_that_pulled(db: Path, hub_url: str, site: str, pulled: Store, uid: str) -> None:
    """A v16 store registered with ``hub_url`` holding the catch ``uid`` of ``pulled`` as a
    pull wrote it then (no outbox entry, not recorded here, no hub noted)."""
    db.parent.mkdir(parents=True)
    catch = pulled.observations.get(uid)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST, migrations=MIGRATIONS[:16]) as v16:
        registration = Registration(hub_url, site, uuid4(), "token-before-the-upgrade")
        save_registration(v16.database, registration, v16.clock.now(), send_face_images=False)
        v16.observations.add_many([catch])
        with v16.database.write() as connection:
            connection.execute("DELETE FROM outbox WHERE entity_uid = ?", (uid,))
            connection.execute(
                "UPDATE fish_observations SET recorded_here = 0 WHERE observation_uid = ?", (uid,)
            )


def test_registered_back_the_review_goes_to_the_hub_whose_pull_vouches_for_its_catch(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Moved to another hub, the store forgot what it pulled; registered back with the live
    hub, its first sync pulls the site from the start, the catch among it. Before: the
    review stayed held as of no known hub, and the hub never had it."""
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-1")
    with boat.open() as store, httpx.Client() as http:
        (uid,) = add_observations(store, 1, "other-boat")  # flagged for review
        assert sync_until_drained(boat.client(store, http)) == 0
        db = tmp_path / "boat-2" / "jaga.db"
        _v16_store_that_pulled(db, live_hub.url, site_slug, store, uid)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:  # upgraded: v17
        moved_to_b(store)
        store.observations.confirm(uid, "Gadus morhua", officer="officer-9")
        assert store.outbox.held_for(uid) == UNKNOWN_HUB

    assert register(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0  # the pull vouches for the catch; the push went before it
    assert sync(db) == 0

    assert _catch_on(live_hub, uid) == (False, "officer-9")
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.outbox.held_for(uid) is None
        with store.database.read() as connection:
            assert held_for_no_known_hub(connection) == 0
    capsys.readouterr()
    assert main(["sync", "status", "--db", str(db)]) == 0
    assert "held " not in capsys.readouterr().out


def _pulled_from(store: Store, hub_url: str, uids: list[str], cursor: int = 1) -> None:
    """A page of ``hub_url``'s changes of the catches ``uids`` (as this store holds them),
    applied as ``Puller`` applies one: the catches stamped as that hub's."""
    now = store.clock.now()
    payloads = [observation_payload(store.observations.get(uid)) for uid in uids]
    changes = [
        Change(
            cursor=cursor + n,
            entity="fish_observation",
            entity_uid=UUID(uid),
            operation="upsert",
            payload=payload,
            changed_at=now,
        )
        for n, (uid, payload) in enumerate(zip(uids, payloads, strict=True))
    ]
    apply_page(store, SITE, changes, cursor + len(uids), hub=hub_key(hub_url))


def _reviewed_of_no_known_hub(tmp_path: Path) -> tuple[Store, str, str]:
    """A v16 store's two catches (its own, unsent, and one pulled before the upgrade),
    upgraded, moved from hub A to B, the pulled one reviewed there, and registered back
    with A: the store, open, and the uids of both catches."""
    db = tmp_path / "boat" / "jaga.db"
    db.parent.mkdir()
    clock = FakeClock()
    own, pulled = _v16_store_with_catches(db, Passphrase(PASSPHRASE), clock)
    store = Store.open(db, Passphrase(PASSPHRASE), clock=clock, config=FAST)
    moved_to_b(store)
    store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")
    return store, own, pulled


def test_a_pull_of_another_catch_vouches_for_nothing_else(tmp_path: Path) -> None:
    store, own, pulled = _reviewed_of_no_known_hub(tmp_path)
    with store:
        registered_with(store, HUB_A)
        (other,) = add_observations(store, 1, "new")

        _pulled_from(store, HUB_A, [other])

        assert store.outbox.held_for(pulled) == UNKNOWN_HUB
        assert [e.entity_uid for e in store.outbox.queued()] == [own, other]


def test_a_pull_from_a_hub_left_since_holds_the_review_for_that_hub(tmp_path: Path) -> None:
    """A sync under way pulled the catch from hub A after the registration with B was saved:
    the catch is A's, and so is its review, held for A and never sent to B, the hub
    registered now."""
    store, _own, pulled = _reviewed_of_no_known_hub(tmp_path)
    with store:
        _pulled_from(store, HUB_A, [pulled])  # registered with B

        assert store.outbox.held_for(pulled) == hub_key(HUB_A)
        assert [e.entity_uid for e in store.outbox.queued()] == []
        with store.database.read() as connection:
            assert (held_for_other_hubs(connection), held_for_no_known_hub(connection)) == (2, 0)
        registered_with(store, HUB_B)  # and again: still A's
        assert [e.entity_uid for e in store.outbox.queued()] == []
        registered_with(store, HUB_A)
        assert pulled in [e.entity_uid for e in store.outbox.queued()]


def test_a_review_made_after_the_pull_vouched_for_its_catch_goes_to_that_hub(
    tmp_path: Path,
) -> None:
    """This device's own catch, taken by a hub before the upgrade: its acknowledged entry,
    which the store keeps, is held as of no known hub at the move, and it came back in a
    pull from A since. Before: a review queued then was held as of no known hub, as that
    entry is, though the catch is known to be A's."""
    db = tmp_path / "boat" / "jaga.db"
    db.parent.mkdir()
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST, migrations=MIGRATIONS[:16]) as v16:
        registered_with(v16, HUB_A)
        (uid,) = add_observations(v16, 1, "own")
        acknowledge_all(v16)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        moved_to_b(store)
        assert store.outbox.held_for(uid) == UNKNOWN_HUB  # the acknowledged entry
        registered_with(store, HUB_A)
        _pulled_from(store, HUB_A, [uid])

        store.observations.confirm(uid, "Gadus morhua", officer="officer-7")

        assert store.outbox.held_for(uid) is None
        assert [e.entity_uid for e in store.outbox.queued()] == [uid]


def test_a_review_left_held_by_a_pull_before_this_fix_goes_at_the_next_pull(
    tmp_path: Path,
) -> None:
    """A store whose pull stamped the catch as A's, its review left held as of no known hub
    (as the code before this fix left it): the next page A gives, of any catch, sends it."""
    store, own, pulled = _reviewed_of_no_known_hub(tmp_path)
    with store:
        registered_with(store, HUB_A)
        with store.database.write() as connection:  # what a pull before the fix left
            connection.execute(
                "UPDATE fish_observations SET for_hub = ? WHERE observation_uid = ?",
                (hub_key(HUB_A), pulled),
            )
        assert store.outbox.held_for(pulled) == UNKNOWN_HUB

        _pulled_from(store, HUB_A, [own])

        assert store.outbox.held_for(pulled) is None
        assert [e.entity_uid for e in store.outbox.queued()] == [own, pulled]
