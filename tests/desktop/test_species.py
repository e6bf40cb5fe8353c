"""Species packs in the app: the classifier is built from the first pack there is, a pack a
sync installed is switched to on a worker thread, and a damaged one is refused and shown.
The packs are real (``tests.desktop.species_packs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow, open_window
from desktop.settings import AppSettings
from desktop.species import PackState, SpeciesPacks
from inference.pack.installed import ModelPack
from sync.client import SitePolicy, SyncClient, SyncConfig, SyncReport
from sync.client.packs import IN_USE_NAME, INSTALLED_NAME, packs_dir_for
from sync.client.state import put_values, read_values
from sync.client.stopping import Stopping, never
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.species_packs import RecordingClassifier, build_on_cpu, make_packs, version
from tests.sync.client.fakehub import FakeHub, registration
from tests.sync.client.units import SMALL
from tests.sync.conftest import FAST

if TYPE_CHECKING:
    from inference.fish.classify import SpeciesClassifier

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def packs(model_pack: ModelPack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_packs(model_pack, tmp_path_factory.mktemp("species-packs"))


def test_no_classifier_exists_until_there_is_a_pack(
    qapp: QApplication, packs: dict[str, Path]
) -> None:
    species = SpeciesPacks(build_on_cpu)
    shown: list[PackState] = []
    species.changed.connect(shown.append)
    species.load_first(lambda: [])
    assert species.wait(30)
    qapp.processEvents()
    assert species.classifier is None and species.state == PackState()
    species.load(packs["first"])
    wait_until(lambda: species.state.active is not None, "the first pack", 60)
    assert species.state == PackState(version(packs["first"]), None, packs["first"])
    assert species.classifier is not None
    assert species.classifier.pack.version == version(packs["first"])


def test_a_damaged_pack_is_refused_and_the_current_one_stays(
    qapp: QApplication, packs: dict[str, Path]
) -> None:
    species = SpeciesPacks(build_on_cpu)
    species.load(packs["first"])
    species.load(packs["damaged"])
    wait_until(lambda: species.state.refused is not None, "the refusal", 60)
    assert species.state.active == version(packs["first"])
    assert "does not match its sha256" in (species.state.refused or "")
    assert species.classifier is not None
    assert species.classifier.pack.version == version(packs["first"])


def test_a_pack_that_cannot_be_read_is_refused_and_the_next_one_is_used(
    qapp: QApplication, packs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """An installed pack on a failing SD card raises an OSError (EIO), not a pack refusal:
    it is refused like a bad pack, so the default pack after it still loads."""

    def build(root: Path) -> SpeciesClassifier:
        if root == packs["next"]:
            raise OSError(errno.EIO, "Input/output error", str(root / "species.json"))
        return build_on_cpu(root)

    species = SpeciesPacks(build)
    species.load_first(lambda: [packs["next"], packs["first"]])
    wait_until(lambda: species.state != PackState(), "the first pack that loads", 60)
    assert species.state.active == version(packs["first"])
    assert "OSError: [Errno 5] Input/output error" in (species.state.refused or "")
    assert species.classifier is not None
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.exc_info is not None for r in logged] == [True]  # not a bad pack: its traceback
    caplog.clear()  # the error logged is this test's point, not a failure of it


def window_installing(
    store: Path, packs_to_install: list[Path], tmp_path: Path, start_pack: Path
) -> MainWindow:
    """A window whose syncs (against the fake hub) report ``packs_to_install``, one a round,
    as a sync that downloaded and unpacked a species pack does."""
    hub = FakeHub()

    class InstallingClient(SyncClient):
        def sync_once(self, *, retry_pack: bool = False, stopping: Stopping = never) -> SyncReport:
            report = super().sync_once(retry_pack=retry_pack, stopping=stopping)
            if not packs_to_install:
                return report
            return dataclasses.replace(report, new_species_pack=packs_to_install.pop(0))

    @contextlib.contextmanager
    def opened() -> Iterator[SyncClient]:
        with Store.open(store, Passphrase(PASSPHRASE), config=FAST) as opened_store:
            config = SyncConfig(registration(), SitePolicy(), SMALL)
            yield InstallingClient(opened_store, hub.client(), config)

    settings = AppSettings(store, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, FAST)
    return open_window(
        settings, ModelPack(tmp_path / "none"), open_client=opened, build=build_on_cpu,
        find_pack=lambda: start_pack,
    )  # fmt: skip


def test_a_pack_installed_by_a_sync_is_switched_to_off_the_gui_thread(
    qapp: QApplication, packs: dict[str, Path], registered_store: Path, tmp_path: Path
) -> None:
    RecordingClassifier.switch_threads.clear()
    window = window_installing(
        registered_store, [packs["next"], packs["damaged"]], tmp_path, packs["first"]
    )
    assert window.sync is not None
    panel, species = window.sync.panel, window.sync.species
    try:
        wait_until(lambda: panel.species_pack.text() == version(packs["next"]), "the switch", 60)
        assert species.classifier is not None
        assert species.classifier.pack.version == version(packs["next"])
        assert RecordingClassifier.switch_threads
        assert threading.main_thread() not in RecordingClassifier.switch_threads
        panel.sync_now.click()  # the next round reports the damaged pack
        wait_until(panel.pack_refused.isVisible, "the refusal", 60)
        assert "does not match its sha256" in panel.pack_refused.text()
        assert panel.species_pack.text() == version(packs["next"])
        assert species.classifier.pack.version == version(packs["next"])
        # One switch per report, though later states carry the same report forward.
        assert len(RecordingClassifier.switch_threads) == 2
    finally:
        window.close()


def test_the_pack_a_sync_installed_before_is_the_first_one_loaded(
    qapp: QApplication, packs: dict[str, Path], registered_store: Path, tmp_path: Path
) -> None:
    installed = version(packs["next"])
    shutil.copytree(packs["next"], packs_dir_for(registered_store, {}) / installed)
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        record = {"version": installed, "sha256": "0" * 64, "byte_size": 1}
        put_values(store.database, {INSTALLED_NAME: json.dumps(record)}, store.clock.now())
    window = window_installing(registered_store, [], tmp_path, packs["first"])
    assert window.sync is not None
    try:
        wait_until(lambda: window.sync is not None and window.sync.species.state.active is not None,
                   "the first pack", 60)  # fmt: skip
        assert window.sync.species.state.active == installed  # not the default ("first")
    finally:
        window.close()


def in_use_noted(store_path: Path) -> str | None:
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database).get(IN_USE_NAME)


def test_a_pack_a_sync_installed_is_noted_in_the_store_once_in_use(
    qapp: QApplication, packs: dict[str, Path], registered_store: Path, tmp_path: Path
) -> None:
    """The app notes the installed pack it verified and loaded, so that sync keeps it while
    newer packs arrive and are refused (``sync.client.packs``)."""
    _installed(registered_store, [("broken", packs["damaged"]), ("good", packs["next"])])
    window = window_installing(registered_store, [], tmp_path, packs["first"])
    assert window.sync is not None
    species = window.sync.species
    try:
        wait_until(lambda: species.state.active is not None, "a pack in use", 60)
        assert species.state.active == version(packs["next"])
        wait_until(lambda: in_use_noted(registered_store) == "good", "the pack noted", 30)
    finally:
        window.close()


def _installed(store_path: Path, packs: list[tuple[str, Path]]) -> None:
    """Record ``packs`` (version, folder), newest first, as a sync that installed them would."""
    packs_dir = packs_dir_for(store_path, {})
    for name, folder in packs:
        shutil.copytree(folder, packs_dir / name)
    record = {"version": packs[0][0], "sha256": "0" * 64, "byte_size": 1,
              "previous": packs[1][0] if len(packs) > 1 else None}  # fmt: skip
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        put_values(store.database, {INSTALLED_NAME: json.dumps(record)}, store.clock.now())


def test_a_pack_installed_before_is_loaded_once_a_later_check_can_read_the_store(
    qapp: QApplication, packs: dict[str, Path], tmp_path: Path
) -> None:
    """The store could not be read at start-up (not mounted yet, say), so the default pack
    was loaded; once Resume's check reads the store, the newer pack a sync installed there
    is switched to."""
    path = tmp_path / "device" / "jaga.db"  # no store there yet
    settings = AppSettings(path, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, FAST)
    window = open_window(
        settings, ModelPack(tmp_path / "none"), build=build_on_cpu,
        find_pack=lambda: packs["first"],
    )  # fmt: skip
    assert window.sync is not None
    species, panel = window.sync.species, window.sync.panel
    try:
        wait_until(lambda: species.state.active == version(packs["first"]), "the default", 60)
        wait_until(panel.resume.isEnabled, "the failed check, which offers Resume")
        Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
        _installed(path, [(version(packs["next"]), packs["next"])])
        panel.resume.click()
        wait_until(lambda: species.state.active == version(packs["next"]), "the switch", 60)
        assert species.state.refused is None
    finally:
        window.close()


@pytest.mark.parametrize("previous_kept", [True, False], ids=["previous", "default"])
def test_a_refused_installed_pack_falls_back_to_the_one_before_then_the_default(
    qapp: QApplication, packs: dict[str, Path], registered_store: Path, tmp_path: Path,
    previous_kept: bool,
) -> None:  # fmt: skip
    """The pack a sync installed last fails verification at start-up (a hub published a bad
    one): the officer keeps a classifier, the pack installed before it or else the one the
    app ships with, and the refusal is shown beside it."""
    previous = [(version(packs["next"]), packs["next"])] if previous_kept else []
    _installed(registered_store, [("broken", packs["damaged"]), *previous])
    window = window_installing(registered_store, [], tmp_path, packs["first"])
    assert window.sync is not None
    species = window.sync.species
    try:
        wait_until(lambda: species.state.active is not None, "a pack in use", 60)
        expected = packs["next"] if previous_kept else packs["first"]
        assert species.state.active == version(expected)
        assert "does not match its sha256" in (species.state.refused or "")
        wait_until(window.sync.panel.pack_refused.isVisible, "the refusal shown", 10)
    finally:
        window.close()
