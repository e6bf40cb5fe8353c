"""The window in kiosk mode when a part it needs goes away, offscreen, with the real models
and store: a camera that stops giving frames is opened again and the kiosk goes on, and a
store a full disk keeps from opening is tried again until it opens. Meanwhile the prompt
says the kiosk is unavailable (not the last person's answer) and the state line says why.
The tests hold the part away until they have looked, so nothing depends on timing."""

from __future__ import annotations

import errno
import functools
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from desktop.app import open_window
from desktop.kiosk.errors import KioskError
from desktop.kiosk.prompts import CAMERA_RESTART, UNAVAILABLE
from desktop.kiosk_panel import KioskPanel
from desktop.settings import AppSettings
from inference.pack.installed import ModelPack
from sync.client.backoff import Backoff
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import StuckCameras, webcam
from tests.desktop.kiosk.test_kiosk_window import camera, kiosk_of
from tests.desktop.qtwait import wait_until
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared
Frames = Iterator[tuple[float, np.ndarray]]


def kiosk_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("jaga-kiosk"))


def settings_for(store_path: Path, model_pack: ModelPack) -> AppSettings:
    env = {PASSPHRASE_ENV: PASSPHRASE, "JAGA_MODELS_DIR": str(model_pack.root)}
    return AppSettings(store_path, None, env, sync_interval_s=3600, store_config=FAST,
                       kiosk_source="camera:0", site="front-gate", device="k1")  # fmt: skip


def answered(panel: KioskPanel) -> bool:
    return panel.prompt.property("tone") in ("accepted", "refused")


def test_a_camera_that_stops_giving_frames_is_opened_again(
    qapp: QApplication, store_path: Path, model_pack: ModelPack
) -> None:
    """NUAA's live session, then the error camera_frames raises after 1.5 s without a
    frame; the camera gives frames again once reopened (a USB hiccup)."""
    opened: list[int] = []
    back = threading.Event()  # the camera stays away until the test has looked
    frames = webcam("live", 10, 14)

    def unplugged() -> Frames:
        opened.append(len(opened))
        if len(opened) > 1:
            back.wait(60)
            yield from camera("live")
        for index, frame in enumerate(frames):
            yield index / 10, frame
            time.sleep(0.1)
        raise KioskError("camera 0 stopped giving frames")

    window = open_window(settings_for(store_path, model_pack), model_pack,
                         find_pack=lambda: None, kiosk_frames=unplugged)  # fmt: skip
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: panel.prompt.text() == UNAVAILABLE["camera"].text, "unavailable", 60)
        assert panel.state.text() == ("the camera is unavailable: camera 0 stopped giving "
                                      "frames; trying again in 1 s")  # fmt: skip
        assert panel.video.pixmap().isNull()  # not the last frame, frozen
        assert kiosk_threads() == ["jaga-kiosk-capture", "jaga-kiosk-inference"]
        wait_until(lambda: len(opened) == 2, "the camera opened again")
        back.set()
        wait_until(lambda: panel.state.text().startswith("ready"), "the state again", 60)
        wait_until(lambda: not panel.video.pixmap().isNull(), "a picture again")
        wait_until(lambda: answered(panel), "an answer again", 60)
    finally:
        back.set()
        window.close()
    assert opened == [0, 1] and not kiosk_threads()
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() >= 1  # the person seen before it went was recorded
        assert store.audit.verify().ok


def test_a_camera_whose_read_never_returns_is_opened_again(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver stuck in a USB reset: read() gives neither a frame nor an error, and the
    kiosk waited on it for ever, the last picture frozen. A camera cannot run here: a
    stand-in for cv2.VideoCapture (a real camera:0 source, through the real reader) gets
    stuck after 14 frames; the read is given up on after READ_TIMEOUT_S (shortened), and
    the camera opened anew gives frames."""
    import cv2

    import desktop.kiosk.sources

    cameras = StuckCameras(webcam("live", 10, 14), [14], pace_s=0.1)
    monkeypatch.setattr(cv2, "VideoCapture", cameras)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.5, raising=False)
    frames = functools.partial(desktop.kiosk.sources.source_frames, "camera:0")
    window = open_window(settings_for(store_path, model_pack), model_pack,
                         find_pack=lambda: None, kiosk_frames=frames)  # fmt: skip
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: panel.prompt.text() == UNAVAILABLE["camera"].text, "unavailable", 60)
        assert panel.state.text().startswith("the camera is unavailable: camera 0 gave no "
                                             "frame")  # fmt: skip
        assert panel.video.pixmap().isNull()  # not the last frame, frozen
        wait_until(lambda: len(cameras.opened) == 2, "the camera opened again")
        wait_until(lambda: panel.state.text().startswith("ready"), "the state again", 60)
        wait_until(lambda: not panel.video.pixmap().isNull(), "a picture again")
    finally:
        window.close()
        cameras.unstick()  # the stuck read returns: its thread releases that camera
    assert not kiosk_threads()
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.audit.verify().ok


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A store on an 8 MiB tmpfs, and a file filling the rest of it (delete it to free
    the space); a skip where mounting is not permitted (needs root)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        store_path = mount_point / "jaga.db"
        Store.create(store_path, Passphrase(PASSPHRASE), config=FAST).close()
        filler = mount_point / "filler"
        with filler.open("wb") as out:
            try:
                while True:
                    out.write(bytes(65536))
                    out.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
        yield store_path, filler
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_store_a_full_disk_keeps_from_opening_is_tried_until_it_opens(
    qapp: QApplication, full_disk: tuple[Path, Path], model_pack: ModelPack
) -> None:
    store_path, filler = full_disk
    window = open_window(settings_for(store_path, model_pack), model_pack,
                         find_pack=lambda: None, kiosk_frames=lambda: camera("live"))  # fmt: skip
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: "no space left" in panel.state.text(), "the reason", 60)
        assert panel.state.text().startswith(f"the disk holding {store_path.parent} is full: no "
                                             "space left")  # fmt: skip
        assert panel.state.text().endswith("; trying again every 5 s")
        assert panel.prompt.text() == UNAVAILABLE["store"].text
        assert kiosk_threads() == ["jaga-kiosk-capture", "jaga-kiosk-inference"]
        filler.unlink()  # the space comes back
        wait_until(lambda: panel.state.text().startswith("ready"), "ready", 60)
        wait_until(lambda: answered(panel), "an answer", 60)
    finally:
        window.close()
    assert not kiosk_threads()


def test_closing_the_window_while_the_store_is_tried_again_ends_the_kiosk(
    qapp: QApplication, full_disk: tuple[Path, Path], model_pack: ModelPack
) -> None:
    store_path, _ = full_disk
    window = open_window(settings_for(store_path, model_pack), model_pack,
                         find_pack=lambda: None, kiosk_frames=lambda: camera("live"))  # fmt: skip
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: "no space left" in panel.state.text(), "the reason", 60)
    finally:
        window.close()  # during the wait between two tries: it is cut short
    assert not kiosk_threads()


def test_a_camera_that_needs_a_restart_says_so_in_the_prompt(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads stuck in the driver until the camera is no longer opened: the state line asked
    for a restart while the big prompt still said "retrying", which no retry mends. Times
    shortened: the read timeout, and the back-off between tries."""
    import cv2

    import desktop.kiosk.runner
    import desktop.kiosk.sources

    for name in ("_stuck", "_refusals", "_late_read_s", "_opens"):
        monkeypatch.setattr(desktop.kiosk.sources, name, {})
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.1)
    monkeypatch.setattr(desktop.kiosk.runner, "CAMERA_BACKOFF", Backoff(base_s=0.02, cap_s=0.6))
    cameras = StuckCameras(webcam("live", 10, 14), [14, 0, 0, 0], pace_s=0.05)
    monkeypatch.setattr(cv2, "VideoCapture", cameras)
    frames = functools.partial(desktop.kiosk.sources.source_frames, "camera:0")
    window = open_window(settings_for(store_path, model_pack), model_pack,
                         find_pack=lambda: None, kiosk_frames=frames)  # fmt: skip
    panel = kiosk_of(window).panel
    try:
        wait_until(lambda: "restart the kiosk" in panel.state.text(), "the restart hint", 60)
        assert panel.prompt.text() == CAMERA_RESTART.text
    finally:
        window.close()
        cameras.unstick()
    assert not kiosk_threads()
