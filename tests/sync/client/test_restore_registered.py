"""A restore over a registered store, against a real hub: what the hub acknowledged is not
counted as lost, and the restored store stays registered as this device.

The sequence a kiosk's operator follows: enrol and record decisions, back up (A), register,
sync (the hub acknowledges everything; the acknowledged access decisions, people and
templates leave the outbox), back up (B), restore A, restore B."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from sync.client.config import Registration
from sync.client.state import ensure_schema, registration_values, save_registration
from sync.errors import RecordNotFoundError, ReplacedStoreUnsyncedError, RestoreOtherSiteError
from sync.store import Passphrase, Store, backup, restore
from tests.sync.client.devices import (
    PASSPHRASE,
    Device,
    add_access_events,
    enrol,
    register,
)
from tests.sync.client.hubcheck import drained
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

KEY = Passphrase(PASSPHRASE)


def _restore(backup_path: Path, store_path: Path) -> None:
    restore(backup_path, store_path, KEY, operator="ops", force=True, config=FAST)


def _synced_kiosk(
    tmp_path: Path, hub_url: str, site: str, badge: str = "B-1"
) -> tuple[Path, Path, Path]:
    """The store, backup A (before registering) and backup B (after a whole sync)."""
    path = tmp_path / "kiosk" / "jaga.db"
    with Store.create(path, KEY, config=FAST) as store:
        enrol(store, site, badge, seed=1)
        add_access_events(store, site, 2)
        backup(store, tmp_path / "A.db", operator="ops")
        registration = register(hub_url, site, "kiosk-restored")
        ensure_schema(store.database)
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
        with httpx.Client() as http:
            report = Device(path, registration).client(store, http).sync_once()
        assert report.push.acknowledged == 4 and drained(store)
        backup(store, tmp_path / "B.db", operator="ops")
    return path, tmp_path / "A.db", tmp_path / "B.db"


def _registration(path: Path) -> dict[str, str]:
    with Store.open(path, KEY, config=FAST) as store:
        return registration_values(store.database)


def test_a_restore_counts_as_lost_only_what_the_backup_lacks_not_what_the_hub_took(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """B holds the person, template and decisions A queued (the hub acknowledged them, so
    B's outbox no longer lists them): restoring B over A loses nothing. A decision made
    after A was restored is in neither backup: that one, and only it, is counted."""
    path, backup_a, backup_b = _synced_kiosk(tmp_path, live_hub.url, site_slug)
    _restore(backup_a, path)
    _restore(backup_b, path)  # refused before: "5 changes ... (2 access_event, ...)"
    with Store.open(path, KEY, config=FAST) as store:
        assert store.access.count() == 2 and store.people.count() == 1
    _restore(backup_a, path)
    with Store.open(path, KEY, config=FAST) as store:
        add_access_events(store, site_slug, 1)  # after the restore: only here
    with pytest.raises(ReplacedStoreUnsyncedError) as refused:
        _restore(backup_b, path)
    assert "holds 1 change " in str(refused.value) and "(1 access_event)" in str(refused.value)


def test_a_backup_made_before_registering_restores_as_this_registered_device(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The device's identity is not part of its data as of the backup: the restored store
    keeps the registration (and can sync with it: the one-time code is spent)."""
    path, backup_a, _ = _synced_kiosk(tmp_path, live_hub.url, site_slug)
    registered = _registration(path)
    restored = restore(backup_a, path, KEY, operator="ops", force=True, config=FAST)
    assert _registration(path) == registered
    assert restored.registration is not None and restored.registration.backup_had is None
    with Store.open(path, KEY, config=FAST) as store, httpx.Client() as http:
        registration = Registration(
            registered["hub_url"], registered["site"], UUID(registered["device_id"]),
            registered["device_token"],
        )  # fmt: skip
        report = Device(path, registration).client(store, http).sync_once()
        assert report.push.rejected == 0 and drained(store)


def test_a_backup_of_another_registration_does_not_take_this_devices_place(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A backup another device made (another registration) restored here: the restored
    store stays registered as this device, not as the other one (two devices holding one
    token), and the restore says which registration the backup had."""
    path, _, _ = _synced_kiosk(tmp_path, live_hub.url, site_slug)
    here = _registration(path)
    other, _, other_b = _synced_kiosk(tmp_path / "other", live_hub.url, site_slug, "B-2")
    assert _registration(other)["device_id"] != here["device_id"]
    restored = restore(other_b, path, KEY, operator="ops", force=True, config=FAST)
    assert _registration(path) == here
    assert restored.registration is not None
    assert restored.registration.backup_had is not None
    assert restored.registration.backup_had.device_id == _registration(other)["device_id"]
    assert restored.registration.words().startswith("WARNING: the backup was registered as")


def _site_kiosk(tmp_path: Path, hub_url: str, site: str, badge: str) -> tuple[Path, str]:
    """A kiosk registered to ``site`` holding one person, synced; the store and the person."""
    path = tmp_path / badge / "jaga.db"
    with Store.create(path, KEY, config=FAST) as store:
        uid = enrol(store, site, badge, seed=len(site) + len(badge))
        registration = register(hub_url, site, f"kiosk-{badge}")
        ensure_schema(store.database)
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
        with httpx.Client() as http:
            Device(path, registration).client(store, http).sync_once()
        assert drained(store)
    return path, uid


def _sync(path: Path) -> None:
    with Store.open(path, KEY, config=FAST) as store, httpx.Client() as http:
        values = registration_values(store.database)
        registration = Registration(
            values["hub_url"], values["site"], UUID(values["device_id"]), values["device_token"]
        )
        Device(path, registration).client(store, http).sync_once()
        assert drained(store)


def test_another_sites_backup_is_refused_until_this_device_is_registered_to_that_site(
    live_hub: HubProcess, tmp_path: Path
) -> None:
    """Kiosk X's backup restored over kiosk Y (another site) would keep X-1 on Y for good:
    Y pulls only site Y's changes, so the hub's erasure of X-1 would never reach it. Refused,
    nothing changed; once Y is registered to site X (a code of that site), the same restore
    goes through, and the hub's erasure of X-1 reaches it at its next sync."""
    x, y = f"site-{uuid4().hex[:12]}", f"site-{uuid4().hex[:12]}"
    kiosk_x, person_x = _site_kiosk(tmp_path, live_hub.url, x, "X-1")
    with Store.open(kiosk_x, KEY, config=FAST) as store:
        backup(store, tmp_path / "X.db", operator="ops")
    kiosk_y, _ = _site_kiosk(tmp_path, live_hub.url, y, "Y-1")
    with pytest.raises(RestoreOtherSiteError) as refused:
        _restore(tmp_path / "X.db", kiosk_y)
    assert f"registered to site {x}" in str(refused.value) and y in str(refused.value)
    with Store.open(kiosk_y, KEY, config=FAST) as store:
        assert [p.external_id for p, _ in store.people.listing()] == ["Y-1"]
    with Store.open(kiosk_y, KEY, config=FAST) as store:  # `jaga sync register`, site X's code
        save_registration(store.database, register(live_hub.url, x, "kiosk-y-as-x"),
                          store.clock.now(), send_face_images=False)  # fmt: skip
    _restore(tmp_path / "X.db", kiosk_y)
    with Store.open(kiosk_x, KEY, config=FAST) as store:
        store.people.erase(person_x, operator="officer-7", reason="asked")
    _sync(kiosk_x)
    _sync(kiosk_y)
    with Store.open(kiosk_y, KEY, config=FAST) as store, pytest.raises(RecordNotFoundError):
        store.people.get(person_x)
