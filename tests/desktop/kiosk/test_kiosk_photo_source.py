"""The kiosk window, offscreen, given a still photo as its source (a JPEG written here, named
as a photo or as a video): the operator reads what is wrong, the screen stops asking anyone
to look at a camera that shows nothing, nothing is decided or recorded, the models are not
loaded for a source that cannot play (as ``jaga kiosk run`` refuses it), and the window
closes cleanly; a kiosk started afterwards on a real video works. The panel is saved as a
picture to look at (``$JAGA_SCREENSHOT_DIR``)."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow, open_window
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.pack.installed import ModelPack
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import write_video
from tests.desktop.kiosk.test_kiosk_window import keep_screenshot, kiosk_of, stopped
from tests.desktop.qtwait import wait_until
from tests.sync.conftest import FAST

REFUSED = "is a still photo, not a video (a kiosk source is a video file, or camera:N)"


def picture(seed: int) -> np.ndarray:
    """A textured frame without a face (a flat one compresses to nearly nothing)."""
    return np.random.default_rng(seed).integers(0, 256, (240, 320, 3), np.uint8)


def photo(folder: Path, name: str) -> Path:
    """A real JPEG, written by OpenCV, saved under ``name`` (``.jpg``, or ``.mp4``)."""
    jpeg = folder / "still.jpg"
    assert cv2.imwrite(str(jpeg), picture(7))
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff"
    return jpeg if name == jpeg.name else Path(shutil.copyfile(jpeg, folder / name))


def kiosk_on(source: Path, store_path: Path, model_pack: ModelPack) -> MainWindow:
    """The app as ``jaga --kiosk SOURCE`` opens it: the real source, not a test's frames."""
    env = {PASSPHRASE_ENV: PASSPHRASE, "JAGA_MODELS_DIR": str(model_pack.root)}
    settings = AppSettings(store_path, None, env, sync_interval_s=3600, store_config=FAST,
                           kiosk_source=str(source), site="front-gate", device="k1")  # fmt: skip
    return open_window(settings, model_pack, find_pack=lambda: None)


def kiosk_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("jaga-kiosk")]


def recorded(store_path: Path) -> int:
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.audit.verify().ok
        return store.access.count()


@pytest.fixture(params=["still.jpg", "gate.mp4"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return photo(tmp_path, request.param)


def test_a_photo_as_the_source_is_said_on_screen_and_the_kiosk_stands_down(
    qapp: QApplication,
    store_path: Path,
    model_pack: ModelPack,
    source: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="desktop.kiosk_controller")
    window = kiosk_on(source, store_path, model_pack)
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: stopped(panel.state), "the kiosk saying it cannot work", 60)
        wait_until(lambda: not kiosk_threads(), "the kiosk's threads to end", 60)
        QApplication.processEvents()  # whatever they said last
        assert panel.state.text() == f"the kiosk cannot work: {source} {REFUSED}"
        assert "#b3261e" in panel.state.styleSheet()  # shown as a problem
        assert_out_of_service(panel)
        keep_screenshot(window, source.parent, f"kiosk-photo-{source.suffix[1:]}.png")
    finally:
        window.close()
    assert not kiosk_threads()
    messages = [r.getMessage() for r in caplog.records if r.name == "desktop.kiosk_controller"]
    # Refused before its threads ran: the log says it did not start, not that it stopped.
    assert [m for m in messages if "still photo" in m] == [f"kiosk not started: {source} {REFUSED}"]
    # Refused before the models load, as `jaga kiosk run` refuses it: no "ready" after it.
    assert not [m for m in messages if m.startswith("kiosk ready")], messages
    assert recorded(store_path) == 0


def assert_out_of_service(panel: KioskPanel) -> None:
    """Nobody at the kiosk is told to look at a camera that is not running."""
    assert panel.prompt.text() == "Kiosk out of service"
    assert panel.prompt.property("tone") == "idle"
    assert panel.video.pixmap().isNull()
    assert panel.video.text() == "no picture: the kiosk cannot work"
    assert not panel.badge.isEnabled()  # a badge typed now would go nowhere


def test_after_a_refused_photo_a_kiosk_on_a_video_runs(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, tmp_path: Path
) -> None:
    refused = kiosk_on(photo(tmp_path, "gate.mp4"), store_path, model_pack)
    try:
        wait_until(lambda: stopped(kiosk_of(refused).panel.state), "the refusal", 60)
    finally:
        refused.close()
    video = write_video([picture(seed) for seed in range(12)], tmp_path / "gate.avi")
    window = kiosk_on(video, store_path, model_pack)
    panel = kiosk_of(window).panel
    try:
        assert panel.badge.isEnabled()
        wait_until(lambda: panel.state.text().startswith(("the picture ended", "the kiosk cannot")),
                   "the video's end", 60)  # fmt: skip
        assert panel.state.text() == f"the picture ended ({video})"
        assert not panel.video.pixmap().isNull()  # its frames were shown
        assert panel.prompt.text() == "Look at the camera"  # nobody in them
    finally:
        window.close()
    assert not kiosk_threads()
    assert recorded(store_path) == 0
