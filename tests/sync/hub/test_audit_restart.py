"""A chain that begins anew at the device's registration entry (a restored store's,
``sync.hub.audit_restart``), sent to a hub that holds entries of the device's segment: a
break at that entry, which acknowledged opens a segment from it. A registration entry the
hub holds with the same hash, or that follows its newest entry, is judged as any batch."""

from __future__ import annotations

from pathlib import Path

from sync.hub.audit_breaks import acknowledge
from sync.protocol import AUDIT_CHAIN_BREAK
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import breaks, decide, held, links, send
from tests.sync.hub.test_audit_registration_start import _registers


def test_a_registration_start_sent_again_is_held_already(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    begins = _registers(store, api.device_id, api.site)
    decide(store, clock, 2)
    assert send(api, links(store, after=begins - 1)).status_code == 200
    again = send(api, links(store, after=begins - 1))  # the first answer was lost
    assert again.status_code == 200 and again.json()["stored"] == 0
    assert breaks(api) == []


def test_a_registration_entry_after_the_hubs_newest_goes_on_as_any(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200
    begins = _registers(store, api.device_id, api.site)  # the same device id registered again
    decide(store, clock, 1)
    assert send(api, links(store, after=begins - 1)).status_code == 200
    assert [sequence for _, sequence, _ in held(api)] == list(range(1, begins + 2))
    assert breaks(api) == []


def test_a_chain_begun_anew_at_its_registration_is_a_break_there(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 3)
    assert send(api, links(store)).status_code == 200  # the hub holds 1..4
    with Store.create(tmp_path / "restored.db", passphrase, clock=clock, config=FAST) as other:
        decide(other, clock, 6)  # another chain, longer than what the hub holds
        begins = _registers(other, api.device_id, api.site)
        decide(other, clock, 1)
        answer = send(api, links(other, after=begins - 1))
        assert (answer.status_code, answer.json()["error"]) == (409, AUDIT_CHAIN_BREAK)
        (record,) = breaks(api)
        assert (record.kind, record.sequence, record.segment) == ("restarted", begins, 0)
        assert record.device_hash == other.audit.links(begins - 1, 1)[0][7]
        assert f"begins anew at entry {begins}" in answer.json()["reason"]
        assert acknowledge(record, "operator", "restored from another kiosk's backup")
        assert send(api, links(other, after=begins - 1)).status_code == 200
        assert [sequence for segment, sequence, _ in held(api) if segment == 1] == [
            begins,
            begins + 1,
        ]
