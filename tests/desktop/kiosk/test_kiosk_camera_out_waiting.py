"""Decisions waiting for the store while the camera is out: the state line went on saying
only that the camera was unavailable, and a stop then logged the decisions lost (in memory
only) on the GUI thread alone, which an app quitting never ran.

The kiosk's real window (offscreen), controller, runner threads, session, writer and journal,
on a real store on a real full file system (a 2 MiB tmpfs, where mounting one is permitted)
that another writer holds. A camera cannot run here: a stand-in gives one frame and then
fails as an unplugged one does (the reader's ``KioskError``); the pipeline is scripted (its
decision is the test's, not the models')."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.assemble import KioskOptions
from desktop.kiosk.errors import KioskError
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.prompts import NOT_RECORDING, UNAVAILABLE
from desktop.kiosk.session import KioskSession
from desktop.kiosk_controller import KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.face.pipeline import DecisionPipeline
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.kiosk.test_kiosk_controller import IMAGE, _Stages
from tests.desktop.kiosk.test_kiosk_journal_full import _Standing
from tests.desktop.kiosk.test_kiosk_rules import QUICK, held_by_another
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch_spool_full import fill
from tests.sync.conftest import FakeClock, enrol
from tests.sync.test_store_faults import small_tmpfs

__all__ = ["small_tmpfs"]  # a fixture: a 2 MiB tmpfs, or a skip

PASSPHRASE = "a kiosk passphrase"  # held_by_another's
GONE = "camera 0 gave no frame in 1.5 s"


class UnpluggedCamera:
    """Frames as the kiosk's camera reader gives them: the first time, one frame (once
    ``show`` is set), then, once ``unplug`` is set, the reader's error for a camera gone;
    each time after, that error again once ``replug`` is set (the test's end)."""

    def __init__(self) -> None:
        self.show, self.unplug, self.replug = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )
        self._opened = 0

    def __call__(self) -> Iterator[tuple[float, np.ndarray]]:
        self._opened += 1
        return self._first() if self._opened == 1 else self._gone()

    def _first(self) -> Iterator[tuple[float, np.ndarray]]:
        assert self.show.wait(60)
        yield 0.0, IMAGE
        assert self.unplug.wait(60)
        raise KioskError(GONE)

    def _gone(self) -> Iterator[tuple[float, np.ndarray]]:
        self.replug.wait(60)
        raise KioskError(GONE)
        yield  # a generator, as the reader's frames are


class _StandingReady(_Standing):
    stages = _Stages()  # what the window reads at ``ready``: no models loaded


@pytest.fixture
def store_on_tmpfs(small_tmpfs: Path) -> tuple[Path, str]:
    """A store on the tmpfs with one person enrolled: its path, and the person's uid."""
    path = small_tmpfs / "jaga.db"
    clock = FakeClock(datetime.now(UTC))
    with Store.create(path, Passphrase(PASSPHRASE), clock=clock, config=QUICK) as store:
        return path, enrol(store, clock, "B-001", 1)


def standing_kiosk(path: Path, person: str) -> contextlib.AbstractContextManager[KioskSession]:
    """What the window's opener gives, on the runner's inference thread: the store opened
    and a session over it, its pipeline scripted to verify ``person`` at once."""

    @contextlib.contextmanager
    def opened() -> Iterator[KioskSession]:
        with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
            pipeline = cast(DecisionPipeline, _StandingReady(person))
            session = KioskSession(pipeline, store, KioskIdentity("north-gate", "k1"))
            try:
                yield session
            finally:
                session.close()

    return opened()


def test_decisions_waiting_in_memory_stay_on_the_state_line_while_the_camera_is_out(
    qapp: QApplication, small_tmpfs: Path, store_on_tmpfs: tuple[Path, str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    path, person = store_on_tmpfs
    camera = UnpluggedCamera()
    settings = AppSettings(path, None, {PASSPHRASE_ENV: PASSPHRASE}, kiosk_source="camera:0",
                           store_config=QUICK)  # fmt: skip
    kiosk = KioskController(settings, KioskPanel(), "camera:0", KioskOptions(), frames=camera,
                            open_session=lambda: standing_kiosk(path, person))  # fmt: skip
    panel = kiosk.panel
    caplog.set_level(logging.INFO, "desktop.kiosk_controller")
    kiosk.start()
    try:
        wait_until(lambda: panel.state.text().startswith("ready"), "ready", 60)
        with held_by_another(path):
            ballast = fill(small_tmpfs)  # nor can the journal keep it: in memory only
            camera.show.set()
            wait_until(lambda: panel.prompt.text() == NOT_RECORDING.text, "cannot record", 60)
            assert "1 in memory only: no space left" in panel.state.text()
            camera.unplug.set()
            wait_until(lambda: panel.prompt.text() == UNAVAILABLE["camera"].text, "camera out", 60)
            state = panel.state.text()
            assert state.startswith(f"the camera is unavailable: {GONE}"), state
            assert "1 decision not yet written" in state, state
            assert "1 in memory only: no space left" in state, state
            # Stopped so (an app quitting: its event loop is over, no queued slot runs):
            # the log says what is lost with the process, before the stop returns.
            camera.replug.set()
            assert kiosk.stop(30)
            assert "1 decision not yet written" in stop_logged(caplog), caplog.text
            assert "1 in memory only: no space left" in stop_logged(caplog), caplog.text
            assert stop_logged(caplog).endswith("those in memory only are lost)"), caplog.text
            ballast.unlink()
    finally:
        for event in (camera.show, camera.unplug, camera.replug):
            event.set()
        kiosk.stop(30)
    QApplication.processEvents()  # the failure's report, queued: shown, and not logged twice
    assert panel.state.text().startswith("the kiosk cannot work: stopped with 1 decision")
    stop_logged(caplog)


def stop_logged(caplog: pytest.LogCaptureFixture) -> str:
    """The one line the log has of the kiosk's stop."""
    said = [r.getMessage() for r in caplog.records if r.name == "desktop.kiosk_controller"]
    stopped = [message for message in said if message.startswith("kiosk stopped: ")]
    assert len(stopped) == 1, said
    return stopped[0]


def test_decisions_waiting_are_written_while_the_camera_is_out(
    qapp: QApplication, tmp_path: Path
) -> None:
    """Only a frame tried the store again: with the camera out, a store free again still
    held the decisions in memory (a kill lost those the journal could not keep) until frames
    came back, and the state line said they waited. A store another writer holds, then
    lets go of while the camera is out."""
    path = tmp_path / "jaga.db"
    clock = FakeClock(datetime.now(UTC))
    with Store.create(path, Passphrase(PASSPHRASE), clock=clock, config=QUICK) as store:
        person = enrol(store, clock, "B-001", 1)
    camera = UnpluggedCamera()
    settings = AppSettings(path, None, {PASSPHRASE_ENV: PASSPHRASE}, kiosk_source="camera:0",
                           store_config=QUICK)  # fmt: skip
    kiosk = KioskController(settings, KioskPanel(), "camera:0", KioskOptions(), frames=camera,
                            open_session=lambda: standing_kiosk(path, person))  # fmt: skip
    panel = kiosk.panel
    kiosk.start()
    try:
        wait_until(lambda: panel.state.text().startswith("ready"), "ready", 60)
        with held_by_another(path):
            camera.show.set()
            wait_until(lambda: panel.prompt.text() == NOT_RECORDING.text, "cannot record", 60)
            camera.unplug.set()
            wait_until(lambda: panel.prompt.text() == UNAVAILABLE["camera"].text, "camera out", 60)
            assert "1 decision not yet written" in panel.state.text()
        # The store is free; the camera stays out.
        wait_until(lambda: "not yet written" not in panel.state.text(),
                   "the decision written while the camera is out", 30)  # fmt: skip
        assert panel.prompt.text() == UNAVAILABLE["camera"].text
        assert panel.state.text().startswith(f"the camera is unavailable: {GONE}")
        assert panel.events.count() == 1 and panel.events.item(0).text().endswith(
            "verified  Person B-001"
        )
        with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as other:
            assert [e.decision for e in other.access.between("0000", "9999")] == ["verified"]
    finally:
        for event in (camera.show, camera.unplug, camera.replug):
            event.set()
        assert kiosk.stop(30)
    QApplication.processEvents()
    assert not panel.state.text().startswith("the kiosk cannot work"), panel.state.text()
