"""A store restored from a backup that holds no audit start for the registered device (made
before registering, or by another device of the site) begins its anchoring anew at a
registration entry the restore appends: the hub records a break at that entry, which an
operator acknowledges, and the chain goes on from it; the erasures the restore carries over
come after that entry, so the hub is sent them. Against the real hub, with real stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.client.state import read_values
from sync.hub.audit_breaks import acknowledge
from sync.hub.models import AnchoredAuditEntry, AuditBreak
from sync.store import Passphrase, Store, backup, restore
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.client.test_register_moved import env, problem, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name

KEY = Passphrase(PASSPHRASE)
RESTARTED = "restarted"


def _new_store(db: Path) -> Path:
    db.parent.mkdir(parents=True)
    Store.create(db, KEY, config=FAST).close()
    return db


def _events(db: Path, site: str, count: int) -> None:
    with Store.open(db, KEY, config=FAST) as store:
        add_access_events(store, site, count)


def _chain(db: Path) -> list[tuple[int, str, str]]:
    """sequence, action, entry hash of every entry of the store's chain."""
    with Store.open(db, KEY, config=FAST) as store:
        rows = store.database.query("SELECT sequence, action, entry_hash FROM audit_log")
    return [(int(sequence), str(action), str(digest)) for sequence, action, digest in rows]


def _device_id(db: Path) -> str:
    with Store.open(db, KEY, config=FAST) as store:
        return read_values(store.database)["device_id"]


def _restarts_at(db: Path) -> int:
    """The sequence of the restored store's own registration entry (the restore's)."""
    restored = [
        sequence
        for sequence, details in _details(db, "sync.registered")
        if details.get("restored") is True
    ]
    assert len(restored) == 1, restored
    return restored[0]


def _details(db: Path, action: str) -> list[tuple[int, dict[str, object]]]:
    with Store.open(db, KEY, config=FAST) as store:
        rows = store.database.query(
            "SELECT sequence, details FROM audit_log WHERE action = ? ORDER BY sequence", (action,)
        )
    return [(int(sequence), json.loads(str(details))) for sequence, details in rows]


def _held(device_id: str, segment: int) -> list[tuple[int, str, str]]:
    rows = AnchoredAuditEntry.objects.filter(device__uid=device_id, segment=segment)
    return [
        (int(sequence), str(action), str(digest))
        for sequence, action, digest in rows.order_by("sequence").values_list(
            "sequence", "action", "entry_hash"
        )
    ]


def _assert_a_break_at_the_restart_then_anchored(db: Path, site: str) -> None:
    """After the restore: one open break at the restored registration entry; acknowledged,
    the next sync anchors the chain from that entry on, and no problem is left."""
    device_id, restart = _device_id(db), _restarts_at(db)
    _events(db, site, 2)
    assert sync(db) == 0
    recorded = list(AuditBreak.objects.filter(device__uid=device_id))
    assert [(found.kind, found.sequence, found.is_open) for found in recorded] == [
        (RESTARTED, restart, True)
    ], (problem(db), [(found.kind, found.sequence, found.reason) for found in recorded])
    assert recorded[0].device_hash == _chain(db)[restart - 1][2]
    assert "registration" in problem(db) and "acknowledge" in problem(db)
    assert acknowledge(recorded[0], "operator", "restored from a backup")
    assert sync(db) == 0
    assert problem(db) == ""
    assert _held(device_id, segment=1) == _chain(db)[restart - 1 :]


def test_a_backup_from_before_registering_restarts_the_chain_at_its_registration_entry(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the hub held the chain from the device's registration on, and the restored
    one (its registration entry before it) was recorded as diverged at the entry after the
    restored registration entry, which was never anchored."""
    db = _new_store(tmp_path / "kiosk" / "jaga.db")
    _events(db, site_slug, 2)
    with Store.open(db, KEY, config=FAST) as store:
        backup(store, tmp_path / "before.db", operator="ops")
    assert register(env, db, live_hub.url, site_slug) == 0
    _events(db, site_slug, 4)
    assert sync(db) == 0

    restore(tmp_path / "before.db", db, KEY, operator="ops", force=True, config=FAST)

    _assert_a_break_at_the_restart_then_anchored(db, site_slug)


@pytest.mark.parametrize("further", [0, 5], ids=["next-entry", "past-it"])
def test_another_devices_backup_restarts_the_chain_at_its_registration_entry(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path, further: int
) -> None:
    """A backup of another kiosk of the site, longer than what the hub holds of this one:
    the restored registration entry comes right after the hub's newest entry (``next-entry``)
    or further on. Before: an ``unlinked`` break at the hub's newest entry, which the device
    never sends again (it is before its registration), or a gap the device was told to fill
    from before its registration: either way no entry anchored again, for good."""
    db = _new_store(tmp_path / "kiosk" / "jaga.db")
    assert register(env, db, live_hub.url, site_slug) == 0
    _events(db, site_slug, 3)
    assert sync(db) == 0  # the hub holds entries 2 (the registration) to 5
    other = _new_store(tmp_path / "other" / "jaga.db")
    assert register(env, other, live_hub.url, site_slug) == 0
    _events(other, site_slug, 3 + further)
    assert sync(other) == 0
    with Store.open(other, KEY, config=FAST) as store:
        backup(store, tmp_path / "other.db", operator="ops")

    restore(tmp_path / "other.db", db, KEY, operator="ops", force=True, config=FAST)

    assert _restarts_at(db) == 6 + further
    _assert_a_break_at_the_restart_then_anchored(db, site_slug)


def test_erasures_carried_over_a_restore_follow_its_registration_entry(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the carried erasures' entries were appended before the restore's registration
    entry, where the device's anchoring begins: the hub never held them."""
    db = _new_store(tmp_path / "kiosk" / "jaga.db")
    with Store.open(db, KEY, config=FAST) as store:
        people = [enrol(store, site_slug, f"E-{n}", seed=n + 1) for n in range(2)]
    with Store.open(db, KEY, config=FAST) as store:
        backup(store, tmp_path / "before.db", operator="ops")
    assert register(env, db, live_hub.url, site_slug) == 0
    with Store.open(db, KEY, config=FAST) as store:
        for uid in people:
            assert store.people.erase(uid, operator="officer-7", reason="asked")

    restore(tmp_path / "before.db", db, KEY, operator="ops", force=True, config=FAST)

    carried = [
        sequence
        for sequence, details in _details(db, "person.erased")
        if details.get("carried_over_restore")
    ]
    assert len(carried) == 2
    assert _restarts_at(db) < min(carried), "the carried erasures come before the start"
    assert sync(db) == 0
    assert problem(db) == ""
    held = _held(_device_id(db), segment=0)
    assert {sequence for sequence, action, _ in held if action == "person.erased"} == set(carried)
