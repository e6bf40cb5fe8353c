"""The controller's reports, played as the runner's threads make them (queued signals):
a greeting keeps its name on the frames after the decision, a failure is not covered by a
late "ready" nor by a frame that was in flight, and a problem is shown while it lasts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.kiosk.assemble import KioskOptions
from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.prompts import NOT_RECORDING
from desktop.kiosk.runner import Outage
from desktop.kiosk.session import KioskSession
from desktop.kiosk_controller import KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline, FaceObservation, FrameResult
from inference.face.types import FaceBox, QualityVerdict
from sync.store import AccessEvent, Passphrase, Store
from tests.desktop.kiosk.test_kiosk_rules import ScriptedPipeline
from tests.desktop.qtwait import wait_until
from tests.sync.conftest import FAST

UID = "0f8fad5b-d9cb-469f-a165-70867728950e"
IMAGE = np.zeros((48, 64, 3), np.uint8)
VERIFIED = Decision(Status.VERIFIED, 1.0, 1, UID, 0.96, 0.9)


def controller(tmp_path: Path) -> KioskController:
    settings = AppSettings(tmp_path / "jaga.db", kiosk_source="camera:0")
    return KioskController(settings, KioskPanel(), "camera:0", KioskOptions())


def frame(names: dict[str, str], problem: str | None = None) -> KioskFrame:
    face = FaceObservation(1, FaceBox(8, 8, 40, 40, 0.9, ((0.0, 0.0),) * 5), True,
                           QualityVerdict(True, ()), 1.0, 0.9, (), VERIFIED)  # fmt: skip
    return KioskFrame(FrameResult(0, 0.0, None, (face,), ()), (), names, problem=problem)


def test_the_greeting_keeps_its_name_on_the_frames_after_the_decision(
    qapp: QApplication, tmp_path: Path
) -> None:
    kiosk = controller(tmp_path)
    kiosk.frame(IMAGE, frame({UID: "Ada"}))  # the frame that recorded the decision
    kiosk.frame(IMAGE, frame({}))  # the same face, decided, on the next frame
    wait_until(lambda: kiosk.panel.prompt.text().startswith("Welcome"), "the greeting")
    QApplication.processEvents()  # the second frame's report, queued behind the first
    assert kiosk.panel.prompt.text() == "Welcome, Ada"


def test_an_event_is_listed_with_the_name_the_session_gave_when_it_was_written(
    qapp: QApplication, tmp_path: Path
) -> None:
    kiosk = controller(tmp_path)
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    written = AccessEvent(at, "north-gate", "kiosk-1", "verified", UID, 0.96, 0.9)
    # greeted by name on an earlier frame (an earlier event of theirs, written)
    kiosk.frame(IMAGE, frame({UID: "Ada"}))
    # erased meanwhile: the session, writing the event, finds no name for them any more
    kiosk.frame(IMAGE, KioskFrame(frame({}).result, (written,), {}))
    # an event written while the person is still enrolled is listed with their name
    kiosk.frame(IMAGE, KioskFrame(frame({}).result, (written,), {UID: "Ada"}))
    wait_until(lambda: kiosk.panel.events.count() == 2, "both events listed")
    QApplication.processEvents()
    assert kiosk.panel.events.item(1).text().endswith("verified")
    assert kiosk.panel.events.item(0).text().endswith("verified  Ada")


def test_an_outages_events_are_listed_with_the_names_the_session_gave_them(
    qapp: QApplication, tmp_path: Path
) -> None:
    """The camera went while a track was open: its event, written then, is listed with the
    name the session found for it, none for someone erased since the greeting."""
    kiosk = controller(tmp_path)
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    written = AccessEvent(at, "north-gate", "kiosk-1", "verified", UID, 0.96, 0.9)
    kiosk.frame(IMAGE, frame({UID: "Ada"}))
    kiosk.unavailable(Outage("camera", "camera gone", 5.0, events=(written,)))
    wait_until(lambda: kiosk.panel.events.count() == 1, "the event listed")
    assert kiosk.panel.events.item(0).text().endswith("verified")
    kiosk.unavailable(Outage("camera", "camera gone", 5.0, (written,), names={UID: "Ada"}))
    wait_until(lambda: kiosk.panel.events.count() == 2, "the second event listed")
    assert kiosk.panel.events.item(0).text().endswith("verified  Ada")


def test_a_failure_is_not_covered_by_a_late_ready(qapp: QApplication, tmp_path: Path) -> None:
    kiosk = controller(tmp_path)
    kiosk.failed(KioskError("camera 0 cannot be opened (not connected, or in use)"))
    kiosk._ready.emit("ready: 1:N, 0 templates; detector on CPUExecutionProvider", {}, frozenset())
    wait_until(lambda: kiosk._ready_text != "", "ready")
    assert kiosk.panel.state.text().startswith("the kiosk cannot work: camera 0")


def test_a_frame_in_flight_when_it_failed_is_recorded_not_shown(
    qapp: QApplication, tmp_path: Path
) -> None:
    """A video whose read failed while inference finished the frame before: the kiosk is
    out of service, and that frame's greeting does not say otherwise."""
    kiosk = controller(tmp_path)
    kiosk.failed(KioskError("gate.avi has frames of 8000x8000 px (64 MP)"))
    kiosk.frame(IMAGE, frame({UID: "Ada"}))
    wait_until(lambda: kiosk.panel.prompt.text() != "Look at the camera", "the failure")
    QApplication.processEvents()  # the frame's report, queued behind the failure
    panel = kiosk.panel
    assert panel.prompt.text() == "Kiosk out of service"
    assert panel.video.pixmap().isNull() and not panel.badge.isEnabled()
    assert panel.state.text().startswith("the kiosk cannot work: gate.avi")


def test_a_frame_in_flights_problem_does_not_cover_the_failure(
    qapp: QApplication, tmp_path: Path
) -> None:
    """Its decisions waiting for the store are said too, under why the kiosk cannot work."""
    kiosk = controller(tmp_path)
    kiosk.failed(KioskError("gate.avi has frames of 8000x8000 px (64 MP)"))
    kiosk.frame(IMAGE, frame({}, problem="1 decision not yet written: store busy"))
    wait_until(lambda: "not yet written" in kiosk.panel.state.text(), "the problem")
    lines = kiosk.panel.state.text().splitlines()
    assert lines[0].startswith("the kiosk cannot work: gate.avi"), lines
    assert lines[1] == "1 decision not yet written: store busy"
    kiosk.frame(IMAGE, frame({}))  # written since
    wait_until(lambda: "not yet written" not in kiosk.panel.state.text(), "the problem gone")
    assert kiosk.panel.state.text().startswith("the kiosk cannot work: gate.avi")


def test_a_problem_is_shown_while_it_lasts(qapp: QApplication, tmp_path: Path) -> None:
    kiosk = controller(tmp_path)
    kiosk._ready.emit("ready: 1:N, 2 templates", {}, frozenset())
    kiosk.frame(IMAGE, frame({}, problem="1 decision not yet written: store busy"))
    wait_until(lambda: "not yet written" in kiosk.panel.state.text(), "the problem")
    kiosk.frame(IMAGE, frame({}))
    wait_until(lambda: kiosk.panel.state.text() == "ready: 1:N, 2 templates", "the state again")


def test_an_outage_said_after_the_failure_does_not_cover_it(
    qapp: QApplication, tmp_path: Path
) -> None:
    """The store's try in flight when the video failed: its outage comes after the failure,
    and "retrying" would stay on screen for a kiosk that is not tried again."""
    kiosk = controller(tmp_path)
    kiosk.failed(KioskError("gate.avi has frames of 8000x8000 px (64 MP)"))
    kiosk.unavailable(Outage("store", "no space left for jaga.db", 5.0))
    wait_until(lambda: kiosk.panel.prompt.text() != "Look at the camera", "the failure")
    QApplication.processEvents()  # the outage's report, queued behind it
    panel = kiosk.panel
    assert panel.prompt.text() == "Kiosk out of service"
    said = "the kiosk cannot work: gate.avi has frames of 8000x8000 px (64 MP)"
    assert panel.state.text() == said
    assert panel.video.text() == "no picture: the kiosk cannot work"
    assert not panel.badge.isEnabled()


def test_a_greeting_still_held_gives_way_to_cannot_record(
    qapp: QApplication, tmp_path: Path
) -> None:
    """Ada was welcomed (her decision written); within the seconds a greeting is held, the
    next person is verified while another writer holds the store. The screen says it cannot
    record, not "Welcome, Ada" to the person now in front of it, who is not recorded yet."""
    kiosk = controller(tmp_path)
    kiosk.frame(IMAGE, frame({UID: "Ada"}))
    bo = "5c1d7f8e-2a4b-4c6d-8e9f-0a1b2c3d4e5f"
    face = FaceObservation(2, FaceBox(8, 8, 40, 40, 0.9, ((0.0, 0.0),) * 5), True,
                           QualityVerdict(True, ()), 1.0, 0.9, (),
                           Decision(Status.VERIFIED, 1.0, 2, bo, 0.96, 0.9))  # fmt: skip
    waiting = KioskFrame(FrameResult(1, 0.1, None, (face,), ()), (), {},
                         problem="1 decision not yet written: store busy",
                         unwritten=frozenset({2}))  # fmt: skip
    kiosk.frame(IMAGE, waiting)
    wait_until(lambda: "not yet written" in kiosk.panel.state.text(), "the problem")
    assert kiosk.panel.prompt.text() == NOT_RECORDING.text


class _Stages:
    """What the controller reads of the stages at ``ready``: none loaded."""

    detector = liveness = recogniser = challenges = gallery = None


class _ScriptedPipeline(ScriptedPipeline):
    mode = "1:N"
    stages = _Stages()


def test_decisions_an_earlier_run_left_waiting_are_listed_as_such(
    qapp: QApplication, tmp_path: Path
) -> None:
    """A run killed with a refusal waiting for the store left it in the journal; this run
    writes it first. The list shows it as the earlier run's (with its date: it may be days
    old), not as a decision of the person now in front of the camera."""
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk passphrase"), config=FAST) as store:
        at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        earlier = AccessEvent(at, "gate", "k1", "spoof_detected", None, None, 0.1)
        journal = DecisionJournal(store)
        journal.keep([earlier])
        journal.close()
        now = Decision(Status.NOT_MATCHED, 0.8, 2, None, 0.5, 0.9)
        pipeline = cast(DecisionPipeline, _ScriptedPipeline([(now,)], ()))
        session = KioskSession(pipeline, store, KioskIdentity("gate", "k1"))
        kiosk = controller(tmp_path)
        kiosk.ready(session)
        kiosk.frame(IMAGE, session.process(IMAGE))
        wait_until(lambda: kiosk.panel.events.count() == 2, "both events listed")
        session.close()
    listed = [kiosk.panel.events.item(i).text() for i in range(2)]
    assert listed[0].endswith("not_matched"), listed  # this run's, newest first
    assert "spoof_detected" in listed[1] and listed[1].endswith("(from an earlier run)")
    assert at.astimezone().strftime("%Y-%m-%d") in listed[1], listed


def test_a_journal_set_aside_at_start_is_said_under_ready(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal under a key the store no longer has, set aside unrecorded as the kiosk
    starts: the log alone said so; whoever watches the kiosk's screen is told too."""
    with Store.create(tmp_path / "o.db", Passphrase("another"), config=FAST) as other:
        journal = DecisionJournal(other)
        journal.keep([AccessEvent(datetime.now(UTC), "gate", "k1", "not_matched", None, 0.2, 0.9)])
        journal.close()
    journal_path(tmp_path / "o.db").rename(journal_path(tmp_path / "k.db"))
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk passphrase"), config=FAST) as store:
        pipeline = cast(DecisionPipeline, _ScriptedPipeline([], ()))
        session = KioskSession(pipeline, store, KioskIdentity("gate", "k1"))
        caplog.clear()  # the error the kiosk logs, which this test expects
        kiosk = controller(tmp_path)
        kiosk.ready(session)
        wait_until(lambda: "ready" in kiosk.panel.state.text(), "ready")
        session.close()
    shown = kiosk.panel.state.text()
    assert "WARNING: " in shown and "k.db.kiosk-waiting.unreadable-" in shown, shown
    assert "not recorded" in shown
