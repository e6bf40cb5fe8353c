"""A backup made before registering, restored over the registered store: its next sync sends
the hub no audit entry from before the registration (the old records' person uids, access
decisions, an erasure's typed reason), which the restored chain holds and which the hub never
had. Against the real hub, with real stores; the requests themselves are observed."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from sync.client.config import Registration
from sync.client.state import read_values
from sync.store import Passphrase, Store, backup, restore
from tests.sync.client.devices import PASSPHRASE, Device
from tests.sync.client.test_register_audit_start import REASON, _records
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
