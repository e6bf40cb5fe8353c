"""A device moved to another site of the same hub (``--strand-records``) keeps a person of
the old site whose records are still to push. An erasure of them made there cannot be the
hub's from this device: a device erases only its own site's people, and the hub holds no
proof that this device is the one that enrolled them at the old site. So the hub refuses
it, and the device must not take that quietly: ``jaga sync now`` fails, naming the person
and who can erase them everywhere (the hub's admin). Against the real hub."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from main import main
from sync.hub.auth import create_device
from sync.hub.review import erase_person
from sync.store import OutboxState
from tests.sync.client.devices import FAST_TUNING, PASSPHRASE, enrol, new_device
from tests.sync.hub.hubkit import HubProcess


def test_an_erasure_of_a_stranded_person_the_hub_refuses_fails_the_sync_loudly(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: `jaga sync now` exited 0 with `1 quarantined`, the hub and the old site's
    other kiosk kept the person, and nothing told anyone to act."""
    from sync.hub.models import Person

    old_site, new_site = f"{site_slug}-x", f"{site_slug}-y"
    device = new_device(tmp_path, live_hub.url, old_site, "kiosk")
    other = new_device(tmp_path, live_hub.url, old_site, "kiosk-x2")  # stays at the old site
    one_entry = replace(FAST_TUNING, batch_entries=1, max_batches_per_sync=1)
    with device.open() as store, httpx.Client() as http:
        person = enrol(store, old_site, "B-1", seed=1)
        device.client(store, http, tuning=one_entry).sync_once()  # the person only
    with other.open() as store, httpx.Client() as http:
        other.client(store, http).sync_once()
        assert store.people.get(person).external_id == "B-1"
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JAGA_SYNC_CODE", create_device(new_site, "kiosk").code)
    for name in ("JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    db = str(device.path)
    assert main(["sync", "register", "--hub", live_hub.url, "--db", db, "--strand-records"]) == 0
    with device.open() as store:
        assert store.people.get(person)  # kept: its template is still to push
        assert store.people.erase(person, operator="dpo", reason="subject request")
    capsys.readouterr()

    assert main(["sync", "now", "--db", db]) == 1
    err = capsys.readouterr().err
    assert f"the hub refused the erasure of person {person}: forbidden" in err
    assert "a hub admin must erase them" in err
    with device.open() as store:
        [tombstone] = store.outbox.tombstones()
        assert tombstone.state is OutboxState.REJECTED  # kept: registered back, a requeue sends it
    assert not Person.objects.get(uid=person).erased  # a device of another site may not
    assert main(["sync", "status", "--db", db]) == 0
    assert "a hub admin must erase them" in capsys.readouterr().out  # shown until resolved

    # The way the line names: the hub's admin erases them, and the old site's kiosk with it.
    assert erase_person(Person.objects.get(uid=person).pk, reason="subject request")
    with other.open() as store, httpx.Client() as http:
        other.client(store, http).sync_once()
        assert store.people.count() == 0
    # Sent again then, the hub takes it as done: nothing waits in quarantine.
    assert main(["sync", "requeue", "--all", "--db", db]) == 0
    assert main(["sync", "now", "--db", db]) == 0
    with device.open() as store:
        assert [t.state for t in store.outbox.tombstones()] == [OutboxState.ACKNOWLEDGED]
