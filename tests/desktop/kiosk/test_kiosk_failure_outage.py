"""The window in kiosk mode, offscreen, with the real models and a real store a full disk
keeps from opening: a video that fails meanwhile ends the kiosk. The store is not tried
again for a kiosk that has stopped, and its retries do not cover "Kiosk out of service"
with "Kiosk unavailable — retrying", which would stay on screen after the space came back.
The test holds the failure until the store's outage is on screen, so nothing depends on
timing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

from desktop.app import open_window
from desktop.kiosk.errors import KioskError
from inference.pack.installed import ModelPack
from tests.desktop.kiosk.test_kiosk_outage import full_disk, kiosk_threads, settings_for
from tests.desktop.kiosk.test_kiosk_photo_source import assert_out_of_service
from tests.desktop.kiosk.test_kiosk_window import kiosk_of, stopped
from tests.desktop.qtwait import wait_until

__all__ = ["full_disk"]  # the fixture, used here
FAILED = "gate.avi has frames of 8000x8000 px (64 MP)"


def test_a_video_failing_while_the_store_is_tried_again_ends_the_kiosk(
    qapp: QApplication, full_disk: tuple[Path, Path], model_pack: ModelPack
) -> None:
    store_path, filler = full_disk
    fail = threading.Event()

    def video() -> Iterator[tuple[float, np.ndarray]]:
        fail.wait(60)  # until the store's outage is on screen
        raise KioskError(FAILED)
        yield  # a generator, as a video's frames are

    settings = settings_for(store_path, model_pack)
    settings = dataclasses.replace(settings, kiosk_source="gate.avi")  # a video, not camera:0
    window = open_window(settings, model_pack, find_pack=lambda: None, kiosk_frames=video)
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: "no space left" in panel.state.text(), "the store's outage", 60)
        fail.set()
        wait_until(lambda: stopped(panel.state), "the kiosk saying it cannot work", 60)
        # The kiosk has stopped: nothing is left to try the store again.
        wait_until(lambda: not kiosk_threads(), "the kiosk's threads to end", 30)
        QApplication.processEvents()  # whatever they said last
        assert panel.state.text() == f"the kiosk cannot work: {FAILED}"
        assert_out_of_service(panel)
        filler.unlink()  # the space comes back: the kiosk stays out of service
        QApplication.processEvents()
        assert stopped(panel.state)
    finally:
        window.close()
    assert not kiosk_threads()
