"""Values the face pipeline passes between its stages.

Small frozen dataclasses, validated on construction, so a malformed face never travels
further than the line that made it. Coordinates are floats in the pixels of the image the
caller gave the detector. A box may reach past the image's edge: a face cut by the border
keeps its full extent, and :meth:`FaceBox.crop_rect` gives the part that is inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

Point = tuple[float, float]


class Landmark(IntEnum):
    """YuNet's five landmarks, in the order the model emits them.

    The order is OpenCV's ``FaceDetectorYN`` output layout (right eye, left eye, nose tip,
    right mouth corner, left mouth corner). "Right" and "left" are the *subject's*: in an
    unmirrored frontal photo the right eye has the smaller x.
    """

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    RIGHT_MOUTH_CORNER = 3
    LEFT_MOUTH_CORNER = 4


@dataclass(frozen=True)
class FaceBox:
    """One detected face: box corners, detector score in [0, 1], five landmarks."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    landmarks: tuple[Point, ...]

    def __post_init__(self) -> None:
        corners = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(value) for value in corners):
            raise ValueError(f"FaceBox corners must be finite, got {corners}")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"FaceBox needs x1 < x2 and y1 < y2, got {corners}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"FaceBox score must lie in [0, 1], got {self.score}")
        _check_landmarks(self.landmarks)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> Point:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def landmark(self, which: Landmark) -> Point:
        return self.landmarks[which]

    @property
    def inter_ocular_px(self) -> float:
        """Distance between the eye centres: the usual measure of a face's resolution."""
        (rx, ry), (lx, ly) = self.landmark(Landmark.RIGHT_EYE), self.landmark(Landmark.LEFT_EYE)
        return math.hypot(lx - rx, ly - ry)

    @property
    def roll_degrees(self) -> float:
        """Angle of the eye line; > 0 when it descends to the image's right."""
        (rx, ry), (lx, ly) = self.landmark(Landmark.RIGHT_EYE), self.landmark(Landmark.LEFT_EYE)
        return math.degrees(math.atan2(ly - ry, lx - rx))

    def with_landmarks(self, landmarks: tuple[Point, ...]) -> FaceBox:
        """The same box and score with other landmarks."""
        return FaceBox(self.x1, self.y1, self.x2, self.y2, self.score, landmarks)

    def iou(self, other: FaceBox) -> float:
        """Intersection over union of the two boxes."""
        overlap_w = min(self.x2, other.x2) - max(self.x1, other.x1)
        overlap_h = min(self.y2, other.y2) - max(self.y1, other.y1)
        if overlap_w <= 0 or overlap_h <= 0:
            return 0.0
        overlap = overlap_w * overlap_h
        return overlap / (self.area + other.area - overlap)

    def transformed(self, scale: float, dx: float, dy: float) -> FaceBox:
        """The same face with every coordinate mapped by ``v * scale + d``."""
        return FaceBox(
            x1=self.x1 * scale + dx,
            y1=self.y1 * scale + dy,
            x2=self.x2 * scale + dx,
            y2=self.y2 * scale + dy,
            score=self.score,
            landmarks=tuple((x * scale + dx, y * scale + dy) for x, y in self.landmarks),
        )

    def crop_rect(self, image_width: int, image_height: int) -> tuple[int, int, int, int] | None:
        """Integer ``(x1, y1, x2, y2)`` of the box inside the image, or None when outside."""
        x1, y1 = max(0, math.floor(self.x1)), max(0, math.floor(self.y1))
        x2, y2 = min(image_width, math.ceil(self.x2)), min(image_height, math.ceil(self.y2))
        if x2 <= x1 or y2 <= y1:
            return None
        return (x1, y1, x2, y2)


def _check_landmarks(landmarks: tuple[Point, ...]) -> None:
    if len(landmarks) != len(Landmark):
        raise ValueError(f"FaceBox needs {len(Landmark)} landmarks, got {len(landmarks)}")
    for point in landmarks:
        if len(point) != 2 or not all(math.isfinite(value) for value in point):
            raise ValueError(f"a landmark must be a finite (x, y) pair, got {point}")


@dataclass(frozen=True)
class TrackedFace:
    """A face seen in the current frame, with the id of the track it belongs to.

    ``hits`` counts the frames in which the track was matched, ``age`` the frames since it
    started; a track is ``confirmed`` once it has been seen often enough to be trusted.
    """

    track_id: int
    face: FaceBox
    hits: int
    age: int
    confirmed: bool

    def __post_init__(self) -> None:
        if self.track_id < 1:
            raise ValueError(f"track ids start at 1, got {self.track_id}")
        if not 1 <= self.hits <= self.age + 1:
            raise ValueError(f"a track needs 1 <= hits <= age + 1, got {self.hits}, {self.age}")


class QualityReason(StrEnum):
    """Why the quality gate rejected a face, or (``too_brief``) why a track could not be
    checked; the values are stable strings for logs and UI."""

    TOO_SMALL = "too_small"
    BLURRY = "blurry"
    POSE_YAW = "pose_yaw"
    POSE_PITCH = "pose_pitch"
    POSE_ROLL = "pose_roll"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    LOW_CONTRAST = "low_contrast"
    OUTSIDE_IMAGE = "outside_image"
    TOO_CLOSE = "too_close"
    TOO_BRIEF = "too_brief"
    """Not the gate's: the stream ended before the tracker could confirm the face, or the
    kiosk ended the attempt (a change of claim) before it could be checked."""


@dataclass(frozen=True)
class QualityMeasures:
    """What the quality gate measured on one face (``quality.py`` defines each measure)."""

    inter_ocular_px: float  # eye centre to eye centre, image pixels
    face_side_px: float  # short side of the detector's box, image pixels
    sharpness: float  # Laplacian variance / grey-level variance of the inner face at 64 px
    yaw: float  # nose offset from the eye-mouth midline, inter-ocular distances; > 0: right
    pitch: float  # nose height between eye line (0) and mouth line (1); frontal ~0.58
    roll_degrees: float  # eye-line angle; > 0: descends to the image's right
    brightness: float  # mean grey level of the inner face, 0-255
    contrast: float  # standard deviation of the inner face's grey levels
    frame_share: float = 0.0  # the box's larger share of the frame: max(h / H, w / W)


@dataclass(frozen=True)
class QualityVerdict:
    """The gate's answer: ``ok`` exactly when there is no reason to reject."""

    ok: bool
    reasons: tuple[QualityReason, ...]
    measures: QualityMeasures | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ok == bool(self.reasons):
            raise ValueError(f"ok={self.ok} contradicts reasons {self.reasons}")
        if len(set(self.reasons)) != len(self.reasons):
            raise ValueError(f"reasons repeat: {self.reasons}")


class Aggregate(StrEnum):
    """How an identity's several templates make one similarity."""

    MAX = "max"  # the best-matching template: the enrolment closest to today's pose and light
    MEAN = "mean"  # the mean similarity (the dot product with the templates' mean)
