"""The pipeline's values refuse to be built wrong, and their geometry is right."""

from __future__ import annotations

import math

import pytest

from inference.face import FaceBox, Landmark, Point, QualityReason, QualityVerdict, TrackedFace

FRONTAL = ((30.0, 40.0), (70.0, 40.0), (50.0, 60.0), (35.0, 80.0), (65.0, 80.0))


def face(x1: float = 0.0, y1: float = 0.0, x2: float = 100.0, y2: float = 120.0) -> FaceBox:
    return FaceBox(x1, y1, x2, y2, 0.9, FRONTAL)


@pytest.mark.parametrize(
    ("corners", "score", "landmarks"),
    [
        ((10.0, 0.0, 5.0, 10.0), 0.9, FRONTAL),  # x2 < x1
        ((0.0, 0.0, 10.0, 0.0), 0.9, FRONTAL),  # empty height
        ((0.0, math.nan, 10.0, 10.0), 0.9, FRONTAL),
        ((0.0, 0.0, math.inf, 10.0), 0.9, FRONTAL),
        ((0.0, 0.0, 10.0, 10.0), 1.5, FRONTAL),
        ((0.0, 0.0, 10.0, 10.0), -0.1, FRONTAL),
        ((0.0, 0.0, 10.0, 10.0), 0.9, FRONTAL[:4]),
        ((0.0, 0.0, 10.0, 10.0), 0.9, (*FRONTAL[:4], (1.0, math.nan))),
    ],
)
def test_a_malformed_face_box_is_refused(
    corners: tuple[float, float, float, float],
    score: float,
    landmarks: tuple[Point, ...],
) -> None:
    with pytest.raises(ValueError, match=r"FaceBox|landmark"):
        FaceBox(*corners, score, landmarks)


def test_geometry() -> None:
    box = face()
    assert (box.width, box.height, box.area, box.center) == (100, 120, 12000, (50, 60))
    assert box.inter_ocular_px == 40
    assert box.landmark(Landmark.NOSE_TIP) == (50.0, 60.0)
    assert [member.name for member in Landmark] == [
        "RIGHT_EYE", "LEFT_EYE", "NOSE_TIP", "RIGHT_MOUTH_CORNER", "LEFT_MOUTH_CORNER",
    ]  # fmt: skip


def test_iou() -> None:
    assert face().iou(face()) == pytest.approx(1.0)
    assert face().iou(face(200, 200, 300, 300)) == 0.0
    half = face(50, 0, 150, 120)  # overlaps half of the first box
    assert face().iou(half) == pytest.approx(6000 / 18000)


def test_transformed_maps_box_and_landmarks_alike() -> None:
    moved = face().transformed(2.0, -10.0, 5.0)
    assert (moved.x1, moved.y1, moved.x2, moved.y2) == (-10, 5, 190, 245)
    assert moved.landmarks[0] == (50.0, 85.0)
    assert moved.score == 0.9


def test_crop_rect_is_the_part_inside_the_image() -> None:
    assert face(-10.5, 20.2, 80.0, 130.0).crop_rect(64, 100) == (0, 20, 64, 100)
    assert face(200, 200, 300, 300).crop_rect(64, 100) is None


def test_tracked_face_and_verdict_are_consistent() -> None:
    with pytest.raises(ValueError, match="track ids"):
        TrackedFace(0, face(), hits=1, age=0, confirmed=False)
    with pytest.raises(ValueError, match="hits"):
        TrackedFace(1, face(), hits=3, age=1, confirmed=True)
    with pytest.raises(ValueError, match="contradicts"):
        QualityVerdict(True, (QualityReason.BLURRY,))
    with pytest.raises(ValueError, match="contradicts"):
        QualityVerdict(False, ())
    with pytest.raises(ValueError, match="repeat"):
        QualityVerdict(False, (QualityReason.BLURRY, QualityReason.BLURRY))
    assert QualityReason.TOO_DARK.value == "too_dark"
