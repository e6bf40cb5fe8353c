"""Schema 17 knows from which records on a store upgraded to it knows their hub: by row,
not by time. It noted the upgrade's wall-clock time, and a move compared it with times the
store's clock wrote (``state_changed_at``, ``created_at``): a device whose clock read behind
the upgrade's moment after it (an RTC-less edge box booted before NTP, a clock corrected
backwards) held what it recorded and its hub acknowledged since as of no known hub, sent to
no hub, not even registered back with the hub that took it; one that read ahead before it
vouched for what it could not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.client.state import ensure_schema
from sync.store import Passphrase, Store, Verdict
from sync.store.hub_keys import hub_key
from sync.store.schema.migrations import MIGRATIONS
from tests.sync.client.devices import add_access_events, add_observations
from tests.sync.client.test_held_records_follow import HUB_A, SITE, moved_to_b, registered_with
from tests.sync.conftest import FAST, FakeClock


def test_a_clock_behind_the_upgrade_holds_what_hub_a_took_since_as_of_no_hub(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:16]
    ) as v16:
        registered_with(v16, HUB_A)
        add_observations(v16, 1, "old")  # data: the upgrade notes hub.with_since

    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        ensure_schema(store.database)
        # After the upgrade, the device's clock reads two hours behind the real time.
        clock.moment = datetime.now(UTC) - timedelta(hours=2)
        (catch,) = add_observations(store, 1, "since")
        add_access_events(store, SITE, 1)
        keys = [e.idempotency_key for e in store.outbox.queued() if e.entity_uid == catch]
        store.outbox.mark_sent(keys)
        store.outbox.settle(Verdict(acknowledged=tuple(keys)), hub_key(HUB_A))  # as push does
        moved_to_b(store)
        decision = store.database.query("SELECT for_hub FROM access_events ORDER BY id DESC")[0]
        acknowledged = store.database.query(
            "SELECT for_hub FROM outbox WHERE entity_uid = ?", (catch,)
        )
        registered_with(store, HUB_A)  # back with the hub that took the catch
        store.observations.confirm(catch, "Gadus morhua", officer="officer-7")
        held = store.outbox.held_for(catch)
        queued = [e.entity_uid for e in store.outbox.queued()]
    got = (decision[0], acknowledged, held, catch in queued)
    assert got == (hub_key(HUB_A), [(hub_key(HUB_A),)], None, True), got


def test_a_clock_ahead_before_the_upgrade_vouches_for_what_it_cannot(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """The other way: acknowledged before the upgrade while the clock read a day ahead, the
    catch's entry is taken for one of the hub left (stamped with it), though a v16 store
    cannot tell which hub took it (it may be one left before A, as the test of
    ``test_store_migration_catch_hub`` says); registered with A, its review goes to A."""
    clock.moment = datetime.now(UTC) + timedelta(days=1)
    with Store.create(
        db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:16]
    ) as v16:
        registered_with(v16, HUB_A)
        (catch,) = add_observations(v16, 1, "old")
        keys = [e.idempotency_key for e in v16.outbox.queued() if e.entity_uid == catch]
        v16.outbox.mark_sent(keys)
        v16.outbox.settle(Verdict(acknowledged=tuple(keys)))

    clock.moment = datetime.now(UTC)  # the clock set right; then the upgrade
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        ensure_schema(store.database)
        moved_to_b(store)
        stamps = store.database.query("SELECT for_hub FROM outbox WHERE entity_uid = ?", (catch,))
    assert stamps == [("unknown",)], stamps
