"""The sync panel says when this device's clock looks wrong, as ``jaga sync status`` does.

A boat laptop whose clock was reset records every catch at a wrong time; the officer works
in the window, not in a terminal, so the window must say it: standing out, after each sync
and when the app starts. A real store, synced by the real client through the app's bridge
with a hub whose ``Date`` is two days past this machine's clock. Set
``JAGA_TEST_SCREENSHOTS=FOLDER`` to keep a picture of the panel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop.settings import AppSettings
from desktop.store_check import check_store
from desktop.sync_panel import SyncPanel
from sync.client import Phase, SyncClient
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_live_app import keep_screenshot
from tests.desktop.test_sync_bridge import run_until
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST


def _synced_with(hub: FakeHub, store_path: Path) -> SyncPanel:
    @contextlib.contextmanager
    def fake_hub_client() -> Iterator[SyncClient]:
        with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
            yield client_of(store, hub)

    receiver, _ = run_until(fake_hub_client, Phase.IDLE, "the first sync")
    panel = SyncPanel(store_path)
    panel.show()
    panel.show_snapshot(receiver.snapshots[receiver.phases().index(Phase.IDLE)])
    return panel


def test_a_clock_behind_the_hub_is_called_wrong_after_a_sync_and_at_start(
    qapp: QApplication, registered_store: Path
) -> None:
    hub = FakeHub()
    hub.date = datetime.now(UTC) + timedelta(days=2)
    panel = _synced_with(hub, registered_store)
    qapp.processEvents()
    assert panel.clock.isVisible()
    assert panel.clock.text().startswith("This device's clock looks wrong: it reads 47 hours")
    assert "set the clock right" in panel.clock.text()
    panel.resize(760, 420)
    qapp.processEvents()
    keep_screenshot(panel, "sync-panel-clock-wrong.png")

    settings = AppSettings(registered_store, None, {PASSPHRASE_ENV: PASSPHRASE}, store_config=FAST)
    started = SyncPanel(registered_store)
    started.show()
    started.show_check(check_store(settings))
    qapp.processEvents()
    assert started.clock.isVisible() and started.clock.text() == panel.clock.text()


def test_a_right_clock_shows_no_warning(qapp: QApplication, registered_store: Path) -> None:
    panel = _synced_with(FakeHub(), registered_store)  # the hub's Date: this machine's time
    qapp.processEvents()
    assert not panel.clock.isVisible()
