"""Fixtures of the kiosk tests: the pack's real face models on the CPU, NUAA's webcam
session (a live face, then a printed photo of it) and a real encrypted store."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference.face.assemble import StageChoice, build_stages
from inference.face.detect import read_image
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from sync.store import Passphrase, Store
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import FAST

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="session")
def stages(model_pack: ModelPack) -> Stages:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    return build_stages(runtime, FaceSettings(), StageChoice())


def webcam_paths(kind: str) -> list[Path]:
    """NUAA's webcam session of one person, ``live`` or ``print``, in frame order."""
    folder = shared_path("data", "video", "nuaa_webcam", kind)
    return sorted(folder.glob("*.jpg"), key=lambda p: int(re.split(r"[_.]", p.name)[-2]))


def webcam(kind: str, start: int, count: int) -> list[Image]:
    return [read_image(path) for path in webcam_paths(kind)[start : start + count]]


def blurred(frame: Image) -> Image:
    """The frame out of focus: the face is still found, and the quality gate rejects it."""
    return np.asarray(cv2.GaussianBlur(frame, (21, 21), 0), np.uint8)


def write_video(frames: list[Image], path: Path, fps: float = 10.0) -> Path:
    """The frames as a Motion-JPEG video (what OpenCV writes everywhere)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


class Ticks:
    """A monotonic clock that moves only when told (``ticks.now += seconds``)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kiosk_store(tmp_path: Path) -> Iterator[Store]:
    """A real encrypted store, not registered with any hub."""
    with Store.create(tmp_path / "kiosk.db", Passphrase(PASSPHRASE), config=FAST) as store:
        yield store


class StuckCapture:
    """What the kiosk uses of ``cv2.VideoCapture``: ``frames`` one by one (``pace_s`` apart,
    over and over), then, after ``stuck_after`` reads, a ``read()`` that neither returns
    nor fails until ``unstick`` is set (a driver stuck in a USB reset); then failed reads."""

    def __init__(self, frames: list[Image], stuck_after: int | None, unstick: threading.Event,
                 pace_s: float) -> None:  # fmt: skip
        self._frames, self._stuck_after, self._unstick = frames, stuck_after, unstick
        self._pace_s = pace_s
        self.reads = 0
        self.released = threading.Event()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def read(self) -> tuple[bool, Image | None]:
        if self._stuck_after is not None and self.reads >= self._stuck_after:
            self._unstick.wait()
            return False, None
        time.sleep(self._pace_s)
        self.reads += 1
        return True, self._frames[(self.reads - 1) % len(self._frames)]

    def release(self) -> None:
        self.released.set()


class StuckCameras:
    """Stands in for ``cv2.VideoCapture``: the Nth camera opened gets stuck after
    ``stuck_after[N]`` reads (None, or past the list: never). ``unstick()`` lets every stuck
    read return, and waits for their threads to release their cameras."""

    def __init__(self, frames: list[Image], stuck_after: list[int | None], pace_s: float = 0.0):
        self._frames, self._stuck_after, self._pace_s = frames, stuck_after, pace_s
        self._unstick = threading.Event()
        self.opened: list[StuckCapture] = []

    def __call__(self, number: int) -> StuckCapture:
        plan = (
            self._stuck_after[len(self.opened)]
            if len(self.opened) < len(self._stuck_after)
            else None
        )
        capture = StuckCapture(self._frames, plan, self._unstick, self._pace_s)
        self.opened.append(capture)
        return capture

    def unstick(self) -> None:
        self._unstick.set()
        for capture in self.opened:
            assert capture.released.wait(30), "a camera was never released"
