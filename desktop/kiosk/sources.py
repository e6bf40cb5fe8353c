"""Frames for the kiosk: a recorded video (its own time) or a camera (the monotonic clock).

Both yield ``(capture time in seconds, BGR frame)``. A camera that cannot be opened, or
that stops giving frames, is a :class:`KioskError`, not an endless wait. A ``camera:``
source that names no camera (``camera:x``, a typo) is a :class:`KioskSourceError`: a
setting to fix, which no retry mends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

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
    capture = cv2.VideoCapture(number)
    if not capture.isOpened():
        raise KioskError(f"camera {number} cannot be opened (not connected, or in use)")
    return _read(capture, number, max_frames)


def _read(
    capture: cv2.VideoCapture, number: int, max_frames: int | None
) -> Iterator[tuple[float, Image]]:
    try:
        frames = misses = 0
        while max_frames is None or frames < max_frames:
            ok, frame = capture.read()
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
        capture.release()
