"""Frames for the kiosk: a recorded video (its own time) or a camera (the monotonic clock).

Both yield ``(capture time in seconds, BGR frame)``. A camera that cannot be opened, or
that stops giving frames, is a :class:`KioskError`, not an endless wait. A ``camera:``
source that names no camera (``camera:x``, a typo) is a :class:`KioskSourceError`: a
setting to fix, which no retry mends.

A camera can also stop inside ``read()``: a driver stuck in a USB reset gives neither a
frame nor an error (and may block the next open too). Each camera is therefore opened and
read on its own thread, one frame at a time, and a read that has not returned in time is a
:class:`KioskError` like failed reads (the kiosk says the camera is unavailable and opens it
again). In time is ``READ_TIMEOUT_S``, or twice as long as the camera's previous read took
if that is longer (at most ``MAX_READ_TIMEOUT_S``): a camera slower than ``READ_TIMEOUT_S``
(a few seconds a frame, in the dark) gives its frames slowly, as it did before the watchdog,
instead of being reopened for ever. The first read after an open is given
``FIRST_READ_GRACE`` times ``READ_TIMEOUT_S`` (a camera starting up sets its exposure
first), or twice as long as a late read of that camera took (below); the open itself is
given ``FIRST_READ_GRACE`` times ``READ_TIMEOUT_S`` too, and its reader, if the open has not
returned by then, counts as stuck like one stuck in a read.

A thread stuck in a native call cannot be stopped: that capture is abandoned to its thread,
which releases it if its read ever returns. A read given up on as too long that does return
late, before the camera is opened again, is remembered for that next open (above); one that
returns after it (a stall that outlasted the reopen), or one given up on for a stop or Ctrl-C,
is not: it says nothing of how the camera is now. Before a camera is opened again, its
abandoned readers are waited for, up to ``READ_TIMEOUT_S``: a slow read returns meanwhile and
its capture is released, so the device is not opened twice (which a V4L2 driver may refuse).
At most ``MAX_STUCK_READS`` readers of a camera are left stuck at a time: beyond them that camera is
not opened (a :class:`KioskError` too, so the kiosk tries again later, when one may have
returned), and threads do not pile up; from the ``RESTART_AFTER_REFUSALS``th such refusal in
a row the error (a :class:`CameraRestartError`, and a warning in the log) says to restart the
kiosk or replug the camera: only that frees a driver that never returns.

A stop does not wait for a read in progress: a reader closed while a read it asked for has
not been answered (Ctrl-C in the middle of one) is abandoned at once, and the thread
iterating the frames may name a stop event (:func:`reads_stopped_by`), on which a read
waiting is given up at once, and the camera is not opened again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
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
# out; longer for a camera whose reads are slower (twice its previous one), up to the most.
READ_TIMEOUT_S = 5.0
MAX_READ_TIMEOUT_S = 60.0
FIRST_READ_GRACE = 3  # the first read after an open: READ_TIMEOUT_S times this
MAX_STUCK_READS = 2  # per camera
RESTART_AFTER_REFUSALS = 3
# How often a read waiting looks at the stop event of the thread iterating the frames.
_STOP_POLL_S = 0.1
_log = logging.getLogger(__name__)
_stuck_lock = threading.Lock()
# Per camera number: readers abandoned in a read that had not returned, the refusals to open
# it in a row, how long its last abandoned read took once it returned (a slow camera), and
# how many times it was opened (a late read is kept only if it is of the latest open).
_stuck: dict[int, list[threading.Thread]] = {}
_refusals: dict[int, int] = {}
_late_read_s: dict[int, float] = {}
_opens: dict[int, int] = {}
_local = threading.local()  # .stop: the event of reads_stopped_by on this thread


class KioskSourceError(KioskError):
    """The kiosk's source setting names no camera: the kiosk stops and says so, where a
    camera that is unplugged is opened again."""


class CameraRestartError(KioskError):
    """A camera refused for its reads (or opens) stuck in the driver, from the
    ``RESTART_AFTER_REFUSALS``th time in a row: only a restart of the kiosk (or a replug)
    frees it. Still tried again, as any camera gone (one read may return after all)."""


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


@contextmanager
def reads_stopped_by(stop: threading.Event) -> Iterator[None]:
    """Within this, on the thread that iterates a camera's frames: once ``stop`` is set, a
    read waiting is given up at once (a :class:`KioskError`), not after ``READ_TIMEOUT_S``;
    so is the wait for an abandoned reader before an open."""
    before = getattr(_local, "stop", None)
    _local.stop = stop
    try:
        yield
    finally:
        _local.stop = before


def camera_frames(index: str, max_frames: int | None = None) -> Iterator[tuple[float, Image]]:
    """Frames of camera ``index`` (``0`` is the first) as they come."""
    number = camera_number(index)
    stuck = _stuck_reads(number)
    if stuck >= MAX_STUCK_READS:
        with _stuck_lock:
            refusals = _refusals[number] = _refusals.get(number, 0) + 1
        message = (f"camera {number} is not opened again while {stuck} of its reads or opens"
                   " are stuck in its driver")  # fmt: skip
        if refusals >= RESTART_AFTER_REFUSALS:
            message += ": restart the kiosk (or unplug the camera and plug it in again)"
            _log.warning("%s", message)
            raise CameraRestartError(message)
        raise KioskError(message)
    if _stopping():  # the wait above ended on a stop: no open after it
        raise KioskError(f"camera {number}: stopped before it was opened")
    with _stuck_lock:
        _refusals.pop(number, None)
        opened = _opens[number] = _opens.get(number, 0) + 1
    reader = _Reader(number, opened)  # opens the camera on its thread, watched as a read
    try:
        if not reader.open(READ_TIMEOUT_S * FIRST_READ_GRACE):
            raise KioskError(f"camera {number} cannot be opened (not connected, or in use)")
    except BaseException:
        reader.close()
        raise
    frames = _read(reader, number, max_frames)
    # Frames dropped without being iterated (no finally of theirs runs) release the camera.
    weakref.finalize(frames, reader.close).atexit = False
    return frames


def _stuck_reads(number: int) -> int:
    """Camera ``number``'s abandoned readers still inside a read, once each was given up to
    ``READ_TIMEOUT_S`` in all to return and release its capture (a slow read does)."""
    with _stuck_lock:
        threads = list(_stuck.get(number, ()))
    deadline = time.monotonic() + READ_TIMEOUT_S
    for thread in threads:
        while thread.is_alive() and not _stopping() and time.monotonic() < deadline:
            thread.join(min(_STOP_POLL_S, max(0.0, deadline - time.monotonic())))
    with _stuck_lock:
        alive = [thread for thread in _stuck.get(number, ()) if thread.is_alive()]
        _stuck[number] = alive
        return len(alive)


def _stopping() -> bool:
    stop: threading.Event | None = getattr(_local, "stop", None)
    return stop is not None and stop.is_set()


def _read_timeout(previous_s: float, least_s: float) -> float:
    """How long a read is waited for after one that took ``previous_s``."""
    return max(least_s, min(2 * previous_s, MAX_READ_TIMEOUT_S))


def _read(reader: _Reader, number: int, max_frames: int | None) -> Iterator[tuple[float, Image]]:
    try:
        frames = misses = 0
        with _stuck_lock:
            late_s = _late_read_s.pop(number, 0.0)
        timeout_s = _read_timeout(late_s, READ_TIMEOUT_S * FIRST_READ_GRACE)
        while max_frames is None or frames < max_frames:
            ok, frame = reader.read(timeout_s)
            timeout_s = _read_timeout(reader.last_read_s, READ_TIMEOUT_S)
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
    """Opens a camera and reads it on its own thread, a frame when asked, so that an open or
    a read which never returns is given up on instead of holding up the kiosk. Only that
    thread touches the capture (OpenCV's are not to be released from another thread
    mid-read): it releases it once told to close and its read in progress, if any, has
    returned."""

    def __init__(self, number: int, opened: int) -> None:
        self._number = number
        self._opened = opened  # the camera's how-manieth open this capture is
        self._abandoned = False
        self._closed = False
        self._timed_out = False  # abandoned because it took too long (not for a stop)
        self._pending = True  # an open or a read asked for whose answer was not taken
        self.last_read_s = 0.0  # how long the last read answered took
        self._asked: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[bool, Any] | Exception] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"jaga-camera-{number}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def open(self, timeout_s: float) -> bool:
        """Whether the camera opened; a :class:`KioskError` as for :meth:`read` if the open
        has not returned (a driver stuck in a reset may block it: that reader counts as
        stuck, like one stuck in a read)."""
        opened, _ = self._answer(timeout_s, "did not open", "its open")
        return bool(opened)

    def read(self, timeout_s: float) -> tuple[bool, Any]:
        """What ``capture.read()`` returned; a :class:`KioskError` if it has not returned
        within ``timeout_s``, or once the stop event of :func:`reads_stopped_by` is set
        (this reader is then abandoned)."""
        self._asked.put(True)
        self._pending = True
        asked = time.monotonic()
        result = self._answer(timeout_s, "gave no frame", "a read")
        self.last_read_s = time.monotonic() - asked
        return result

    def _answer(self, timeout_s: float, failed: str, during: str) -> tuple[bool, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                result = self._results.get(timeout=min(_STOP_POLL_S, timeout_s))
                break
            except queue.Empty:
                if _stopping():
                    self._abandon()
                    raise KioskError(f"camera {self._number}: stopped during {during}") from None
                if time.monotonic() >= deadline:
                    self._timed_out = True
                    self._abandon()
                    raise KioskError(f"camera {self._number} {failed} in {timeout_s:g} s "
                                     "(its driver did not answer)") from None  # fmt: skip
        self._pending = False
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        """Release the capture. An open or a read asked for and not answered (given up on,
        or interrupted by Ctrl-C) is not waited for: its thread releases the capture if it
        ever returns."""
        if self._abandoned or self._closed:
            return
        self._closed = True
        if self._pending:
            self._abandon()
            return
        self._asked.put(False)
        self._thread.join(READ_TIMEOUT_S)
        if self._thread.is_alive():
            self._abandon()

    def _abandon(self) -> None:
        self._abandoned = True
        self._asked.put(False)  # its thread ends once the read returns, if ever
        with _stuck_lock:
            stuck = _stuck.setdefault(self._number, [])
            if self._thread not in stuck:
                stuck.append(self._thread)

    def _serve(self) -> None:
        try:
            capture = cv2.VideoCapture(self._number)
        except Exception as error:  # cv2.error: raised where the open was asked
            self._results.put(error)
            return
        try:
            opened = capture.isOpened()
            self._results.put((opened, None))
            while opened and self._asked.get():  # an open given up on ends here: released
                started = time.monotonic()
                try:
                    self._results.put(capture.read())
                except Exception as error:  # cv2.error: raised where the frame was asked
                    self._results.put(error)
                if self._timed_out:  # returned after all: a slow camera, not a stuck one
                    self._note_late(time.monotonic() - started)
        finally:
            capture.release()

    def _note_late(self, took_s: float) -> None:
        with _stuck_lock:
            if _opens.get(self._number) != self._opened:
                # The camera was opened again meanwhile: that open had its own first-read
                # wait, and a later one is no business of a stall long past.
                return
            _late_read_s[self._number] = took_s
        _log.warning("camera %d answered a read given up on after %.1f s: its next open waits "
                     "%.1f s for its first frame", self._number, took_s,
                     _read_timeout(took_s, READ_TIMEOUT_S * FIRST_READ_GRACE))  # fmt: skip
