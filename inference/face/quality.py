"""The quality gate: is this face good enough to judge, and if not, why not.

Every measure is taken on the *inner face*: the rectangle around the five landmarks,
widened by half an inter-ocular distance on each side (eyebrows to chin, cheek to cheek).
Background, hair and the frame edge stay out of it, so a sharp background behind a blurred
face does not pass as sharp, and a bright wall beside a dark face does not pass as exposed.

* **size**: inter-ocular distance and the box's short side, in image pixels;
* **sharpness**: variance of the Laplacian of the inner face resized to a fixed side (so
  the measure does not depend on the face's resolution), divided by the variance of the
  grey levels themselves (so it does not depend on contrast or exposure: a dark sharp face
  is dark, not blurry). Roughly: the share of the signal's energy at the finest scale;
* **pose** from the landmarks alone: roll is the angle of the eye line; with the roll
  undone, yaw is the nose's horizontal offset from the eye-mouth midline in inter-ocular
  distances, and pitch the nose's height between the eye line (0) and the mouth line (1);
* **exposure**: mean grey level (too dark / too bright) and its standard deviation
  (low contrast) on the inner face;
* **closeness**: how much of the frame the face's box fills. Passive liveness reads the face
  with 2.7 and 4 times its size around it (the paper's edge, a screen's bezel); a face that
  fills the frame leaves it no context, and a printed photo held up close then passes.

Each threshold is a setting of :class:`QualitySettings`; the defaults were chosen from the
distributions measured on real faces and degraded copies of them (the report in
``tests/inference/face/measure.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import as_bgr
from inference.face.types import (
    FaceBox,
    Landmark,
    QualityMeasures,
    QualityReason,
    QualityVerdict,
)

GreyImage = npt.NDArray[np.float32]
INNER_FACE_MARGIN = 0.5  # inter-ocular distances around the landmarks: brows, cheeks, chin


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of the quality gate; a face passes when it is inside every one."""

    min_inter_ocular_px: float = 20.0
    """LFW faces shrunk to 20 px between the eyes are found 98.7 % of the time, at 15 px 89 %."""
    min_face_side_px: float = 40.0
    """Short side of the detector's box (on real faces 2.14 inter-ocular distances)."""
    sharpness_side_px: int = 64
    """Side the inner face is resized to before the Laplacian."""
    min_sharpness: float = 0.05
    """Laplacian variance / grey-level variance at 64 px. Real faces: 1st and 5th percentile
    0.042 and 0.071 (2.5 % rejected); blurred with sigma = inter-ocular / 40: 22 % rejected,
    sigma = inter-ocular / 20: 95th percentile 0.052, 94 % rejected."""
    max_abs_yaw: float = 0.35
    """Nose offset from the midline, in inter-ocular distances. Real faces (LFW, johns):
    1st-99th percentile -0.29..0.33; the profile shots of hamilton (frames 21-45): 1.0-3.2."""
    pitch_reference: float = 0.58
    """Nose height between eye line (0) and mouth line (1): the median of real faces."""
    max_abs_pitch: float = 0.15
    """Allowed distance from ``pitch_reference``; real faces: 1st-99th percentile 0.48..0.67.
    (Computed, not measured: a generic 3-D head model moves it by about 0.15 for 20 degrees.)"""
    max_abs_roll_degrees: float = 25.0
    """Eye-line tilt (read after the detector's upright look); real faces: 1st-99th
    percentile -16.5..17.9 degrees, 0.3 % beyond 25."""
    min_brightness: float = 50.0
    """Mean grey level of the inner face. Real faces: 1st percentile 77, none rejected;
    darkened to 50 %: 12 % rejected; to 25 %: 99th percentile 42, all rejected."""
    max_brightness: float = 200.0
    """Real faces: 99th percentile 168, none rejected; brightened to 50 % of the headroom:
    14 % rejected; to 25 %: 1st percentile 210, all rejected."""
    min_contrast: float = 15.0
    """Grey-level standard deviation of the inner face. Real faces: 1st percentile 20.9, none
    rejected; contrast halved: 13 % rejected; quartered: 99th percentile 16.4, 96 % rejected."""
    max_frame_share: float = 0.75
    """The box's larger share of the frame, max(height / H, width / W). NUAA's live webcam
    frames (706 with a face): median 0.457, max 0.647, none rejected; its print frames: 4 of
    683 rejected; hamilton's stage close-ups: 10 of 271. Printed photos zoomed 3x so the
    face fills the frame were verified in 17 of 32 trials without this rule, none with it.
    A camera mounted upright (9:16) sees the width fill sooner: the same live frames cut so
    have median 0.598, and 78 of 706 are over 0.75; such a kiosk needs people to stand
    further back than NUAA's subjects did (all: ``python -m tools.measure_face_closeness``)."""

    def __post_init__(self) -> None:
        if self.sharpness_side_px < 8:
            raise ValueError("sharpness_side_px must be at least 8")
        if not 0 <= self.min_brightness < self.max_brightness <= 255:
            raise ValueError("need 0 <= min_brightness < max_brightness <= 255")
        if not self.max_frame_share > 0:
            raise ValueError("max_frame_share must be above 0 (above 1: no limit)")


class QualityGate:
    """Judges one detected face in the image it was detected in."""

    def __init__(self, settings: QualitySettings | None = None) -> None:
        self.settings = settings or QualitySettings()

    def assess(self, image: npt.NDArray[np.generic], face: FaceBox) -> QualityVerdict:
        """The verdict on ``face``; an image that is not an image is an ``InputError``."""
        bgr = as_bgr(image)
        rect = inner_face_rect(face, bgr.shape[1], bgr.shape[0])
        if rect is None:
            return QualityVerdict(False, (QualityReason.OUTSIDE_IMAGE,), None)
        x1, y1, x2, y2 = rect
        inner = np.asarray(cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), np.float32)
        share = max(face.height / bgr.shape[0], face.width / bgr.shape[1])
        measures = measure(inner, face, self.settings.sharpness_side_px, share)
        reasons = self.reasons(measures)
        return QualityVerdict(not reasons, reasons, measures)

    def reasons(self, measures: QualityMeasures) -> tuple[QualityReason, ...]:
        """Every threshold ``measures`` falls outside of, in a fixed order."""
        s = self.settings
        checks = (
            (QualityReason.TOO_SMALL, measures.inter_ocular_px < s.min_inter_ocular_px
             or measures.face_side_px < s.min_face_side_px),
            (QualityReason.BLURRY, measures.sharpness < s.min_sharpness),
            (QualityReason.POSE_YAW, abs(measures.yaw) > s.max_abs_yaw),
            (QualityReason.POSE_PITCH, abs(measures.pitch - s.pitch_reference) > s.max_abs_pitch),
            (QualityReason.POSE_ROLL, abs(measures.roll_degrees) > s.max_abs_roll_degrees),
            (QualityReason.TOO_DARK, measures.brightness < s.min_brightness),
            (QualityReason.TOO_BRIGHT, measures.brightness > s.max_brightness),
            (QualityReason.LOW_CONTRAST, measures.contrast < s.min_contrast),
            (QualityReason.TOO_CLOSE, measures.frame_share > s.max_frame_share),
        )  # fmt: skip
        return tuple(reason for reason, failed in checks if failed)


def measure(
    inner: GreyImage, face: FaceBox, sharpness_side_px: int = 64, frame_share: float = 0.0
) -> QualityMeasures:
    """Every quality measure of ``face``, given its inner face as grey levels."""
    yaw, pitch, roll = pose(face)
    return QualityMeasures(
        inter_ocular_px=face.inter_ocular_px,
        face_side_px=min(face.width, face.height),
        sharpness=sharpness(inner, sharpness_side_px),
        yaw=yaw,
        pitch=pitch,
        roll_degrees=roll,
        brightness=float(inner.mean()),
        contrast=float(inner.std()),
        frame_share=frame_share,
    )


def inner_face_rect(
    face: FaceBox, image_width: int, image_height: int
) -> tuple[int, int, int, int] | None:
    """The landmarks' bounding rectangle widened by ``INNER_FACE_MARGIN`` inter-ocular
    distances, cut to the image; None when less than 2x2 pixels of it are inside."""
    points = np.asarray(face.landmarks, dtype=np.float64)
    margin = INNER_FACE_MARGIN * max(face.inter_ocular_px, 1.0)
    x1, y1 = (max(0, math.floor(value)) for value in points.min(axis=0) - margin)
    x2, y2 = (math.ceil(value) for value in points.max(axis=0) + margin)
    x2, y2 = min(image_width, x2), min(image_height, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return (x1, y1, x2, y2)


def sharpness(inner: GreyImage, side: int) -> float:
    """Laplacian variance over grey-level variance, at a fixed resolution."""
    resized = cv2.resize(inner, (side, side), interpolation=cv2.INTER_AREA)
    variance = float(resized.var())
    if variance < 1e-6:
        return 0.0  # a flat patch holds no detail at all
    laplacian = cv2.Laplacian(resized, cv2.CV_32F, ksize=1)
    return float(laplacian.var()) / variance


def pose(face: FaceBox) -> tuple[float, float, float]:
    """(yaw, pitch, roll in degrees) from the five landmarks.

    yaw > 0: the nose points to the image's right. pitch: the nose's height between the
    eye line (0) and the mouth line (1); a frontal face sits near 0.58 and a raised chin
    moves it up (smaller). roll > 0: the eye line descends to the image's right.
    """
    right_eye, left_eye, nose, right_mouth, left_mouth = (
        np.asarray(face.landmark(which), dtype=np.float64) for which in Landmark
    )
    eye_line = left_eye - right_eye
    roll = math.atan2(eye_line[1], eye_line[0])
    unroll = _rotation(-roll)
    eyes_mid = (right_eye + left_eye) / 2
    mouth = unroll @ ((right_mouth + left_mouth) / 2 - eyes_mid)
    nose_at = unroll @ (nose - eyes_mid)
    inter_ocular = max(float(np.hypot(*eye_line)), 1e-6)
    if mouth[1] <= 1e-6:
        return (math.inf, math.inf, math.degrees(roll))  # the mouth is not below the eyes
    height = nose_at[1] / mouth[1]
    midline_x = mouth[0] * height  # the eye-mouth midline at the nose's height
    yaw = (nose_at[0] - midline_x) / inter_ocular
    return (float(yaw), float(height), math.degrees(roll))


def _rotation(angle: float) -> npt.NDArray[np.float64]:
    cos, sin = math.cos(angle), math.sin(angle)
    return np.array([[cos, -sin], [sin, cos]], dtype=np.float64)
