"""A kiosk whose clock was reset (a flat RTC battery: the year 2000) records every decision,
and its audit entry, at that time. The record keeps the time the clock gave (evidence is not
rewritten), but the operator is told at start, on the screen, in the log and by
``jaga kiosk run``, that the times it records are wrong."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.session import KioskSession
from inference.face.pipeline import DecisionPipeline
from sync.store import Passphrase, Store
from tests.desktop.kiosk.test_kiosk_controller import _ScriptedPipeline, controller
from tests.desktop.qtwait import wait_until
from tests.sync.conftest import FAST, FakeClock

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)
RESET = datetime(2000, 1, 1, tzinfo=UTC)


def session_on(store: Store) -> KioskSession:
    pipeline = cast(DecisionPipeline, _ScriptedPipeline([], ()))
    return KioskSession(pipeline, store, KioskIdentity("gate", "k1"))


def test_a_kiosk_on_a_reset_clock_says_at_start_that_its_times_are_wrong(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(RESET, released=RELEASED)
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s)
        kiosk = controller(tmp_path)
        with caplog.at_level(logging.WARNING):
            kiosk.ready(session)
            wait_until(lambda: "ready" in kiosk.panel.state.text(), "ready")
        session.close()
    shown = kiosk.panel.state.text()
    assert "WARNING" in shown and "clock looks wrong" in shown, shown
    assert any("clock looks wrong" in r.getMessage() for r in caplog.records)


def test_a_kiosk_on_a_right_clock_says_nothing_of_it(qapp: QApplication, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC), released=RELEASED)
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s)
        kiosk = controller(tmp_path)
        kiosk.ready(session)
        wait_until(lambda: "ready" in kiosk.panel.state.text(), "ready")
        session.close()
    assert "clock" not in kiosk.panel.state.text()
