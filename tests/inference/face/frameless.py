"""Files a video reader opens and cannot play: a clip with no frame it can read, and a
still photo named as a video (``test_video_frameless``, ``test_kiosk_source_frames``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

SIZE = (160, 120)


def picture() -> npt.NDArray[np.uint8]:
    """A textured frame (a flat one compresses to nearly nothing)."""
    return np.random.default_rng(7).integers(0, 256, (SIZE[1], SIZE[0], 3), np.uint8)


def clip(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, SIZE)
    for _ in range(frames):
        writer.write(picture())
    writer.release()
    return path


def frameless(folder: Path, kind: str) -> Path:
    """A file OpenCV opens as a video and reads no frame from."""
    if kind == "saved with none":
        return clip(folder / "empty.avi", 0)
    data = bytearray(clip(folder / "five.avi", 5).read_bytes())
    data[400:-200] = bytes(len(data) - 600)  # every frame's bytes zeroed, the index kept
    damaged = folder / "damaged.avi"
    damaged.write_bytes(bytes(data))
    return damaged


def still(folder: Path, kind: str) -> Path:
    """A photo, written as ``kind`` and named as a video."""
    suffix = {"jpeg": ".jpg", "png": ".png"}[kind]
    photo = folder / f"photo{suffix}"
    assert cv2.imwrite(str(photo), picture())
    named = folder / "gate.mp4"
    shutil.copyfile(photo, named)
    return named
