"""Alignment: the similarity fit, the chip warp (against dlib's own chip where dlib is
installed), and the template on real faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference.errors import InputError
from inference.face import FaceBox, FaceDetector
from inference.face.align import (
    YUNET_DLIB_CHIP,
    ChipTemplate,
    FaceAligner,
    RefineSettings,
    similarity_transform,
    warp_chip,
)
from tests.inference.face.helpers import lfw

# YuNet's landmarks of frontal LFW faces land within this many chip pixels (RMS over the
# five points) of the template: the template's own spread is 2-3 px per point (see
# tools/derive_chip_template.py), so a bound of 8 px flags a broken template or warp.
FRONTAL_RESIDUAL_PX = 8.0


def rotation_scale(angle_degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = math.radians(angle_degrees)
    rotation = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    return np.hstack([rotation, np.array(shift)[:, None]])


def test_similarity_transform_recovers_a_known_map() -> None:
    truth = rotation_scale(17.0, 0.42, (31.0, -12.5))
    source = np.array([(10, 20), (200, 35), (120, 140), (60, 230), (180, 220)], np.float64)
    target = source @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(similarity_transform(source, target), truth, atol=1e-9)


def test_similarity_transform_never_reflects() -> None:
    source = np.array([(0, 0), (1, 0), (0, 1)], np.float64)
    mirrored = source * np.array([-1.0, 1.0])
    fitted = similarity_transform(source, mirrored)
    assert np.linalg.det(fitted[:, :2]) > 0


def test_landmarks_at_the_template_give_zero_residual() -> None:
    template = YUNET_DLIB_CHIP.as_array()
    back = rotation_scale(-8.0, 2.6, (40.0, 55.0))  # a face 2.6x the chip, tilted
    in_image = template @ back[:, :2].T + back[:, 2]
    image = np.full((600, 600, 3), 128, np.uint8)
    aligned = FaceAligner().align_points(image, in_image)
    assert aligned.residual < 1e-6
    mapped = in_image @ aligned.to_chip[:, :2].T + aligned.to_chip[:, 2]
    np.testing.assert_allclose(mapped, template, atol=1e-6)
    assert aligned.chip.shape == (150, 150, 3) and aligned.chip.dtype == np.uint8


def test_warp_puts_a_marked_point_where_the_map_says() -> None:
    image = np.zeros((800, 800, 3), np.uint8)
    cv2.circle(image, (500, 300), 12, (255, 255, 255), -1)
    for scale in (1.3, 0.6, 0.2):  # enlarged, sampled directly, halved twice first
        to_chip = rotation_scale(25.0, scale, (0.0, 0.0))
        to_chip[:, 2] = (75, 75) - to_chip[:, :2] @ np.array([500.0, 300.0])
        chip = warp_chip(image, to_chip, 150)
        grey = chip[:, :, 0].astype(np.float64)
        ys, xs = np.nonzero(grey > 64)
        assert abs(xs.mean() - 75) < 1.0 and abs(ys.mean() - 75) < 1.0


def test_outside_the_image_is_black_and_grey_input_works() -> None:
    grey = np.full((100, 100), 200, np.uint8)
    to_chip = rotation_scale(0.0, 1.0, (100.0, 0.0))  # image occupies chip x >= 100
    chip = warp_chip(grey, to_chip, 150)
    assert chip.shape == (150, 150, 3)
    assert np.all(chip[:, :95] == 0) and np.all(chip[5:95, 105:] == 200)
    far_away = rotation_scale(0.0, 1.0, (5000.0, 5000.0))
    assert not warp_chip(grey, far_away, 150).any()


def test_bad_landmarks_are_input_errors() -> None:
    aligner = FaceAligner()
    image = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(InputError):
        aligner.align_points(image, np.zeros((4, 2)))
    with pytest.raises(InputError):
        aligner.align_points(image, np.full((5, 2), np.nan))
    with pytest.raises(InputError):
        aligner.align_points(image, np.zeros((5, 2)))  # all at one point: no scale
    with pytest.raises(InputError):
        aligner.align_box(image, (10.0, 10.0, 5.0, 20.0))


def test_box_alignment_maps_the_box_onto_the_template_box() -> None:
    image = np.zeros((300, 200, 3), np.uint8)
    aligned = FaceAligner().align_box(image, (0.0, 0.0, 200.0, 300.0))
    corners = np.array([(0.0, 0.0), (200.0, 300.0)])
    mapped = corners @ aligned.to_chip[:, :2].T + aligned.to_chip[:, 2]
    x1, y1, x2, y2 = YUNET_DLIB_CHIP.face_box
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    np.testing.assert_allclose(mapped.mean(axis=0), centre, atol=1e-6)


def test_template_validation() -> None:
    with pytest.raises(ValueError):
        ChipTemplate("bad", 150, ((1.0, 1.0),), (0.0, 0.0, 10.0, 10.0))
    with pytest.raises(ValueError):
        ChipTemplate("bad", 150, ((1.0, 1.0), (2.0, 2.0)), (10.0, 0.0, 0.0, 10.0))


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    "name", ["Abel_Pacheco_0001.jpg", "Aaron_Sorkin_0001.jpg", "Akhmed_Zakayev_0003.jpg"]
)
def test_real_frontal_faces_fit_the_template(detector: FaceDetector, name: str) -> None:
    image = lfw(name)
    face = max(detector.detect(image), key=lambda f: f.area)
    aligned = FaceAligner().align(image, face)
    assert aligned.residual < FRONTAL_RESIDUAL_PX
    # the eyes land level and the face is upright in the chip
    eyes = np.asarray(face.landmarks[:2]) @ aligned.to_chip[:, :2].T + aligned.to_chip[:, 2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 4.0 and eyes[0, 0] < eyes[1, 0]


def test_refine_settings_and_mirror_order_are_validated() -> None:
    with pytest.raises(ValueError):
        RefineSettings(crop_side=16)
    with pytest.raises(ValueError):
        RefineSettings(face_fraction=1.5)
    points = ((1.0, 1.0), (2.0, 2.0))
    with pytest.raises(ValueError):
        ChipTemplate("bad", 150, points, (0.0, 0.0, 10.0, 10.0), mirror_order=(0, 0))
    with pytest.raises(ValueError):
        ChipTemplate("bad", 150, points, (0.0, 0.0, 10.0, 10.0), weights=(1.0, 0.0))


def test_without_a_detector_the_landmarks_are_kept() -> None:
    points = YUNET_DLIB_CHIP.as_array() * 2 + 10
    image = np.zeros((400, 400, 3), np.uint8)
    np.testing.assert_array_equal(FaceAligner().refined_points(image, points), points)


# A mirror-symmetric five-point template (about x = 74.5, the middle of 150 pixel centres):
# its mirror image is itself, so a scripted detector that always answers with it answers
# consistently in the mirrored look too.
SYMMETRIC = ChipTemplate(
    "symmetric",
    150,
    ((49.5, 50.0), (99.5, 50.0), (74.5, 80.0), (54.5, 105.0), (94.5, 105.0)),
    (20.0, 0.0, 130.0, 140.0),
    mirror_order=(1, 0, 2, 4, 3),
)


class ScriptedDetector:
    """Finds one face, its landmarks exactly at the template's place in the crop."""

    def __init__(self, refine: RefineSettings) -> None:
        points = FaceAligner(SYMMETRIC, refine=refine).template_in_crop()
        self.landmarks = tuple((float(x), float(y)) for x, y in points)
        self.seen: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        self.seen.append(image.shape)
        side = float(image.shape[1])
        return [FaceBox(10.0, 10.0, side - 10.0, side - 10.0, 0.9, self.landmarks)]


def test_refinement_averages_the_looks_mapped_back() -> None:
    refine = RefineSettings()
    detector = ScriptedDetector(refine)
    truth = SYMMETRIC.as_array() @ rotation_scale(10.0, 2.0, (30.0, 40.0))[:, :2].T + 60
    noisy = truth + np.array([(3.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, -2.0), (0.0, 0.0)])
    image = np.zeros((500, 500, 3), np.uint8)
    refined = FaceAligner(SYMMETRIC, detector, refine).refined_points(image, noisy)
    assert detector.seen == [(160, 160, 3), (160, 160, 3)]  # the crop and its mirror image
    # each look sees the template: mapped back, it is the template fitted to the noisy points
    in_crop = FaceAligner(SYMMETRIC, refine=refine).template_in_crop()
    back = cv2.invertAffineTransform(similarity_transform(noisy, in_crop))
    fitted = in_crop @ back[:, :2].T + back[:, 2]
    np.testing.assert_allclose(refined, (noisy + 2 * fitted) / 3, atol=1e-6)
    assert np.abs(refined - truth).max() < np.abs(noisy - truth).max()


@pytest.mark.needs_shared
def test_refinement_on_a_real_face_stays_close(detector: FaceDetector) -> None:
    image = lfw("Abel_Pacheco_0001.jpg")
    face = max(detector.detect(image), key=lambda f: f.area)
    raw = np.asarray(face.landmarks, np.float64)
    refined = FaceAligner(detector=detector).align(image, face)
    moved = np.linalg.norm(refined.landmarks - raw, axis=1)
    assert moved.max() < 0.2 * face.inter_ocular_px  # a correction, not another face
    assert refined.residual < FRONTAL_RESIDUAL_PX
