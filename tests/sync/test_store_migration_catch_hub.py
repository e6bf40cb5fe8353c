"""Schema 17: a real version-16 store file opens migrated, its catches kept, none stamped
with a hub: nothing it kept says which hub a catch pulled or acknowledged before came from
(a move before schema 17 left them all unstamped). It notes from which records it knows
(``hub.known_after_outbox``, ``hub.known_after_event``); a later move to another hub stamps
none of them with the hub being left, which may not be theirs, but holds what it cannot
vouch for (``UNKNOWN_HUB``): the review of such a catch reaches no hub, not even the one
left, registered back with it. A catch still unsent is that hub's, as its outbox entry
(``sync.store.outbox_hub``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.client.state import ensure_schema
from sync.store import Passphrase, Store, Verdict
from sync.store.hub_keys import UNKNOWN_HUB, hub_key
from sync.store.schema.migrations import LATEST_VERSION, MIGRATIONS, schema_version
from tests.sync.client.devices import add_access_events, add_observations
from tests.sync.client.test_held_records_follow import HUB_A, SITE, moved_to_b, registered_with
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_outbox import acknowledge_all


def _v16_store_with_catches(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> list[str]:
    """A v16 store registered with hub A: a catch recorded here and still unsent, and one
    pulled (written as a pull writes it: no outbox entry, not recorded here), maybe from
    a hub the store was registered with before A; their uids."""
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:16]
    ) as v16:
        assert schema_version(v16.database.connection) == 16
        registered_with(v16, HUB_A)
        own, pulled = add_observations(v16, 2, "catch")
        with v16.database.write() as connection:
            connection.execute("DELETE FROM outbox WHERE entity_uid = ?", (pulled,))
            connection.execute(
                "UPDATE fish_observations SET recorded_here = 0 WHERE observation_uid = ?",
                (pulled,),
            )
    return [own, pulled]


def _stamps(store: Store) -> list[str | None]:
    rows = store.database.query("SELECT for_hub FROM fish_observations ORDER BY id")
    return [row[0] for row in rows]


def test_a_v16_store_keeps_its_catches_and_vouches_for_none_of_them_at_a_move(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """Before: the move stamped the pulled catch with hub A, and its review went to A,
    which may never have had it, once registered back with A."""
    own, pulled = _v16_store_with_catches(db_path, passphrase, clock)

    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        ensure_schema(store.database)
        assert _stamps(store) == [None, None]
        assert not store.observations.get(pulled).recorded_here
        moved_to_b(store)
        assert hub_key(HUB_A) not in _stamps(store)

        store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")

        assert store.outbox.held_for(pulled) == UNKNOWN_HUB
        assert store.outbox.held_for(own) == hub_key(HUB_A)  # unsent: A's
        assert [e.entity_uid for e in store.outbox.queued()] == []
        registered_with(store, HUB_A)
        assert [e.entity_uid for e in store.outbox.queued()] == [own]
        assert store.integrity().ok, store.integrity().problems


def test_a_new_store_vouches_for_every_catch_it_pulls(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A store made at schema 17 knows from its start: nothing of it is held as unknown."""
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        rows = store.database.query(
            "SELECT name, value FROM sync_state WHERE name LIKE 'hub.known_after_%' ORDER BY name"
        )
        assert rows == [("hub.known_after_event", "0"), ("hub.known_after_outbox", "0")]


def test_a_v16_store_notes_from_which_records_it_knows_their_hub(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """By row: the newest entry acknowledged and the newest decision at the upgrade (a time
    would be compared with times the device's clock wrote, set back or ahead since)."""
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:16]
    ) as v16:
        registered_with(v16, HUB_A)
        add_observations(v16, 2, "catch")
        keys = [entry.idempotency_key for entry in v16.outbox.queued()][:1]
        v16.outbox.mark_sent(keys)
        v16.outbox.settle(Verdict(acknowledged=tuple(keys)))
        add_access_events(v16, SITE, 2)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        acknowledged = store.database.query(
            "SELECT max(sequence) FROM outbox WHERE state = 'acknowledged'"
        )[0][0]
        decision = store.database.query("SELECT max(id) FROM access_events")[0][0]
        rows = store.database.query(
            "SELECT name, value FROM sync_state WHERE name LIKE 'hub.known_after_%' ORDER BY name"
        )
    assert acknowledged and decision, (acknowledged, decision)
    assert rows == [
        ("hub.known_after_event", str(decision)),
        ("hub.known_after_outbox", str(acknowledged)),
    ], rows


def test_a_move_holds_what_a_v16_store_took_before_the_upgrade_as_of_no_known_hub(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A decision recorded, and a catch the hub acknowledged, before the upgrade may be of
    a hub left before (a move before schemas 15 and 16 stamped none): a move holds them as
    of no known hub; a decision recorded since is the hub left's. Before: all the hub
    left's, and a restored hub's renewal would be sent them if registered back with it."""
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:16]
    ) as v16:
        registered_with(v16, HUB_A)
        add_access_events(v16, SITE, 1)
        add_observations(v16, 1, "catch")
        acknowledge_all(v16)

    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        clock.moment = datetime.now(UTC) + timedelta(days=1)  # after the upgrade
        add_access_events(store, SITE, 1)
        moved_to_b(store)

        decisions = store.database.query("SELECT for_hub FROM access_events ORDER BY id")
        catches = store.database.query(
            "SELECT for_hub FROM outbox WHERE entity = 'fish_observation'"
        )
    assert decisions == [(UNKNOWN_HUB,), (hub_key(HUB_A),)]
    assert catches == [(UNKNOWN_HUB,)]
