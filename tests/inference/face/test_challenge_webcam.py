"""FaceMesh and the active challenge on real frames: the NUAA webcam sequences.

What was measured first (``python -m inference.face.liveness_study challenge``): the live
subject sits still, never turns, and blinks once (frame 408, 20.4 s at NUAA's 20 fps); the
printed photo is waved about and never blinks or turns. So a blink challenge whose window
holds frame 408 passes, turns time out on both, and nothing passes on the photo.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference.face import FaceBox, FaceDetector, FaceTracker, read_image
from inference.face.challenge import (
    ChallengeAction,
    ChallengeSession,
    ChallengeSettings,
    ChallengeStatus,
)
from inference.face.landmarks import FaceMesh, FaceMeshRunner, MeshPoint
from inference.face.liveness_signals import LEFT_EYE, RIGHT_EYE, FaceSignals, read_signals
from inference.face.types import Landmark, TrackedFace
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

Image = npt.NDArray[np.uint8]
NUAA_FPS = 20.0
BLINK_FRAME = 408


@pytest.fixture(scope="module")
def mesh_runner(model_pack: ModelPack) -> FaceMeshRunner:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    return FaceMeshRunner.from_runtime(runtime)


def _frames(label: str) -> list[tuple[int, Path]]:
    folder = shared_path("data", "video", "nuaa_webcam", label)
    numbered = [(int(path.stem.rsplit("_", 1)[1]), path) for path in folder.glob("*.jpg")]
    return sorted(numbered)


Reading = tuple[float, TrackedFace, FaceSignals]


def _read(
    label: str, detector: FaceDetector, mesh_runner: FaceMeshRunner, first: int, last: int
) -> list[Reading]:
    """(seconds, tracked face, signals) of the frames numbered first..last."""
    tracker, readings = FaceTracker(), []
    for number, path in _frames(label):
        if first <= number <= last:
            image = read_image(path)
            faces = detector.detect(image)
            tracked = tracker.update(faces[:1])
            signals = read_signals(image, mesh_runner.mesh(image, faces[0]))
            readings.append((number / NUAA_FPS, tracked[0], signals))
    return readings


def _outcome(readings: list[Reading], action: ChallengeAction) -> ChallengeStatus:
    settings = ChallengeSettings(actions=(action,))
    session = ChallengeSession(_Unused(), settings, rng=random.Random(0))
    for seconds, _, signals in readings:
        if session.feed_signals(signals, seconds) is not ChallengeStatus.PENDING:
            break
    return session.status


class _Unused:
    def mesh(self, image: npt.NDArray[np.generic], face: FaceBox) -> FaceMesh:
        raise AssertionError("signals are fed directly")


@pytest.fixture(scope="module")
def live_window(detector: FaceDetector, mesh_runner: FaceMeshRunner) -> list[Reading]:
    """A little over one step's timeout of the live sequence, the blink inside it."""
    return _read("live", detector, mesh_runner, 300, 440)


@pytest.fixture(scope="module")
def print_sequence(detector: FaceDetector, mesh_runner: FaceMeshRunner) -> list[Reading]:
    return _read("print", detector, mesh_runner, 0, 10**6)


def test_live_subject_blinks_into_a_blink_challenge(live_window: list[Reading]) -> None:
    assert _outcome(live_window, ChallengeAction.BLINK) is ChallengeStatus.PASSED


def test_live_subject_who_sits_still_does_not_pass_a_turn(live_window: list[Reading]) -> None:
    for action in (ChallengeAction.TURN_LEFT, ChallengeAction.TURN_RIGHT):
        assert _outcome(live_window, action) is ChallengeStatus.TIMEOUT


def test_printed_photo_fails_every_challenge(print_sequence: list[Reading]) -> None:
    for action in ChallengeAction:
        assert _outcome(print_sequence, action) is ChallengeStatus.TIMEOUT


def test_feed_runs_facemesh_itself(
    detector: FaceDetector, mesh_runner: FaceMeshRunner, live_window: list[Reading]
) -> None:
    session = ChallengeSession(mesh_runner, rng=random.Random(0))
    for number, path in _frames("live")[:3]:
        image = read_image(path)
        tracked = TrackedFace(1, detector.detect(image)[0], 1, 0, False)
        assert session.feed(image, tracked, number / NUAA_FPS) is ChallengeStatus.PENDING


# --- FaceMesh ---------------------------------------------------------------------------------


def test_mesh_lands_on_the_face(detector: FaceDetector, mesh_runner: FaceMeshRunner) -> None:
    image = read_image(shared_path("data", "spoof", "samples", "image_T1.jpg"))
    face = detector.detect(image)[0]
    mesh = mesh_runner.mesh(image, face)
    assert mesh.has_face and mesh.face_flag > 0.9
    centres = {
        Landmark.RIGHT_EYE: mesh.points[list(RIGHT_EYE), :2].mean(axis=0),
        Landmark.LEFT_EYE: mesh.points[list(LEFT_EYE), :2].mean(axis=0),
        Landmark.NOSE_TIP: mesh.points[MeshPoint.NOSE_TIP, :2],
    }
    for landmark, centre in centres.items():  # measured: 0.17, 0.04, 0.04 inter-ocular
        assert math.dist(tuple(centre), face.landmark(landmark)) < 0.25 * face.inter_ocular_px


def test_mesh_follows_a_turned_image(detector: FaceDetector, mesh_runner: FaceMeshRunner) -> None:
    image = read_image(shared_path("data", "spoof", "samples", "image_T1.jpg"))
    face = detector.detect(image)[0]
    upright = mesh_runner.mesh(image, face)
    for degrees in (30.0, -30.0):  # the crop is turned upright by the face's roll
        turn = np.asarray(cv2.getRotationMatrix2D(face.center, degrees, 1.0), np.float64)
        turned = np.asarray(cv2.warpAffine(image, turn, (image.shape[1], image.shape[0]),
                                           borderMode=cv2.BORDER_REPLICATE), np.uint8)  # fmt: skip
        found = max(detector.detect(turned), key=lambda f: f.area)
        expected = upright.points[:, :2] @ turn[:, :2].T + turn[:, 2]
        error = np.median(np.linalg.norm(mesh_runner.mesh(turned, found).points[:, :2] - expected,
                                         axis=1))  # fmt: skip
        assert error < 0.1 * face.inter_ocular_px  # measured: 0.02 and 0.04


def test_mesh_of_no_face_says_so(mesh_runner: FaceMeshRunner) -> None:
    blank = np.full((240, 320), 128, np.uint8)  # grayscale is accepted
    box = FaceBox(
        100, 60, 200, 180, 0.9, ((130, 100), (170, 100), (150, 125), (135, 150), (165, 150))
    )
    mesh = mesh_runner.mesh(blank, box)
    assert not mesh.has_face and mesh.points.shape == (468, 3)
