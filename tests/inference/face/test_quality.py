"""The quality gate: real faces pass; blurred, darkened, brightened, flattened, shrunk,
tilted and turned copies of them are rejected for the right reason."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference.face import (
    DetectorSettings,
    FaceBox,
    FaceDetector,
    QualityGate,
    QualityReason,
    QualitySettings,
    read_image,
)
from inference.face.quality import pose, sharpness
from inference.runtime import OnnxSession
from tests.conftest import shared_path
from tests.inference.face.helpers import Image, lfw, video_frames

REAL = ["Aaron_Sorkin_0001.jpg", "Abel_Pacheco_0001.jpg", "Akhmed_Zakayev_0001.jpg"]
FRONTAL = ((30.0, 40.0), (70.0, 40.0), (50.0, 64.0), (35.0, 80.0), (65.0, 80.0))
# LFW and the johns chips are tight crops, whose faces fill the frame: closeness, which only
# matters to liveness on a camera's frames, is tested on its own.
gate = QualityGate(QualitySettings(max_frame_share=math.inf))


def only_face(detector: FaceDetector, image: Image) -> FaceBox:
    faces = detector.detect(image)
    assert len(faces) == 1
    return faces[0]


def levels(image: Image, gain: float, anchor: float) -> Image:
    """Grey levels pulled towards ``anchor``: 0 darkens, 255 brightens, 128 flattens."""
    pulled = anchor + (image.astype(np.float32) - anchor) * gain
    return np.asarray(np.clip(pulled, 0, 255), np.uint8)


def real_images() -> list[Image]:
    chip = read_image(sorted(shared_path("data", "faces", "johns").rglob("*.jpg"))[0])
    photo = read_image(shared_path("data", "spoof", "samples", "image_T1.jpg"))
    stage = video_frames("hamilton_640x360.mp4", 100, 1)[0]
    return [*(lfw(name) for name in REAL), chip, photo, stage]


def test_real_faces_pass(detector: FaceDetector) -> None:
    for image in real_images():
        verdict = gate.assess(image, only_face(detector, image))
        assert verdict.ok, verdict


@pytest.mark.parametrize(
    ("degrade", "reason"),
    [
        (lambda im, iod: cv2.GaussianBlur(im, (0, 0), iod / 15), QualityReason.BLURRY),
        (lambda im, iod: levels(im, 0.25, 0.0), QualityReason.TOO_DARK),
        (lambda im, iod: levels(im, 0.2, 255.0), QualityReason.TOO_BRIGHT),
        (lambda im, iod: levels(im, 0.25, 128.0), QualityReason.LOW_CONTRAST),
    ],
    ids=["blurred", "darkened", "brightened", "flattened"],
)
def test_degraded_copies_are_rejected_for_their_reason(
    detector: FaceDetector, degrade: object, reason: QualityReason
) -> None:
    for name in REAL:
        image = lfw(name)
        face = only_face(detector, image)
        verdict = gate.assess(degrade(image, face.inter_ocular_px), face)  # type: ignore[operator]
        assert reason in verdict.reasons
        assert QualityReason.BLURRY not in verdict.reasons or reason is QualityReason.BLURRY


def test_sharpness_does_not_depend_on_exposure(detector: FaceDetector) -> None:
    image = lfw(REAL[0])
    face = only_face(detector, image)
    measures = [gate.assess(levels(image, gain, 0.0), face).measures for gain in (1.0, 0.3)]
    assert measures[0] is not None and measures[1] is not None
    assert measures[1].sharpness == pytest.approx(measures[0].sharpness, rel=0.1)


def test_a_small_face_is_too_small(detector: FaceDetector) -> None:
    image = lfw(REAL[0])
    scale = 14 / only_face(detector, image).inter_ocular_px
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.asarray(
        cv2.copyMakeBorder(small, 150, 150, 200, 200, cv2.BORDER_CONSTANT, value=120), np.uint8
    )
    verdict = gate.assess(canvas, only_face(detector, canvas))
    assert QualityReason.TOO_SMALL in verdict.reasons


def tilted(image: Image, degrees: float) -> Image:
    """``image`` framed and turned clockwise (as displayed) by ``degrees``."""
    framed = cv2.copyMakeBorder(image, 150, 150, 150, 150, cv2.BORDER_REPLICATE)
    turn = cv2.getRotationMatrix2D((framed.shape[1] / 2, framed.shape[0] / 2), -degrees, 1.0)
    return np.asarray(cv2.warpAffine(framed, turn, framed.shape[::-1]), np.uint8)


def test_a_tilted_face_is_rejected_for_roll(detector: FaceDetector) -> None:
    image = tilted(lfw(REAL[0]), 40)
    verdict = gate.assess(image, only_face(detector, image))
    assert verdict.measures is not None
    assert verdict.measures.roll_degrees == pytest.approx(40, abs=8)
    assert QualityReason.POSE_ROLL in verdict.reasons


def test_the_upright_look_reads_a_tilt_that_yunet_alone_underreads(
    yunet_session: OnnxSession, detector: FaceDetector
) -> None:
    image = tilted(lfw(REAL[0]), 35)
    plain = FaceDetector(yunet_session, "input", DetectorSettings(upright_passes=0))
    assert only_face(plain, image).roll_degrees < 25  # YuNet's landmarks lag behind
    assert only_face(detector, image).roll_degrees == pytest.approx(35, abs=6)


def test_a_profile_is_rejected_for_yaw_and_a_mirror_flips_its_sign(detector: FaceDetector) -> None:
    profile = video_frames("hamilton_640x360.mp4", 30, 1)[0]  # the performer in profile
    assert QualityReason.POSE_YAW in gate.assess(profile, only_face(detector, profile)).reasons
    image = lfw("Abel_Pacheco_0001.jpg")  # turned a little: yaw about -0.24
    yaws = [
        pose(only_face(detector, im))[0] for im in (image, np.asarray(cv2.flip(image, 1), np.uint8))
    ]
    assert yaws[0] < -0.1 and yaws[1] == pytest.approx(-yaws[0], abs=0.06)


def test_pose_of_hand_made_landmarks() -> None:
    yaw, pitch, roll = pose(FaceBox(0, 0, 100, 100, 0.9, FRONTAL))
    assert (yaw, pitch, roll) == pytest.approx((0.0, 0.6, 0.0))
    turned = (*FRONTAL[:2], (66.0, 64.0), *FRONTAL[3:])  # nose 0.4 inter-ocular to the right
    assert pose(FaceBox(0, 0, 100, 100, 0.9, turned))[0] == pytest.approx(0.4)
    upside_down = (*FRONTAL[:3], (35.0, 10.0), (65.0, 10.0))  # mouth above the eyes
    verdict = QualityGate().reasons(
        QualityGate().assess(np.full((100, 100), 128, np.uint8),
                             FaceBox(0, 0, 100, 100, 0.9, upside_down)).measures  # type: ignore[arg-type]
    )  # fmt: skip
    assert QualityReason.POSE_YAW in verdict and QualityReason.POSE_PITCH in verdict


def test_a_face_outside_the_image_and_a_flat_patch() -> None:
    outside = FaceBox(500, 500, 600, 600, 0.9, tuple((x + 500, y + 500) for x, y in FRONTAL))
    verdict = gate.assess(np.zeros((100, 100, 3), np.uint8), outside)
    assert verdict.reasons == (QualityReason.OUTSIDE_IMAGE,) and verdict.measures is None
    assert sharpness(np.full((30, 30), 77, np.float32), 64) == 0.0


def test_a_face_filling_the_frame_is_too_close(detector: FaceDetector) -> None:
    photo = read_image(shared_path("data", "spoof", "samples", "image_T1.jpg"))
    face = only_face(detector, photo)
    assert QualityReason.TOO_CLOSE not in QualityGate().assess(photo, face).reasons
    top, bottom = max(0, int(face.y1) - 10), int(face.y2) + 10
    cut = np.ascontiguousarray(photo[top:bottom])  # the face alone, edge to edge
    verdict = QualityGate().assess(cut, only_face(detector, cut))
    assert QualityReason.TOO_CLOSE in verdict.reasons
    assert verdict.measures is not None and verdict.measures.frame_share > 0.75


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        QualitySettings(min_brightness=200, max_brightness=100)
    with pytest.raises(ValueError):
        QualitySettings(sharpness_side_px=4)
    with pytest.raises(ValueError):
        QualitySettings(max_frame_share=math.nan)
