"""A camera whose ``read()`` never returns (a driver stuck in a USB reset). No camera runs
here: :class:`StuckCameras` stands in for ``cv2.VideoCapture`` under the real reader. The
read is given up on after ``READ_TIMEOUT_S`` (shortened here), the capture is left to its
stuck thread, which releases it once the read returns, and no more than
``MAX_STUCK_READS`` such threads are left at a time."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator

import cv2
import numpy as np
import pytest

import desktop.kiosk.sources
from desktop.kiosk.errors import KioskError
from desktop.kiosk.sources import MAX_STUCK_READS, source_frames
from tests.desktop.kiosk.conftest import StuckCameras


@pytest.fixture
def cameras(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckCameras]:
    frame = np.zeros((4, 4, 3), np.uint8)
    stuck = StuckCameras([frame], [2] * (MAX_STUCK_READS + 1))
    monkeypatch.setattr(cv2, "VideoCapture", stuck)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.2)
    yield stuck
    stuck.unstick()


def camera_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("jaga-camera-")]


def test_a_read_that_does_not_return_is_a_camera_gone_and_its_capture_left_to_it(
    cameras: StuckCameras,
) -> None:
    frames = source_frames("camera:0")
    next(frames), next(frames)
    with pytest.raises(KioskError, match=r"camera 0 gave no frame in 0\.2 s"):
        next(frames)
    (capture,) = cameras.opened
    assert not capture.released.is_set()  # not from another thread while it reads
    cameras.unstick()  # the read returns: its own thread releases the camera
    for thread in camera_threads():
        thread.join(30)
    assert not camera_threads()


def test_stuck_reads_are_bounded_then_the_camera_is_opened_again(
    cameras: StuckCameras,
) -> None:
    for _ in range(MAX_STUCK_READS):
        frames = source_frames("camera:0")
        with pytest.raises(KioskError, match="gave no frame"):
            list(frames)
    assert len(camera_threads()) == MAX_STUCK_READS
    with pytest.raises(KioskError, match=f"while {MAX_STUCK_READS} reads of a camera are stuck"):
        source_frames("camera:0")
    assert len(cameras.opened) == MAX_STUCK_READS  # not opened: no thread more
    cameras.unstick()
    for thread in camera_threads():
        thread.join(30)
    frames = source_frames("camera:0")
    assert isinstance(frames, Generator)
    assert next(frames)[1].shape == (4, 4, 3)  # the stuck ones returned: opened again
    frames.close()
    assert cameras.opened[-1].released.is_set()  # a camera closed is released at once
    assert not camera_threads()
