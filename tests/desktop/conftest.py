"""Fixtures of the Qt tests: one offscreen ``QApplication``, real stores, a real hub, and
guards that fail a test which leaves a sync thread behind (as napari's do), prints a Qt
warning or logs an error (as qutebrowser's do): a listener that raised on the service thread
is only logged.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from sync.client.state import ensure_schema, save_registration
from sync.store import Passphrase, Store
from tests.conftest import shared_path
from tests.desktop import passphrases
from tests.desktop.qtwait import sync_threads
from tests.sync.client.fakehub import registration
from tests.sync.conftest import FAST

if TYPE_CHECKING:  # ONNX Runtime loads only for the tests that classify
    from inference.fish.classify import SpeciesClassifier
    from tests.desktop.test_catch_panel import Rig
    from tests.sync.hub.hubkit import HubProcess

PASSPHRASE = passphrases.PASSPHRASE  # where the tests import it from
# The offscreen platform's own note on every window shown; not about our code.
_EXPECTED_QT = ("This plugin does not support propagateSizeHints()",)


@pytest.fixture(scope="session")
def qapp() -> QApplication:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    return app


@pytest.fixture(autouse=True)
def windows_die_on_the_gui_thread() -> Iterator[None]:
    """A test's windows, once it lets go of them, are freed here, on the GUI thread.

    A widget held in a reference cycle (a signal connected to a lambda that names it) is
    freed by Python's cyclic collector, which runs in whichever thread happens to allocate
    then: in a later test, a kiosk's inference thread, where deleting a QWidget crashed the
    worker once in CI (a segfault while 'Garbage-collecting'). Collected here instead,
    when a test leaves top-level widgets behind."""
    yield
    if QApplication.instance() is not None and QApplication.topLevelWidgets():
        gc.collect()


@pytest.fixture(autouse=True)
def no_sync_thread_left() -> Iterator[None]:
    yield
    leaked = sync_threads()
    assert not leaked, f"a test left {leaked} running"


@pytest.fixture(autouse=True)
def no_qt_warning_or_logged_error(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    messages: list[str] = []

    def collect(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg and message not in _EXPECTED_QT:
            messages.append(f"{kind.name}: {message}")

    previous = qInstallMessageHandler(collect)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)
    records = caplog.get_records("setup") + caplog.get_records("call")
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert not messages, f"Qt said: {messages}"
    assert not errors, f"logged errors: {errors}"


@pytest.fixture(scope="package")
def hub_database() -> Iterator[str]:
    """The suite's PostgreSQL with the hub migrated, shared by the whole package (the kiosk
    tests too), as the sync client tests share theirs (``tests/sync/client/conftest.py``).

    Each module that used it had its own: a server started, migrated, stopped and removed
    again for every one of them (about 20 s of a loaded worker each). Tests keep apart by
    their own site (``site_slug``). Imported here, not at the top: the worker processes of
    these tests import this module, and the hub's fixtures set Django up when imported."""
    from tests.sync.hub.hubfixtures import provide_hub_database

    yield from provide_hub_database()


@pytest.fixture(scope="package")
def live_hub(hub_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """``jaga hub run`` on ``hub_database``, one worker, shared by the package."""
    from tests.sync.hub.hubkit import start_hub_process

    hub = start_hub_process(hub_database, tmp_path_factory.mktemp("hub"))
    try:
        yield hub
    finally:
        hub.kill()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A real encrypted store with no registration."""
    path = tmp_path / "device" / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    return path


@pytest.fixture
def registered_store(store_path: Path) -> Path:
    """A store registered with the fake hub (``http://hub.test``), as `jaga sync register`
    leaves it."""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        ensure_schema(store.database)
        save_registration(store.database, registration(), store.clock.now(), send_face_images=False)
    return store_path


@pytest.fixture(scope="session")
def species_classifier(default_species_pack: Path) -> SpeciesClassifier:
    """The real classifier of the default pack, on the CPU, loaded once for the catch tests."""
    from inference.fish.classify import SpeciesClassifier
    from inference.runtime import ThreadBudget
    from inference.runtime.providers import CPU, plan_providers

    return SpeciesClassifier.from_path(
        default_species_pack, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )


@pytest.fixture(scope="session")
def f4k() -> Path:
    """Fish4Knowledge photos, one folder per species (a clean skip where absent)."""
    return shared_path("data", "fish", "f4k")


@pytest.fixture
def species_rig(
    qapp: QApplication,
    store_path: Path,
    species_classifier: SpeciesClassifier,
    f4k: Path,
    tmp_path: Path,
) -> Rig:
    """The catch window's real parts on the session's species classifier."""
    from tests.desktop.test_catch_panel import Rig

    del qapp  # created before any widget
    return Rig(store_path, species_classifier, species_classifier.pack.root, f4k, tmp_path)
