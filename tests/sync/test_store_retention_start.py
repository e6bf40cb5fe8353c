"""Decision retention at a kiosk's start (``sync.store.retention_start``): only when due,
on a thread of its own with its own connection, as the device the store is registered as."""

from __future__ import annotations

from datetime import timedelta

from sync.client.state import put_values
from sync.store import Store
from sync.store.kiosk_waiting import set_aside_path
from sync.store.retention import DEFAULT_KEEP_DAYS
from sync.store.retention_start import start_retention_if_due
from tests.sync.conftest import FakeClock
from tests.sync.test_store_retention import DEVICE, anchor


def test_it_runs_when_due_on_its_own_thread_then_not_again_the_same_day(
    store: Store, clock: FakeClock
) -> None:
    aside = set_aside_path(store.path, clock.now() - timedelta(days=DEFAULT_KEEP_DAYS + 1))
    aside.write_bytes(b"\x8f" * 4096)
    assert store.retention.due()

    thread = start_retention_if_due(store)
    assert thread is not None
    thread.join(30)

    assert not aside.exists() and not store.retention.due()
    assert start_retention_if_due(store) is None
    clock.advance(days=1)
    assert store.retention.due()
    store.retention.set_keep_days(0, operator="cli:ops")  # kept for ever: never due
    assert start_retention_if_due(store) is None


def test_a_registered_store_runs_it_as_its_device(store: Store, clock: FakeClock) -> None:
    """The hub's receipt is noted for the device registered now, as a sync's run notes it."""
    registration = {"hub_url": "https://hub", "site": "gate", "device_id": DEVICE}
    put_values(store.database, {**registration, "device_token": "t"}, clock.now())
    anchor(store, 1)

    thread = start_retention_if_due(store)
    assert thread is not None
    thread.join(30)

    noted = store.database.query("SELECT device_id, sequence FROM audit_receipts")
    assert [tuple(row) for row in noted] == [(DEVICE, 1)]
