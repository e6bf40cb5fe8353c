"""Frames for the kiosk: a recorded video (its own time) or a camera (the monotonic clock).

Both yield ``(capture time in seconds, BGR frame)``. A camera that cannot be opened, or
that stops giving frames, is a :class:`KioskError`, not an endless wait. A ``camera:``
source that names no camera (``camera:x``, a typo) is a :class:`KioskSourceError`: a
setting to fix, which no retry mends.

A camera can also stop inside ``read()``: a driver stuck in a USB reset gives neither a
frame nor an error. Each camera is therefore read on its own thread, one frame at a time,
and a read that has not returned after ``READ_TIMEOUT_S`` is a :class:`KioskError` like
failed reads (the kiosk says the camera is unavailable and opens it again). A thread stuck
in a native call cannot be stopped: that capture is abandoned to its thread, which releases
it if its read ever returns, and a new one is opened. At most ``MAX_STUCK_READS`` such
threads are left at a time: beyond them no camera is opened (a :class:`KioskError` too, so
the kiosk tries again later, when one may have returned), and threads do not pile up.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from desktop.kiosk.errors import KioskError
from inference.errors import InputError
from inference.face.eval_video import Image, video_frames

CAMERA_PREFIX = "camera:"
# Failed reads in a row, and the pause after each, before a camera counts as gone (a USB
# camera unplugged): 1.5 s, longer than any driver's hiccup.
_CAMERA_MISSES = 30
_MISS_PAUSE_S = 0.05
# A read that has not returned after this long counts as the camera gone: several frame
# times of the slowest camera (a few fps in the dark), and a stall nobody at a kiosk waits
# out.
READ_TIMEOUT_S = 5.0
MAX_STUCK_READS = 2
_stuck_lock = threading.Lock()
_stuck: list[threading.Thread] = []  # readers abandoned in a read that had not returned


class KioskSourceError(KioskError):
    """The kiosk's source setting names no camera: the kiosk stops and says so, where a
    camera that is unplugged is opened again."""


def camera_number(index: str) -> int:
    """N of ``camera:N``; :class:`KioskSourceError` when it is no number from 0 (OpenCV's
    "any camera", -1, crashed the process)."""
    try:
        number = int(index)
    except ValueError:
        number = -1
    if number < 0:
        raise KioskSourceError(f"a camera is camera:N with N a number from 0, not {index!r}")
    return number


def check_source(source: str) -> str:
    """``source`` when it may be a kiosk's source: a ``camera:`` one must name a camera
    (:class:`KioskSourceError`); a video file is checked when opened."""
    if source.startswith(CAMERA_PREFIX):
        camera_number(source.removeprefix(CAMERA_PREFIX))
    return source


def source_frames(source: str, max_frames: int | None = None) -> Iterator[tuple[float, Image]]:
    """``camera:N`` (camera N), else a video file; opened, or refused, by this call."""
    if source.startswith(CAMERA_PREFIX):
        return camera_frames(source.removeprefix(CAMERA_PREFIX), max_frames)
    try:
        return video_frames(Path(source), max_frames)
    except InputError as error:  # a typo for a camera reads as a missing file
        raise KioskError(f"{error} (a kiosk source is a video file, or camera:N)") from None


def camera_frames(index: str, max_frames: int | None = None) -> Iterator[tuple[float, Image]]:
    """Frames of camera ``index`` (``0`` is the first) as they come."""
    number = camera_number(index)
    stuck = _stuck_reads()
    if stuck >= MAX_STUCK_READS:
        raise KioskError(f"camera {number} is not opened again while {stuck} reads of a "
                         "camera are stuck in its driver")  # fmt: skip
    capture = cv2.VideoCapture(number)
    if not capture.isOpened():
        capture.release()
        raise KioskError(f"camera {number} cannot be opened (not connected, or in use)")
    return _read(capture, number, max_frames)


def _stuck_reads() -> int:
    """The abandoned readers still inside a read (those whose read returned are gone)."""
    with _stuck_lock:
        _stuck[:] = [thread for thread in _stuck if thread.is_alive()]
        return len(_stuck)


def _read(
    capture: cv2.VideoCapture, number: int, max_frames: int | None
) -> Iterator[tuple[float, Image]]:
    reader = _Reader(capture, number)  # its thread starts with the first frame asked for
    try:
        frames = misses = 0
        while max_frames is None or frames < max_frames:
            ok, frame = reader.read(READ_TIMEOUT_S)
            if not ok:
                misses += 1
                if misses >= _CAMERA_MISSES:
                    raise KioskError(f"camera {number} stopped giving frames")
                time.sleep(_MISS_PAUSE_S)
                continue
            misses = 0
            frames += 1
            yield time.monotonic(), np.asarray(frame, np.uint8)
    finally:
        reader.close()


class _Reader:
    """Reads one capture on its own thread, a frame when asked, so that a read which never
    returns is given up on instead of holding up the kiosk. Only that thread touches the
    capture (OpenCV's are not to be released from another thread mid-read): it releases it
    once told to close and its read in progress, if any, has returned."""

    def __init__(self, capture: cv2.VideoCapture, number: int) -> None:
        self._capture = capture
        self._number = number
        self._abandoned = False
        self._asked: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[bool, Any] | Exception] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"jaga-camera-{number}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def read(self, timeout_s: float) -> tuple[bool, Any]:
        """What ``capture.read()`` returned; a :class:`KioskError` if it has not returned
        within ``timeout_s`` (this reader is then abandoned)."""
        self._asked.put(True)
        try:
            result = self._results.get(timeout=timeout_s)
        except queue.Empty:
            self._abandon()
            raise KioskError(f"camera {self._number} gave no frame in {timeout_s:g} s (its "
                             "driver did not answer)") from None  # fmt: skip
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        """Release the capture (no read is in progress unless one was given up on: that
        one's thread releases it if the read ever returns)."""
        if self._abandoned:
            return
        self._asked.put(False)
        self._thread.join(READ_TIMEOUT_S)
        if self._thread.is_alive():
            self._abandon()

    def _abandon(self) -> None:
        self._abandoned = True
        self._asked.put(False)  # its thread ends once the read returns, if ever
        with _stuck_lock:
            if self._thread not in _stuck:
                _stuck.append(self._thread)

    def _serve(self) -> None:
        try:
            while self._asked.get():
                try:
                    self._results.put(self._capture.read())
                except Exception as error:  # cv2.error: raised where the frame was asked
                    self._results.put(error)
        finally:
            self._capture.release()
