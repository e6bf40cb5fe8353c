"""A store that holds no audit start for the device it is registered as sends the hub no
audit entry from before the registration (the old records' person uids, access decisions, an
erasure's typed reason), which the hub never had: a backup made before registering, restored
over the registered store, and a store registered anew before registrations noted a start.
Against the real hub, with real stores; the requests themselves are observed."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from sync.client.config import Registration
from sync.client.state import read_values, save_registration
from sync.store import Passphrase, Store, backup, restore
from tests.sync.client.devices import PASSPHRASE, Device, register
from tests.sync.client.test_register_audit_start import REASON, _held, _records
from tests.sync.client.test_register_moved import env, sync
from tests.sync.client.test_register_moved import register as register_with_code
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name

KEY = Passphrase(PASSPHRASE)


class _AuditSeen(httpx.BaseTransport):
    """The real hub; keeps every audit entry sent to it."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.entries: list[dict[str, object]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/audit"):
            self.entries.extend(json.loads(request.read())["entries"])
        return self._real.handle_request(request)

    def close(self) -> None:
        """Closed with its client: the real transport's connections to the hub with it (left
        to the garbage collector, their sockets were reported unclosed in a later test)."""
        self._real.close()


def _sync_seen(db: Path) -> _AuditSeen:
    seen = _AuditSeen()
    with Store.open(db, KEY, config=FAST) as store, httpx.Client(transport=seen) as http:
        values = read_values(store.database)
        registration = Registration(
            values["hub_url"], values["site"], UUID(values["device_id"]), values["device_token"]
        )
        Device(db, registration).client(store, http).sync_once()
    return seen


def test_a_backup_from_before_registering_sends_no_entry_from_before_it(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the restored store held no start for the registered device, and its next sync
    sent the chain from entry 1, the erasure's typed reason and the people's uids with it."""
    db = tmp_path / "kiosk" / "jaga.db"
    db.parent.mkdir(parents=True)
    Store.create(db, KEY, config=FAST).close()
    people = _records(db, site_slug)
    with Store.open(db, KEY, config=FAST) as store:
        before = store.audit.head()[0]
        backup(store, tmp_path / "before.db", operator="ops")
    assert register_with_code(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0

    restore(tmp_path / "before.db", db, KEY, operator="ops", force=True, config=FAST)
    seen = _sync_seen(db)

    assert seen.entries, "the restored chain was not offered at all"
    assert min(int(str(entry["sequence"])) for entry in seen.entries) > before
    text = json.dumps(seen.entries)
    assert REASON not in text and not [uid for uid in people if uid in text]
    _assert_begins_at_a_registration(db, seen)


def _assert_begins_at_a_registration(db: Path, seen: _AuditSeen) -> None:
    first = min(seen.entries, key=lambda entry: int(str(entry["sequence"])))
    assert first["action"] == "sync.registered"
    with Store.open(db, KEY, config=FAST) as store:
        assert (
            json.loads(str(first["details"]))["device_id"]
            == read_values(store.database)["device_id"]
        )


def test_a_backup_made_after_registering_keeps_its_own_start(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A backup that holds the registration's start (or the hub's receipt) for the device is
    restored as it is: no second registration entry."""
    db = tmp_path / "kiosk" / "jaga.db"
    db.parent.mkdir(parents=True)
    Store.create(db, KEY, config=FAST).close()
    assert register_with_code(env, db, live_hub.url, site_slug) == 0
    with Store.open(db, KEY, config=FAST) as store:
        backup(store, tmp_path / "after.db", operator="ops")
    restore(tmp_path / "after.db", db, KEY, operator="ops", force=True, config=FAST)
    with Store.open(db, KEY, config=FAST) as store:
        rows = store.database.query(
            "SELECT count(*) FROM audit_log WHERE action = 'sync.registered'"
        )
    assert rows[0][0] == 1


def test_a_store_registered_anew_before_starts_were_noted_sends_not_the_earlier_devices(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Registered with another hub by a release before registration entries: no start, no
    receipt for the new device, but the old device's receipt. Before: its first sync sent the
    chain from entry 1, the old hub's records."""
    db = tmp_path / "legacy" / "jaga.db"
    db.parent.mkdir(parents=True)
    old = Registration("https://old-hub.example", site_slug, uuid4(), "old-token")
    with Store.create(db, KEY, config=FAST) as store:
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
    people = _records(db, site_slug)
    with Store.open(db, KEY, config=FAST) as store:
        before, digest = store.audit.head()
        store.database.execute("UPDATE outbox SET state = 'acknowledged'")  # the old hub's
        store.database.execute(  # the old hub anchored the chain
            "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, '2026-01-01')",
            (f"audit.anchored.{old.device_id}", f"{before} {digest}"),
        )
        # As ``jaga sync register`` of that release did: the registration alone.
        new = register(live_hub.url, site_slug, "kiosk-legacy")
        save_registration(store.database, new, store.clock.now(), send_face_images=False)

    seen = _sync_seen(db)

    assert seen.entries, "the chain was not offered at all"
    assert min(int(str(entry["sequence"])) for entry in seen.entries) > before
    text = json.dumps(seen.entries)
    assert REASON not in text and not [uid for uid in people if uid in text]
    _assert_begins_at_a_registration(db, seen)
    assert _held(str(new.device_id))[0].action == "sync.registered"  # taken, no break
