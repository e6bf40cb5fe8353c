"""A store registered again as a device id it had before (a new code for that device, after
it was registered as another): the receipt and start it kept for that device are of its
chain before the other registration, and no longer apply. Its anchoring begins at the new
registration's entry, so the hub is never sent what the store recorded as the other device
(another site's records). Against the real hub, with a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from sync.hub.auth import issue_code
from sync.hub.models import AnchoredAuditEntry, AuditBreak
from sync.hub.models import Device as HubDevice
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE
from tests.sync.client.test_register_moved import env, problem, register, sync
from tests.sync.client.test_restore_restart import _device_id, _events, _new_store
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name


def _register_again(env: pytest.MonkeyPatch, db: Path, hub_url: str, device_id: str) -> int:
    """``jaga sync register`` with a new code of the device ``device_id`` (an earlier one)."""
    device = HubDevice.objects.get(uid=device_id)
    env.setenv("JAGA_SYNC_CODE", issue_code(device, by="operator").code)
    return main(["sync", "register", "--hub", hub_url, "--db", str(db)])


def _sequences(db: Path, action: str) -> list[int]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query(
            "SELECT sequence FROM audit_log WHERE action = ? ORDER BY sequence", (action,)
        )
    return [int(sequence) for (sequence,) in rows]


def test_registered_again_as_an_earlier_device_anchors_from_the_new_registration(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the store kept its receipt for the earlier device, and its next sync sent the
    chain on from there: what it recorded as the other device, at the other site."""
    here, there = f"{site_slug}-a", f"{site_slug}-b"
    db = _new_store(tmp_path / "kiosk" / "jaga.db")
    assert register(env, db, live_hub.url, here) == 0
    earlier = _device_id(db)
    _events(db, here, 2)
    assert sync(db) == 0  # the hub holds the earlier device's chain from its registration
    assert register(env, db, live_hub.url, there) == 0
    _events(db, there, 3)
    assert sync(db) == 0
    as_other = _sequences(db, "access.decision")[2:]  # recorded as the other device

    assert _register_again(env, db, live_hub.url, earlier) == 0
    _events(db, here, 1)
    assert sync(db) == 0

    assert _device_id(db) == earlier
    again = _sequences(db, "sync.registered")[-1]
    rows = AnchoredAuditEntry.objects.filter(device__uid=earlier, segment=1)
    held = list(rows.order_by("sequence").values_list("sequence", "action"))
    assert not [sequence for sequence, _ in held if sequence in as_other], held
    assert held and held[0] == (again, "sync.registered"), held
    assert problem(db) == ""
    assert not AuditBreak.objects.filter(device__uid=earlier, acknowledged_at__isnull=True)
