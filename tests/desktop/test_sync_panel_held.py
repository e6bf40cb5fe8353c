"""The sync panel counts the entries held as of no known hub apart from those held for a hub
left since, in the words of `jaga sync status`: no hub takes them, the hub the device is
registered back with included. Found by review: at start the panel counted them as "held
for another hub" (which goes once registered with that hub again), and after a sync it
left them out. A real store, read by the app's own store check and synced by the real
client through the app's bridge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop.settings import AppSettings
from desktop.store_check import check_store
from desktop.sync_panel import SyncPanel
from sync.client import Phase, SyncClient
from sync.client.state import save_registration
from sync.store import Passphrase, Store
from sync.store.hub_keys import UNKNOWN_HUB, hub_key
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.outbox_hub import NO_KNOWN_HUB_WORDS
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_sync_bridge import run_until
from tests.sync.client.fakehub import FakeHub, registration
from tests.sync.client.test_held_records_follow import HUB_A, moved_to_b
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_migration_catch_hub import _v16_store_with_catches

SHOWN = (
    "0 waiting, 0 quarantined, 1 held for another hub, 1 held of no known hub (about records"
    " this device took before it kept which hub they are of, and registered with another hub"
    " since): sent to no hub"
)


def _one_held_of_each(tmp_path: Path) -> Path:
    """A store upgraded from schema 16, moved from hub A to B and then to the fake hub: its
    own catch still unsent is held for A, the review of a catch it pulled before the upgrade
    is held as of no known hub."""
    db = tmp_path / "boat" / "jaga.db"
    db.parent.mkdir()
    clock = FakeClock()
    own, pulled = _v16_store_with_catches(db, Passphrase(PASSPHRASE), clock)
    with Store.open(db, Passphrase(PASSPHRASE), clock=clock, config=FAST) as store:
        moved_to_b(store)
        store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")
        save_registration(store.database, registration(), clock.now(), send_face_images=False)
        assert store.outbox.held_for(own) == hub_key(HUB_A)
        assert store.outbox.held_for(pulled) == UNKNOWN_HUB
    return db


def test_at_start_the_entries_of_no_known_hub_are_counted_apart(
    qapp: QApplication, tmp_path: Path
) -> None:
    db = _one_held_of_each(tmp_path)
    settings = AppSettings(db, None, {PASSPHRASE_ENV: PASSPHRASE}, store_config=FAST)
    panel = SyncPanel(db)
    panel.show()

    panel.show_check(check_store(settings))
    qapp.processEvents()

    assert panel.backlog.text() == SHOWN
    assert panel.backlog.text().endswith(f"1 held {NO_KNOWN_HUB_WORDS}")


def test_after_a_sync_the_entries_of_no_known_hub_are_still_counted_apart(
    qapp: QApplication, tmp_path: Path
) -> None:
    db = _one_held_of_each(tmp_path)
    hub = FakeHub()

    @contextlib.contextmanager
    def fake_hub_client() -> Iterator[SyncClient]:
        with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
            yield client_of(store, hub)

    receiver, _ = run_until(fake_hub_client, Phase.IDLE, "the first sync")
    panel = SyncPanel(db)
    panel.show()
    panel.show_snapshot(receiver.snapshots[receiver.phases().index(Phase.IDLE)])
    qapp.processEvents()

    assert panel.backlog.text() == SHOWN
    assert hub.stored == {}  # neither held entry went to the hub synced with
