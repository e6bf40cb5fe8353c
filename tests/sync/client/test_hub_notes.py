"""What a device notes of its hub's answers (the species pack it announced, why that pack
failed to install, the audit chain's problem) is that hub's: registered with another hub,
the device forgets it, or ``jaga sync status`` would tell of the old hub as of the new one
(the new hub "no longer offers" a pack it never announced; an audit break for its admin to
close that it never saw). Registered again with the same hub, the pack's notes stay."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sync.client.audit import BREAK_NAME, PROBLEM_NAME
from sync.client.packs import forget_withdrawn_pack
from sync.client.state import put_values, save_registration
from sync.client.status import read_status
from sync.species_packs import archive_pack
from sync.store import Store
from tests.sync.client.fakehub import FakeHub, Fault, registration
from tests.sync.client.test_packs import PACK_FILE, announce
from tests.sync.client.units import client_of
from tests.sync.conftest import FakeClock
from tests.sync.test_species_packs import make_pack


def _pack_refused_by_the_first_hub(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """Registered with the first hub, which announced v7 and failed its download; and the
    hub's answer to the audit chain: a break its admin must close."""
    save_registration(store.database, registration(), clock.now(), send_face_images=False)
    hub = FakeHub()
    announce(hub, "v7", archive_pack(make_pack(tmp_path / "v7")))
    hub.faults.append(Fault(PACK_FILE, status=503, error="busy"))
    report = client_of(store, hub).sync_once()
    assert report.species_pack_error is not None
    put_values(
        store.database, {PROBLEM_NAME: "audit break at entry 3", BREAK_NAME: "1"}, clock.now()
    )
    lines = read_status(store, {}).species_pack.lines()
    assert lines[0].startswith("species pack announced v7") and len(lines) == 2


def test_registered_with_another_hub_the_old_hubs_notes_are_forgotten(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    _pack_refused_by_the_first_hub(store, clock, tmp_path)
    other = replace(registration(), hub_url="https://another-hub.example")

    save_registration(store.database, other, clock.now(), send_face_images=False)

    status = read_status(store, {})
    assert status.species_pack.lines() == []
    assert status.audit.problem is None and not status.audit.break_open
    with store.database.write() as connection:  # the new hub's answer names no pack
        forget_withdrawn_pack(connection, clock.now())
    assert read_status(store, {}).species_pack.lines() == []


def test_registered_again_with_the_same_hub_its_pack_notes_stay(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    _pack_refused_by_the_first_hub(store, clock, tmp_path)

    save_registration(store.database, registration(), clock.now(), send_face_images=False)

    assert read_status(store, {}).species_pack.lines()[0].startswith("species pack announced v7")
