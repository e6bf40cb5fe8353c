"""A camera whose ``read()`` never returns (a driver stuck in a USB reset), or returns slowly.
No camera runs here: :class:`StuckCameras` stands in for ``cv2.VideoCapture`` under the real
reader. The read is given up on after ``READ_TIMEOUT_S`` (shortened here), the capture is
left to its stuck thread, which releases it once the read returns, and no more than
``MAX_STUCK_READS`` such threads of a camera are left at a time. A slow camera gives its
frames; a stop or Ctrl-C does not wait for a stuck read."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

import cv2
import numpy as np
import pytest

import desktop.kiosk.sources
from desktop.kiosk.errors import KioskError
from desktop.kiosk.runner import KioskRunner, Outage
from desktop.kiosk.sources import (
    MAX_STUCK_READS,
    RESTART_AFTER_REFUSALS,
    reads_stopped_by,
    source_frames,
)
from tests.desktop.kiosk.conftest import StuckCameras

FRAME = np.zeros((4, 4, 3), np.uint8)


@pytest.fixture(autouse=True)
def fresh_cameras(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the reader remembers of each camera, forgotten between tests."""
    for name in ("_stuck", "_refusals", "_late_read_s", "_opens"):
        monkeypatch.setattr(desktop.kiosk.sources, name, {})


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
    with pytest.raises(
        KioskError, match=f"while {MAX_STUCK_READS} of its reads or opens are stuck"
    ):
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


def test_a_camera_slower_than_the_timeout_gives_its_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read took longer than ``READ_TIMEOUT_S``: the camera was given up on at every
    read, reopened for ever and never gave a frame (in the CLI, ``kiosk run`` ended)."""
    # Slower than the timeout, yet well inside the first read's grace (0.6 s): a loaded
    # machine's scheduling must not make the first read look stuck.
    slow = StuckCameras([FRAME], [], pace_s=0.3)
    monkeypatch.setattr(cv2, "VideoCapture", slow)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.2)
    assert len(list(source_frames("camera:0", 4))) == 4
    assert len(slow.opened) == 1


def test_a_camera_is_not_opened_again_before_its_late_read_releases_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read given up on that returns a little later: its capture was still open when the
    same camera was opened again (a V4L2 driver may refuse a second open)."""
    answer = threading.Event()
    opened: list[tuple[int, threading.Event]] = []

    class Late:
        def __init__(self, number: int) -> None:
            self.released = threading.Event()
            self.first = not opened
            assert all(old.is_set() for _, old in opened), "opened while still open"
            opened.append((number, self.released))

        def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
            return True

        def read(self) -> tuple[bool, Any]:
            if self.first:
                answer.wait(30)
            return True, FRAME

        def release(self) -> None:
            self.released.set()

    monkeypatch.setattr(cv2, "VideoCapture", Late)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 2.0)
    monkeypatch.setattr(desktop.kiosk.sources, "FIRST_READ_GRACE", 0.1)
    with pytest.raises(KioskError, match="gave no frame"):
        next(source_frames("camera:0"))
    answer.set()  # the late read returns: its thread releases the capture
    assert opened[0][1].wait(30)
    assert 0 in desktop.kiosk.sources._late_read_s  # kept for the next open's first read
    frames = source_frames("camera:0")
    assert isinstance(frames, Generator)
    assert next(frames)[1].shape == (4, 4, 3)
    frames.close()
    assert len(opened) == 2 and all(released.is_set() for _, released in opened)


@pytest.fixture
def terminal_sigint() -> Iterator[None]:
    """SIGINT raising KeyboardInterrupt, as under a terminal: a suite run in the background
    inherits SIGINT ignored, and the interrupt below would never come."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("terminal_sigint")
def test_ctrl_c_during_a_stuck_read_leaves_it_at_once(
    cameras: StuckCameras, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kiosk run`` iterates the frames on the main thread: Ctrl-C there waited
    ``READ_TIMEOUT_S`` more for the read it interrupted (5 s)."""
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 60.0)
    frames = source_frames("camera:0")
    assert isinstance(frames, Generator)
    next(frames), next(frames)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        next(frames)
    frames.close()
    assert time.monotonic() - started < 30  # not the read's 60 s
    assert len(camera_threads()) == 1  # left to its read, which may never return


class Quiet:
    """A kiosk listener and session that only note the outages."""

    def __init__(self) -> None:
        self.outages: list[Outage] = []

    def ready(self, session: object) -> None: ...
    def frame(self, image: object, frame: object) -> None: ...
    def finished(self, events: object) -> None: ...
    def failed(self, error: BaseException) -> None: ...
    def unavailable(self, outage: Outage) -> None:
        self.outages.append(outage)

    def process(self, image: object, time_s: float) -> Any:
        return type("Result", (), {"events": ()})()

    def interrupt(self) -> tuple[()]:
        return ()

    def finish(self) -> tuple[()]:
        return ()

    def present_badge(self, badge: str) -> None: ...


def test_a_stop_during_a_stuck_read_does_not_wait_for_it(
    cameras: StuckCameras, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's close (30 s for the kiosk, sync and catch together) waited out the
    read's timeout (5 s) first."""
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 60.0)
    quiet = Quiet()
    runner = KioskRunner(lambda: source_frames("camera:0"),
                         lambda: contextlib.nullcontext(quiet),  # type: ignore[arg-type]
                         quiet, camera=True)  # fmt: skip
    runner.start()
    while not cameras.opened or cameras.opened[0].reads < 2:
        time.sleep(0.01)
    started = time.monotonic()
    assert runner.stop(60)
    assert time.monotonic() - started < 30  # not the read's 60 s
    assert not quiet.outages  # a stop is no camera gone


def test_stuck_reads_are_counted_per_camera_and_then_say_to_restart(
    cameras: StuckCameras,
) -> None:
    """Two stuck reads of camera 0 kept every camera from opening, with no word that only a
    restart (or a replug) would help."""
    for _ in range(MAX_STUCK_READS):
        with pytest.raises(KioskError, match="gave no frame"):
            list(source_frames("camera:0"))
    frames = source_frames("camera:1")  # another camera opens
    assert isinstance(frames, Generator)
    assert next(frames)[1].shape == (4, 4, 3)
    frames.close()
    messages = []
    for _ in range(RESTART_AFTER_REFUSALS):
        with pytest.raises(KioskError) as refused:
            source_frames("camera:0")
        messages.append(str(refused.value))
    assert "restart" not in messages[0]
    assert messages[-1].endswith(": restart the kiosk (or unplug the camera and plug it in again)")


def test_a_stop_during_the_wait_for_a_stuck_reader_opens_no_camera(
    cameras: StuckCameras,
) -> None:
    """The wait for an abandoned reader before an open ends on a stop, under the cap: the
    camera was then opened anyway, after the stop (and a blocking open would hold it up)."""
    with pytest.raises(KioskError, match="gave no frame"):
        list(source_frames("camera:0"))
    stop = threading.Event()
    stop.set()
    with reads_stopped_by(stop), pytest.raises(KioskError, match="stopped"):
        source_frames("camera:0")
    assert len(cameras.opened) == 1


def test_a_read_given_up_on_for_a_stop_is_no_late_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read in progress at a stop returns a moment later: it was noted as a late read,
    with a warning at every stop and a longer wait for the next open's first frame."""
    cameras = StuckCameras([FRAME], [1])
    monkeypatch.setattr(cv2, "VideoCapture", cameras)
    stop = threading.Event()
    frames = source_frames("camera:0")
    with reads_stopped_by(stop):
        next(frames)
        stop.set()
        with pytest.raises(KioskError, match="stopped during a read"):
            next(frames)
    with caplog.at_level("WARNING", logger="desktop.kiosk.sources"):
        cameras.unstick()  # the read returns, after the stop
        for thread in camera_threads():
            thread.join(30)
    assert not desktop.kiosk.sources._late_read_s
    assert not [r for r in caplog.records if "given up on" in r.getMessage()]


def test_a_late_read_that_returns_after_the_next_open_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stall's read returned once the camera was open again and giving frames: it was kept,
    and lengthened the first read of an open however much later (twice the old stall)."""
    cameras = StuckCameras([FRAME], [0])  # the first capture's read waits for unstick
    monkeypatch.setattr(cv2, "VideoCapture", cameras)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.2)
    with pytest.raises(KioskError, match="gave no frame"):
        next(source_frames("camera:0"))
    frames = source_frames("camera:0")  # opened again, its reader still stuck
    assert isinstance(frames, Generator)
    next(frames)
    frames.close()
    cameras.unstick()  # the stall's read returns, after that open
    assert not desktop.kiosk.sources._late_read_s


def test_an_open_that_does_not_return_is_a_stuck_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver stuck in a reset may block the open itself: it ran outside the watchdog, so
    the kiosk said nothing more, never asked for a restart, and a stop waited its whole
    bound. (The timer only ends the test without the watchdog: the open returns then.)"""
    gate = threading.Event()
    opens: list[int] = []

    def blocking(number: int) -> Any:
        opens.append(number)
        gate.wait()
        return StuckCameras([FRAME], [])(number)

    monkeypatch.setattr(cv2, "VideoCapture", blocking)
    monkeypatch.setattr(desktop.kiosk.sources, "READ_TIMEOUT_S", 0.1)
    safety = threading.Timer(10, gate.set)
    safety.start()
    try:
        for _ in range(MAX_STUCK_READS):
            with pytest.raises(KioskError, match=r"camera 0 did not open in 0\.3 s"):
                source_frames("camera:0")
        with pytest.raises(
            KioskError, match=f"while {MAX_STUCK_READS} of its reads or opens are stuck"
        ):
            source_frames("camera:0")
        assert len(opens) == MAX_STUCK_READS  # not opened a third time
    finally:
        safety.cancel()
        gate.set()
    for thread in camera_threads():
        thread.join(30)
    assert not camera_threads()  # each open that returned released its capture


def test_frames_dropped_unread_release_their_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    """The camera opens on its reader's thread: frames never iterated (``kiosk run`` failing
    to load its models after opening the source) run no ``finally``, yet release it."""
    cameras = StuckCameras([FRAME], [])
    monkeypatch.setattr(cv2, "VideoCapture", cameras)
    frames = source_frames("camera:0")
    del frames
    gc.collect()
    assert cameras.opened[0].released.wait(30)
