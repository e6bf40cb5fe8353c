"""The window in kiosk mode, offscreen: NUAA's webcam session plays as the camera; the
person enrolled in the store is greeted by name, the decision is in the store, audited and
queued, and closing the window ends the kiosk's threads. A printed photo of them is refused
on screen. The panel is saved as a picture to look at (``$JAGA_SCREENSHOT_DIR``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QLabel

from desktop.app import MainWindow, open_window
from desktop.kiosk.enrol import NewPerson, enrol_person
from desktop.kiosk_controller import KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from inference.pack.installed import ModelPack
from sync.client.metrics import METRICS_PORT_ENV
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_overlap import nuaa_frames
from tests.desktop.qtwait import wait_until
from tests.desktop.test_metrics import free_port, scrape, value
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared
SCREENSHOT_ENV = "JAGA_SCREENSHOT_DIR"


def camera(kind: str, count: int = 14) -> Iterator[tuple[float, np.ndarray]]:
    """The session at about 10 fps, then the same last frame, as a camera would go on."""
    frames = webcam(kind, 10, count)
    for index, frame in enumerate(frames):
        yield index / 10, frame
        time.sleep(0.1)
    while True:
        time.sleep(0.1)
        yield time.monotonic(), frames[-1]


def kiosk_window(
    store_path: Path, model_pack: ModelPack, kind: str, more_env: dict[str, str] | None = None
) -> MainWindow:
    env = {PASSPHRASE_ENV: PASSPHRASE, "JAGA_MODELS_DIR": str(model_pack.root), **(more_env or {})}
    settings = AppSettings(store_path, None, env, sync_interval_s=3600, store_config=FAST,
                           kiosk_source="camera:0", site="front-gate", device="k1")  # fmt: skip
    return open_window(settings, model_pack, find_pack=lambda: None,
                       kiosk_frames=lambda: camera(kind))  # fmt: skip


def kiosk_of(window: MainWindow) -> KioskController:
    assert window.kiosk is not None and window.catch is None
    return window.kiosk


@pytest.fixture
def enrolled(store_path: Path, stages: Stages) -> str:
    person = NewPerson("B-001", "Ada Lovelace", "front-gate", "v1", "desk", 30)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        done = enrol_person(store, stages, FaceSettings(), person, webcam_paths("live")[:2])
    return done.person.person_uid


def test_an_enrolled_person_is_greeted_and_the_decision_recorded(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, enrolled: str, tmp_path: Path
) -> None:
    window = kiosk_window(store_path, model_pack, "live")
    panel = kiosk_of(window).panel
    try:
        wait_for_answer(panel, "Welcome")
        assert panel.prompt.text() == "Welcome, Ada Lovelace", panel.state.text()
        assert panel.prompt.property("tone") == "accepted"
        assert panel.state.text().startswith("ready: 1:N, 2 templates; detector on ")
        assert "minifasnet_v2 on " in panel.state.text()
        assert any("verified  Ada Lovelace" in panel.events.item(i).text()
                   for i in range(panel.events.count()))  # fmt: skip
        keep_screenshot(window, tmp_path, "kiosk.png")
        panel.badge.setText(" B-404 ")  # a badge reader types, then Enter
        panel.badge.returnPressed.emit()
        assert panel.badge.text() == ""  # ready for the next person at once
        wait_until(lambda: "B-404" in panel.prompt.text(), "the badge's refusal", 30)
        assert panel.prompt.text() == "Nobody enrolled here has the id 'B-404'"
        assert panel.prompt.property("tone") == "refused"
    finally:
        window.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("jaga-kiosk")]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        verified = [e for e in store.access.between("0", "9") if e.decision == "verified"]
        assert [e.person_uid for e in verified] == [enrolled]
        assert [e.site for e in verified] == ["front-gate"]
        assert store.audit.verify().ok


def test_a_printed_photo_is_refused_on_screen(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, enrolled: str, tmp_path: Path
) -> None:
    window = kiosk_window(store_path, model_pack, "print")
    panel = kiosk_of(window).panel
    try:
        wait_for_answer(panel, "Photo")
        assert panel.prompt.text().startswith("Photo or screen"), panel.state.text()
        assert panel.prompt.property("tone") == "refused"
        keep_screenshot(window, tmp_path, "kiosk-print.png")
    finally:
        window.close()
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        decisions = {e.decision for e in store.access.between("0", "9")}
        assert "spoof_detected" in decisions and "verified" not in decisions


def test_the_metrics_count_frames_stages_decisions_and_providers(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, enrolled: str
) -> None:
    port = free_port()
    window = kiosk_window(store_path, model_pack, "live", {METRICS_PORT_ENV: str(port)})
    panel = kiosk_of(window).panel
    try:
        wait_for_answer(panel, "Welcome")
        samples = scrape(port)
    finally:
        window.close()
    assert value(samples, "jaga_kiosk_decisions_total", decision="verified") == 1
    assert value(samples, "jaga_kiosk_decisions_total", decision="spoof_detected") == 0
    processed = value(samples, "jaga_kiosk_frames_total", outcome="processed") or 0
    assert processed >= 3  # a track is confirmed on its third frame
    detect = value(samples, "jaga_kiosk_stage_duration_seconds_count", stage="detect")
    assert detect == processed
    assert (value(samples, "jaga_kiosk_liveness_count") or 0) >= 1
    assert value(samples, "jaga_kiosk_model_info", model="detector",
                 provider="CPUExecutionProvider") == 1  # fmt: skip


def test_a_threshold_two_enrolled_people_pass_is_a_warning_without_their_names(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, stages: Stages
) -> None:
    """NUAA's 0003 and 0009 pass as each other (``test_kiosk_overlap``); the screen faces
    the public, so it says what is wrong and leaves the names to the log."""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        for external_id, person in (("B-3", "0003"), ("B-9", "0009")):
            new = NewPerson(external_id, external_id, "front-gate", "v1", "desk", 30)
            enrol_person(store, stages, FaceSettings(), new, nuaa_frames(person),
                         accept_duplicates=True)  # fmt: skip
    window = kiosk_window(store_path, model_pack, "live")
    state = kiosk_of(window).panel.state
    try:
        wait_until(lambda: state.text().startswith(("ready", "the kiosk cannot")), "ready", 60)
    finally:
        window.close()
    assert "WARNING: people enrolled here pass as each other" in state.text()
    assert "B-3" not in state.text() and "B-9" not in state.text()


def test_without_a_key_the_kiosk_says_how_to_give_one(
    qapp: QApplication, store_path: Path, model_pack: ModelPack
) -> None:
    settings = AppSettings(store_path, None, {}, sync_interval_s=3600, store_config=FAST,
                           kiosk_source="camera:0")  # fmt: skip
    window = open_window(settings, model_pack, find_pack=lambda: None,
                         kiosk_frames=lambda: camera("live"))  # fmt: skip
    try:
        panel = kiosk_of(window).panel
        assert "store locked" in panel.state.text()
        assert panel.prompt.text() == "Kiosk out of service"  # not "Look at the camera"
        assert not panel.badge.isEnabled()
    finally:
        window.close()


def wait_for_answer(panel: KioskPanel, starts: str) -> None:
    """Until the prompt starts with ``starts``, or the kiosk says it cannot work."""
    wait_until(lambda: panel.prompt.text().startswith(starts) or stopped(panel.state),
               f"a prompt starting {starts!r}", 60)  # fmt: skip


def stopped(state: QLabel) -> bool:
    return state.text().startswith("the kiosk cannot work")


def keep_screenshot(window: MainWindow, scratch: Path, name: str) -> None:
    folder = Path(os.environ.get(SCREENSHOT_ENV) or scratch)
    QApplication.processEvents()
    picture = kiosk_of(window).panel.grab()
    assert not picture.isNull() and picture.width() > 400
    assert picture.save(str(folder / name))
