"""A kiosk whose clock was reset (a flat RTC battery: the year 2000) records every decision,
and its audit entry, at that time. The record keeps the time the clock gave (evidence is not
rewritten), but the operator is told at start, on the screen, in the log and by
``jaga kiosk run``, that the times it records are wrong; and so is a clock that goes wrong
while the kiosk runs (an RTC reset, an NTP misstep), from the next frame on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.session import KioskSession
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline
from sync.store import Passphrase, Store
from tests.desktop.kiosk.conftest import Ticks
from tests.desktop.kiosk.test_kiosk_controller import IMAGE, _ScriptedPipeline, controller
from tests.desktop.qtwait import wait_until
from tests.sync.conftest import FAST, FakeClock

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)
RESET = datetime(2000, 1, 1, tzinfo=UTC)


RIGHT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def session_on(store: Store, script: list[tuple[Decision, ...]] | None = None,
               ticks: Ticks | None = None) -> KioskSession:  # fmt: skip
    pipeline = cast(DecisionPipeline, _ScriptedPipeline(script or [], ()))
    return KioskSession(pipeline, store, KioskIdentity("gate", "k1"), clock=ticks or Ticks())


def refused(track: int) -> tuple[Decision, ...]:
    return (Decision(Status.NOT_MATCHED, 0.8, track, None, 0.5, 0.9),)


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


def test_a_clock_reset_while_the_kiosk_runs_is_said_from_the_next_frame(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Right at start, reset to 2000 a minute later (an RTC reset while running): the decision
    after it keeps the clock's time, as at start, but the frame says the clock is wrong (the
    state line, the log, ``session.clock_warning`` for ``jaga kiosk run``), not only a
    restart would."""
    clock = FakeClock(RIGHT, released=RELEASED)
    ticks = Ticks()
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s, [refused(1), refused(2)], ticks)
        kiosk = controller(tmp_path)
        kiosk.ready(session)
        first = session.process(IMAGE)
        assert session.clock_warning is None and first.problem is None
        ticks.now += 60.0
        clock.moment = RESET + timedelta(minutes=1)  # the wall clock steps back; time went on
        with caplog.at_level(logging.WARNING):
            after = session.process(IMAGE)
        kiosk.frame(IMAGE, after)
        wait_until(lambda: "clock looks wrong" in kiosk.panel.state.text(), "the warning shown")
        session.close()
    assert [e.occurred_at.year for e in after.events] == [2000]  # the clock's time, kept
    assert session.clock_warning is not None and "clock looks wrong" in session.clock_warning
    assert after.problem is not None and "clock looks wrong" in after.problem, after.problem
    assert any("clock looks wrong" in r.getMessage() for r in caplog.records)


def test_a_clock_set_back_behind_decisions_recorded_is_said_while_running(
    qapp: QApplication, tmp_path: Path
) -> None:
    """An NTP misstep of an hour back, still after the release date: the decisions after it
    are dated before those recorded before it, out of order; the frame says so."""
    clock = FakeClock(RIGHT, released=RELEASED)
    ticks = Ticks()
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s, [refused(1), refused(2)], ticks)
        assert session.process(IMAGE).problem is None
        ticks.now += 1.0
        clock.moment = RIGHT - timedelta(hours=1)
        after = session.process(IMAGE)
        session.close()
    assert after.problem is not None and "may be wrong" in after.problem, after.problem
    assert session.clock_warning is not None and "60 minutes before" in session.clock_warning


def test_a_clock_set_right_again_while_running_is_no_longer_said(
    qapp: QApplication, tmp_path: Path
) -> None:
    clock = FakeClock(RESET, released=RELEASED)
    ticks = Ticks()
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s, [(), ()], ticks)
        assert session.clock_warning is not None  # said at start
        session.process(IMAGE)
        ticks.now += 1.0
        clock.moment = RIGHT  # NTP set it right
        after = session.process(IMAGE)
        session.close()
    assert session.clock_warning is None and after.problem is None
    assert session.clock_watch.last_wrong is not None  # the summary of `jaga kiosk run`


def test_a_small_step_back_while_running_is_logged(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Thirty seconds back (an NTP step): within the tolerance no warning judges the clock
    wrong by, but the decisions after it are dated before the last ones: the log says so."""
    clock = FakeClock(RIGHT, released=RELEASED)
    ticks = Ticks()
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s:
        session = session_on(s, [refused(1), refused(2)], ticks)
        session.process(IMAGE)
        clock.moment = RIGHT - timedelta(seconds=30)
        with caplog.at_level(logging.WARNING):
            after = session.process(IMAGE)
        session.close()
    assert after.problem is None and session.clock_warning is None
    said = [r.getMessage() for r in caplog.records if "set back" in r.getMessage()]
    assert said == [
        "kiosk: the clock was set back 30.0 s while running: decisions recorded after it are"
        " dated before some recorded before it"
    ]
