"""Schema 17: a real version-16 store file opens migrated, its catches kept, none said to be
another hub's (nothing kept says which hub a catch pulled before a move came from); the
next move to another hub stamps them with the old one, the pulled catch too, so its review
is held for that hub (``sync.store.outbox_hub``)."""

from __future__ import annotations

from pathlib import Path

from sync.client.state import ensure_schema
from sync.store import Passphrase, Store
from sync.store.hub_keys import hub_key
from sync.store.schema.migrations import LATEST_VERSION, MIGRATIONS, schema_version
from tests.sync.client.devices import add_observations
from tests.sync.client.test_held_records_follow import HUB_A, moved_to_b, registered_with
from tests.sync.conftest import FAST, FakeClock


def _v16_store_with_catches(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> list[str]:
    """A v16 store registered with hub A: a catch recorded here, and one pulled (written as
    a pull writes it: no outbox entry, not recorded here); their uids."""
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


def test_a_v16_store_keeps_its_catches_and_holds_the_pulled_ones_review_after_a_move(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    own, pulled = _v16_store_with_catches(db_path, passphrase, clock)

    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 17
        ensure_schema(store.database)
        assert _stamps(store) == [None, None]
        assert not store.observations.get(pulled).recorded_here
        moved_to_b(store)
        assert _stamps(store) == [hub_key(HUB_A)] * 2

        store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")

        assert store.outbox.held_for(pulled) == hub_key(HUB_A)
        assert [e.entity_uid for e in store.outbox.queued()] == []
        registered_with(store, HUB_A)
        assert _stamps(store) == [None, None]
        assert [e.entity_uid for e in store.outbox.queued()] == [own, pulled]
        assert store.integrity().ok, store.integrity().problems
