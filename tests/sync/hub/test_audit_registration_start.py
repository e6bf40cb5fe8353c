"""A device's anchoring begins at its registration (``sync.client.audit_start``): the hub
takes a chain that begins with the entry of this device's registration from a device it
holds none of, with no break or pruned record, and nothing of what the store recorded
before; any other chain that does not begin at entry 1 is still a gap."""

from __future__ import annotations

from pathlib import Path

from sync.hub.auth import issue_code
from sync.hub.models import Device
from sync.protocol import AUDIT_GAP, REGISTERED_ACTION
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import (
    _registered_again,
    breaks,
    decide,
    held,
    links,
    send,
)


def _registers(store: Store, device_id: str, site: str) -> int:
    """Append the entry ``jaga sync register`` writes; its sequence."""
    entry = store.audit.record(
        actor="ops",
        action=REGISTERED_ACTION,
        subject=device_id,
        details={"device_id": device_id, "site": site},
    )
    return entry.sequence


def test_a_chain_from_the_devices_registration_is_taken_with_no_record(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 3)  # recorded under an earlier registration: not this hub's
    begins = _registers(store, api.device_id, api.site)
    decide(store, clock, 2)

    answer = send(api, links(store, after=begins - 1))

    assert answer.status_code == 200, answer.content
    assert [sequence for _, sequence, _ in held(api)] == list(range(begins, begins + 3))
    assert breaks(api) == []
    decide(store, clock, 1)
    assert send(api, links(store, after=begins + 2)).status_code == 200  # goes on as any
    assert held(api)[-1][1:] == store.audit.head()


def test_another_devices_registration_is_no_start(api: Api, store: Store, clock: FakeClock) -> None:
    decide(store, clock, 1)
    other = Api.register_new(api.site, "kiosk-2")
    begins = _registers(store, other.device_id, api.site)

    answer = send(api, links(store, after=begins - 1))

    assert (answer.status_code, answer.json()["error"]) == (409, AUDIT_GAP)
    assert held(api) == [] and breaks(api) == []


def test_a_new_store_after_a_code_is_taken_from_its_registration(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    with Store.create(tmp_path / "replacement.db", passphrase, clock=clock, config=FAST) as fresh:
        decide(fresh, clock, 2)  # its records before this registration
        begins = _registers(fresh, api.device_id, api.site)
        decide(fresh, clock, 1)
        answer = send(again, links(fresh, after=begins - 1))
    assert answer.status_code == 200, answer.content
    assert [sequence for segment, sequence, _ in held(api) if segment == 1] == [begins, begins + 1]
    (record,) = breaks(api)
    assert (record.kind, record.continues_old_chain) == ("reissued", False)
