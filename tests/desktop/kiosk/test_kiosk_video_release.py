"""A kiosk's video file is let go once the kiosk stops with it: played to a stop, or never
played at all. The app opens the video before the models load (to refuse a still photo at
once), so a kiosk stopped before the end of its video held the file open, a descriptor per
kiosk started, for as long as the window lived."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from inference.face.eval_video import video_frames
from inference.pack.installed import ModelPack
from tests.desktop.kiosk.conftest import write_video
from tests.desktop.kiosk.test_kiosk_photo_source import kiosk_on, kiosk_threads
from tests.desktop.qtwait import wait_until

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def open_on(path: Path) -> list[str]:
    """This process's descriptors open on ``path``."""
    target = str(path.resolve())
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if str(fd.readlink()) == target:
                found.append(fd.name)
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
    return found


def long_video(folder: Path, frames: int = 3000) -> Path:
    """Longer than the kiosk will play before it is stopped (small frames: a quick write)."""
    ramp = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3)
    pictures = [np.asarray((ramp + n) % 256, np.uint8) for n in range(frames)]
    return write_video(pictures, folder / "gate.avi")


def test_a_video_never_read_is_let_go_when_closed(tmp_path: Path) -> None:
    video = long_video(tmp_path, frames=20)
    frames = video_frames(video)
    assert open_on(video)  # opened by the call, before the first frame is asked for
    frames.close()
    assert open_on(video) == []


def test_a_video_read_part_way_is_let_go_when_closed(tmp_path: Path) -> None:
    video = long_video(tmp_path, frames=20)
    frames = video_frames(video)
    next(frames)
    frames.close()
    assert open_on(video) == []


def test_a_kiosk_stopped_before_its_video_ends_lets_the_file_go(
    qapp: QApplication, store_path: Path, model_pack: ModelPack, tmp_path: Path
) -> None:
    video = long_video(tmp_path)
    window = kiosk_on(video, store_path, model_pack)
    try:
        assert open_on(video)  # opened before the models load
    finally:
        window.close()  # stops the kiosk well before 3,000 frames are played
    wait_until(lambda: not kiosk_threads(), "the kiosk's threads to end", 60)
    assert window.kiosk is not None  # the window, and its kiosk, still alive
    assert open_on(video) == []
