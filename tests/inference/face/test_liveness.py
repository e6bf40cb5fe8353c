"""Passive liveness on the real MiniFASNet models and real images, and its crop geometry.

Scores quoted in the assertions were measured first (``python -m
inference.face.liveness_study passive``); only what holds there is asserted here.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference.errors import InputError
from inference.face import FaceBox, FaceDetector, read_image
from inference.face.liveness import (
    CropModel,
    LivenessSettings,
    LivenessStatus,
    PassiveLiveness,
    model_input,
    scaled_crop_rect,
)
from inference.face.liveness_synth import screen_recapture
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

Image = npt.NDArray[np.uint8]
NUAA_SAMPLE = 12  # frames per class: enough for a mean, cheap on two cores


@pytest.fixture(scope="module")
def liveness(model_pack: ModelPack) -> PassiveLiveness:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    return PassiveLiveness.from_runtime(runtime)


def _nuaa(label: str) -> list[Path]:
    frames = sorted(shared_path("data", "spoof", "nuaa", "train", "frames", label).rglob("*.jpg"))
    return frames[:: len(frames) // NUAA_SAMPLE][:NUAA_SAMPLE]


def _largest(detector: FaceDetector, image: Image) -> FaceBox:
    faces = detector.detect(image)
    assert faces, "the test image must hold a face"
    return max(faces, key=lambda face: face.area)


def _sample(name: str) -> Image:
    return read_image(shared_path("data", "spoof", "samples", name))


def _box(x1: float, y1: float, x2: float, y2: float) -> FaceBox:
    w, h = x2 - x1, y2 - y1
    eyes = ((x1 + 0.3 * w, y1 + 0.4 * h), (x1 + 0.7 * w, y1 + 0.4 * h))
    rest = (
        (x1 + 0.5 * w, y1 + 0.6 * h),
        (x1 + 0.35 * w, y1 + 0.8 * h),
        (x1 + 0.65 * w, y1 + 0.8 * h),
    )
    return FaceBox(x1, y1, x2, y2, 0.9, eyes + rest)


# --- the crop ------------------------------------------------------------------------------


def _upstream_box(width: int, height: int, box: FaceBox, scale: float) -> tuple[int, ...]:
    """Upstream's CropImage._get_new_box, transcribed (on the float box)."""
    scale = min((height - 1) / box.height, (width - 1) / box.width, scale)
    new_w, new_h = box.width * scale, box.height * scale
    cx, cy = box.x1 + box.width / 2, box.y1 + box.height / 2
    left, top, right, bottom = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if left < 0:
        right, left = right - left, 0
    if top < 0:
        bottom, top = bottom - top, 0
    if right > width - 1:
        left, right = left - (right - width + 1), width - 1
    if bottom > height - 1:
        top, bottom = top - (bottom - height + 1), height - 1
    return int(left), int(top), int(right) + 1, int(bottom) + 1


@pytest.mark.parametrize(
    ("box", "scale"),
    [
        ((200, 150, 300, 270), 2.7),  # fits: scaled around the centre
        ((10, 20, 110, 140), 2.7),  # crosses the top-left corner: shifted inside
        ((540, 340, 630, 470), 4.0),  # crosses the bottom-right corner
        ((100, 50, 500, 470), 4.0),  # too big for the scale: the scale shrinks to fit
    ],
)
def test_crop_is_upstreams_arithmetic(box: tuple[float, ...], scale: float) -> None:
    face = _box(*box)
    rect = scaled_crop_rect(face, 640, 480, scale)
    assert (rect.x1, rect.y1, rect.x2, rect.y2) == _upstream_box(640, 480, face, scale)
    assert 0 <= rect.x1 < rect.x2 <= 640 and 0 <= rect.y1 < rect.y2 <= 480


def test_crop_is_centred_on_the_box_and_scaled() -> None:
    face = _box(200, 150, 300, 270)
    rect = scaled_crop_rect(face, 640, 480, 2.7)
    assert math.isclose((rect.x1 + rect.x2 - 1) / 2, face.center[0], abs_tol=1.0)
    assert math.isclose((rect.y1 + rect.y2 - 1) / 2, face.center[1], abs_tol=1.0)
    assert math.isclose(rect.x2 - rect.x1, 2.7 * face.width, abs_tol=1.5)
    assert math.isclose(rect.y2 - rect.y1, 2.7 * face.height, abs_tol=1.5)


def test_crop_of_a_box_outside_the_image_stays_inside() -> None:
    face = _box(-80, -60, 40, 90)  # mostly off the top-left corner
    rect = scaled_crop_rect(face, 320, 240, 4.0)
    assert 0 == rect.x1 < rect.x2 <= 320 and 0 == rect.y1 < rect.y2 <= 240
    crop = model_input(np.zeros((240, 320, 3), np.uint8), face, 4.0, 80)
    assert crop.shape == (3, 80, 80) and crop.dtype == np.float32


def test_model_input_is_bgr_0_255_nchw() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    image[..., 0] = 200  # blue
    crop = model_input(image, _box(60, 40, 100, 80), 2.7, 80)
    assert crop.shape == (3, 80, 80)
    assert np.allclose(crop[0], 200) and np.allclose(crop[1:], 0)


# --- the models on real images ----------------------------------------------------------------


def test_live_nuaa_frames_score_above_printed_ones(
    liveness: PassiveLiveness, detector: FaceDetector
) -> None:
    scores = {}
    for label in ("live", "print"):
        images = [read_image(path) for path in _nuaa(label)]
        verdicts = liveness.score_batch([(image, _largest(detector, image)) for image in images])
        scores[label] = np.array([verdict.score for verdict in verdicts])
    assert scores["live"].mean() > 0.5  # measured on all 581: 0.82
    assert scores["print"].max() < 0.1  # measured on all 583: at most 0.091
    assert scores["live"].mean() > scores["print"].mean() + 0.4


def test_phone_samples_real_above_print_and_replay(
    liveness: PassiveLiveness, detector: FaceDetector
) -> None:
    verdicts = {}
    for name in ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg"):
        image = _sample(name)
        verdicts[name] = liveness.score(image, _largest(detector, image))
    real, poster, tablet = (verdicts[n] for n in ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg"))
    assert real.score > max(poster.score, tablet.score)
    assert real.live and not poster.live and not tablet.live
    assert poster.status is LivenessStatus.SPOOF and tablet.status is LivenessStatus.SPOOF


def test_batch_equals_one_by_one(liveness: PassiveLiveness, detector: FaceDetector) -> None:
    images = [read_image(path) for path in _nuaa("live")[:3] + _nuaa("print")[:3]]
    items = [(image, _largest(detector, image)) for image in images]
    chunked = PassiveLiveness(liveness.sessions, LivenessSettings(max_batch=4))
    one_by_one = [liveness.score(image, face) for image, face in items]
    for batched in (liveness.score_batch(items), chunked.score_batch(items)):
        for single, together in zip(one_by_one, batched, strict=True):
            assert together.model_scores == pytest.approx(single.model_scores, abs=1e-5)
            assert together.status is single.status


def test_several_faces_of_one_image(liveness: PassiveLiveness, detector: FaceDetector) -> None:
    image = _sample("image_T1.jpg")
    face = _largest(detector, image)
    shifted = face.transformed(1.0, 5.0, 5.0)
    both = liveness.score_faces(image, [face, shifted])
    assert len(both) == 2 and both[0].score == pytest.approx(liveness.score(image, face).score)
    assert liveness.score_faces(image, []) == []


def test_grayscale_and_bgra_give_a_defined_verdict(
    liveness: PassiveLiveness, detector: FaceDetector
) -> None:
    colour = read_image(_nuaa("live")[0])
    face = _largest(detector, colour)
    grey = np.asarray(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), np.uint8)
    verdict = liveness.score(grey, face)  # replicated to three channels
    assert 0.0 <= verdict.score <= 1.0 and verdict.status in set(LivenessStatus)
    bgra = np.asarray(cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA), np.uint8)
    assert liveness.score(bgra, face).score == pytest.approx(liveness.score(colour, face).score)


def test_tiny_face_is_too_small_not_live(liveness: PassiveLiveness) -> None:
    image = _sample("image_T1.jpg")
    verdict = liveness.score(image, _box(200, 200, 212, 214))
    assert verdict.status is LivenessStatus.TOO_SMALL and not verdict.live
    assert 0.0 <= verdict.score <= 1.0


def test_not_an_image_is_an_input_error(liveness: PassiveLiveness) -> None:
    with pytest.raises(InputError):
        liveness.score(np.zeros((100, 100, 3), np.float32), _box(10, 10, 60, 60))
    with pytest.raises(InputError):
        liveness.score(np.zeros((0, 0, 3), np.uint8), _box(10, 10, 60, 60))


def test_full_grid_screen_recapture_is_stopped_by_the_moire_cue(
    liveness: PassiveLiveness, detector: FaceDetector
) -> None:
    live = read_image(_nuaa("live")[0])
    screen = screen_recapture(live, live, np.random.default_rng(0), grid_strength=1.0)
    verdict = liveness.score(screen, _largest(detector, screen))
    plain = liveness.score(live, _largest(detector, live))
    assert verdict.cues.moire_peak is not None and verdict.cues.moire_peak > 25
    assert verdict.cues.ceiling == 0.0 and not verdict.live
    assert plain.cues.moire_peak is not None and plain.cues.moire_peak < 15


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        LivenessSettings(threshold=1.5)
    with pytest.raises(ValueError, match="at least one"):
        LivenessSettings(models=())
    with pytest.raises(ValueError, match="crop_scale"):
        CropModel("minifasnet_v2", 0.0)


def test_missing_session_is_refused(liveness: PassiveLiveness) -> None:
    with pytest.raises(ValueError, match="no session"):
        PassiveLiveness({"minifasnet_v2": liveness.sessions["minifasnet_v2"]})


class _Answers:
    """A session that answers ``value`` everywhere (a broken build, a faulty accelerator)."""

    def __init__(self, real: object, value: float) -> None:
        self.real, self.value = real, value

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def run(self, inputs: dict[str, npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        outputs = self.real.run(inputs)  # type: ignore[attr-defined]
        return [np.full_like(output, self.value) for output in outputs]


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_model_answering_nan_fails_closed_whatever_the_other_says(
    liveness: PassiveLiveness, detector: FaceDetector, value: float
) -> None:
    """The other model still vouches for the real face: fused naively it could carry it."""
    image = _sample("image_T1.jpg")
    face = _largest(detector, image)
    sessions = dict(liveness.sessions)
    sessions["minifasnet_v2"] = _Answers(sessions["minifasnet_v2"], value)  # type: ignore[assignment]
    verdict = PassiveLiveness(sessions).score(image, face)
    assert verdict.score == 0.0 and verdict.status is LivenessStatus.SPOOF
    assert verdict.model_scores[0] == 0.0 and verdict.model_scores[1] > 0.5
