"""A store busy with another writer, and its disk full, so that the journal beside it cannot
keep the decision either: a real store on a real full file system (a small tmpfs, where
mounting one is permitted), the kiosk's real session, screen and journal. The pipeline is
scripted (its decisions are the test's, not the models')."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.journal import journal_path
from desktop.kiosk.prompts import NOT_RECORDING
from desktop.kiosk.session import KioskSession
from desktop.kiosk.writer import RETRY_S
from desktop.kiosk_controller import KioskController
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline, FaceObservation, FrameResult
from inference.face.types import FaceBox, QualityVerdict
from sync.store import Passphrase, Store
from sync.store.kiosk_waiting import waiting_count
from tests.desktop.kiosk.conftest import Ticks
from tests.desktop.kiosk.test_kiosk_controller import IMAGE, controller
from tests.desktop.kiosk.test_kiosk_rules import QUICK, held_by_another
from tests.desktop.test_catch_spool_full import fill
from tests.sync.conftest import FakeClock, enrol
from tests.sync.test_store_faults import small_tmpfs

__all__ = ["small_tmpfs"]  # a fixture: a 2 MiB tmpfs, or a skip

PASSPHRASE = Passphrase("a kiosk passphrase")  # held_by_another's


class _Standing:
    """One person standing at the kiosk, verified from the first frame on."""

    mode = "1:N"
    claimed = None

    def __init__(self, person: str) -> None:
        self.decision = Decision(Status.VERIFIED, 1.0, 1, person, 0.96, 0.9)
        self._decided = False

    def process(self, image: object, time_s: float | None = None) -> FrameResult:
        box = FaceBox(8, 8, 40, 40, 0.9, ((0.0, 0.0),) * 5)
        face = FaceObservation(1, box, True, QualityVerdict(True, ()), 1.0, 0.9, (),
                               self.decision)  # fmt: skip
        decisions = () if self._decided else (self.decision,)
        self._decided = True
        return FrameResult(0, time_s or 0.0, None, (face,), decisions)

    def finish(self) -> list[Decision]:
        return []


def shown(screen: KioskController, frame: KioskFrame) -> str:
    screen.frame(IMAGE, frame)
    QApplication.processEvents()  # the frame's report, queued on this (the GUI) thread
    return screen.panel.prompt.text()


def journalled(store: Store) -> int | None:
    return waiting_count(store.path, store.key, store.database.config)


@pytest.fixture
def kiosk_on_tmpfs(small_tmpfs: Path) -> Iterator[tuple[Store, KioskSession, Ticks]]:
    """A kiosk session on a store on the tmpfs, one person enrolled; closed before the tmpfs
    is unmounted."""
    clock = FakeClock(datetime.now(UTC))
    with Store.create(small_tmpfs / "jaga.db", PASSPHRASE, clock=clock, config=QUICK) as store:
        pipeline = cast(DecisionPipeline, _Standing(enrol(store, clock, "B-001", 1)))
        ticks = Ticks()
        session = KioskSession(pipeline, store, KioskIdentity("gate", "k1"), clock=ticks)
        try:
            yield store, session, ticks
        finally:
            session.close()


def test_a_decision_neither_the_store_nor_a_full_disk_takes_is_not_greeted_and_stays(
    qapp: QApplication, tmp_path: Path, small_tmpfs: Path,
    kiosk_on_tmpfs: tuple[Store, KioskSession, Ticks],
) -> None:  # fmt: skip
    """Busy store, and no room for the journal (ENOSPC): the screen says the kiosk cannot
    record, the state line that the decision is in memory only; room again, the journal keeps
    it (a kill no longer loses it); the store free, it is written once, and then greeted."""
    store, session, ticks = kiosk_on_tmpfs
    screen = controller(tmp_path)
    with held_by_another(store.path):
        ballast = fill(small_tmpfs)
        frame = session.process(IMAGE)
        assert shown(screen, frame) == NOT_RECORDING.text
        assert frame.events == () and frame.problem is not None
        assert "1 in memory only: no space left" in frame.problem, frame.problem
        assert "in memory only" in screen.panel.state.text()
        assert journalled(store) == 0  # nothing on disk: the state line says a kill loses it
        ballast.unlink()  # room again; the store still busy
        frame = session.process(IMAGE)
        assert shown(screen, frame) == NOT_RECORDING.text
        assert frame.problem is not None and "in memory only" not in frame.problem
        assert journalled(store) == 1
    ticks.now += RETRY_S
    frame = session.process(IMAGE)
    assert [event.decision for event in frame.events] == ["verified"] and frame.problem is None
    assert shown(screen, frame) == "Welcome, Person B-001"
    assert store.access.count() == 1 and journalled(store) == 0
    assert session.finish() == ()


def test_a_stop_with_a_decision_in_memory_only_says_it_is_lost(
    small_tmpfs: Path, kiosk_on_tmpfs: tuple[Store, KioskSession, Ticks]
) -> None:
    store, session, _ = kiosk_on_tmpfs
    with held_by_another(store.path):
        fill(small_tmpfs)
        session.process(IMAGE)
        with pytest.raises(KioskError, match="1 in memory only: no space left"):
            session.finish()
    assert not journal_path(store.path).stat().st_size


def test_a_decision_in_memory_only_is_logged_once_not_on_every_frame(
    small_tmpfs: Path, kiosk_on_tmpfs: tuple[Store, KioskSession, Ticks],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The journal is tried again on every frame while the disk stays full; the log said so
    on every frame too (thirty lines a second, to a journald on that full disk), burying the
    line that matters. It says it once per decision that goes to memory only."""
    store, session, _ = kiosk_on_tmpfs
    with held_by_another(store.path), caplog.at_level(logging.WARNING, "desktop.kiosk.writer"):
        ballast = fill(small_tmpfs)
        frames = [session.process(IMAGE) for _ in range(30)]
        ballast.unlink()
    said = [r.getMessage() for r in caplog.records if r.name == "desktop.kiosk.writer"]
    assert len(said) == 1, said
    assert said[0].startswith("1 decision waiting in memory only: no space left"), said
    assert all(f.problem and "1 in memory only" in f.problem for f in frames)
