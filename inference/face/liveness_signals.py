"""What the active challenge reads on each frame: eye opening, head yaw, eye appearance.

All three come from the FaceMesh landmarks (:mod:`inference.face.landmarks`):

* **Eye aspect ratio** (Soukupova and Cech, 2016): for each eye, the two lid-to-lid
  distances over twice the corner-to-corner distance, averaged over both eyes; it drops
  when the lids close. The six contour points per eye are named in
  :class:`~inference.face.landmarks.MeshPoint`. A photo tilted back squashes the whole face
  and its eyes with it, so the ratio is also read against the **face aspect** (forehead to
  chin over cheek to cheek), which a blink leaves alone.
* **Yaw** as the nose tip's position between the two cheek contour points (234 and 454),
  minus one half: 0 for a frontal face, > 0 when the nose moves to the image's right.
  A ratio of positions along one line does not change under an affine map of the image,
  so a photograph turned, tilted or slid in front of the camera keeps its yaw (exactly for
  an affine map; under a camera's perspective, three photos turned by 30 degrees moved it
  by at most 0.09); a real head turning moves its nose against its cheeks. (If the nose tip
  stands in front of the cheeks by 2/3 of the cheek-to-cheek width, yaw = 0.67 tan(angle):
  0.18 at 15 degrees.)
* **Eye appearance change**: both eyes, each cut on its corner-to-corner axis into a
  small normalised grey patch, compared with a reference by 1 - normalised correlation.
  At webcam resolution FaceMesh's lids barely follow a blink: on the NUAA live webcam
  sequence the one blink lowered the eye openness by 7 % against the frames before it
  (the waved print's frames: up to 2.6 %), too little to trust alone, but changed the eyes'
  appearance by 0.72 while no other live frame passed 0.26 and no frame of the printed
  photo passed 0.15 (``python -m inference.face.liveness_study challenge``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import as_bgr
from inference.face.landmarks import FaceMesh, MeshPoint

FloatArray = npt.NDArray[np.float32]

RIGHT_EYE = (
    MeshPoint.RIGHT_EYE_OUTER,
    MeshPoint.RIGHT_EYE_UPPER_OUTER,
    MeshPoint.RIGHT_EYE_UPPER_INNER,
    MeshPoint.RIGHT_EYE_INNER,
    MeshPoint.RIGHT_EYE_LOWER_INNER,
    MeshPoint.RIGHT_EYE_LOWER_OUTER,
)
"""p1..p6 of the eye aspect ratio: corner, upper lid (2), corner, lower lid (2); p2 faces p6
and p3 faces p5."""
LEFT_EYE = (
    MeshPoint.LEFT_EYE_INNER,
    MeshPoint.LEFT_EYE_UPPER_INNER,
    MeshPoint.LEFT_EYE_UPPER_OUTER,
    MeshPoint.LEFT_EYE_OUTER,
    MeshPoint.LEFT_EYE_LOWER_OUTER,
    MeshPoint.LEFT_EYE_LOWER_INNER,
)
EYE_PATCH_WIDTH = 32  # pixels along the corner-to-corner axis
EYE_PATCH_HEIGHT = 16  # across it: the lids and a margin, at half the width


@dataclass(frozen=True)
class FaceSignals:
    """One frame's readings of one face."""

    eye_aspect_ratio: float
    face_aspect: float
    yaw: float
    face_flag: float
    eye_patch: FloatArray | None = None  # both eyes side by side, zero mean, unit variance

    def __post_init__(self) -> None:
        values = (self.eye_aspect_ratio, self.face_aspect, self.yaw)
        if not all(math.isfinite(value) for value in values):
            raise ValueError(f"signals must be finite: {values}")

    @property
    def eye_openness(self) -> float:
        """The eye aspect ratio over the face aspect: a squashed photo keeps it."""
        return self.eye_aspect_ratio / self.face_aspect if self.face_aspect > 0 else 0.0


def read_signals(image: npt.NDArray[np.generic], mesh: FaceMesh) -> FaceSignals:
    """The signals of a face from its mesh and the image the mesh was read in."""
    points = mesh.points[:, :2]
    grey = np.asarray(cv2.cvtColor(as_bgr(image), cv2.COLOR_BGR2GRAY), np.float32)
    return FaceSignals(
        eye_aspect_ratio=eye_aspect_ratio(points),
        face_aspect=face_aspect(points),
        yaw=yaw_ratio(points),
        face_flag=mesh.face_flag,
        eye_patch=eye_patch(grey, points),
    )


def eye_aspect_ratio(points: npt.NDArray[np.floating]) -> float:
    """The mean of both eyes' aspect ratios; 0 for a degenerate (cornerless) eye."""
    return (_one_eye(points, RIGHT_EYE) + _one_eye(points, LEFT_EYE)) / 2


def _one_eye(points: npt.NDArray[np.floating], indices: tuple[MeshPoint, ...]) -> float:
    p1, p2, p3, p4, p5, p6 = (np.asarray(points[index], np.float64) for index in indices)
    width = float(np.linalg.norm(p1 - p4))
    if width < 1e-9:
        return 0.0
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width)


def face_aspect(points: npt.NDArray[np.floating]) -> float:
    """Forehead-to-chin over cheek-to-cheek distance; 0 for a degenerate face."""
    height = np.linalg.norm(points[MeshPoint.FOREHEAD] - points[MeshPoint.CHIN])
    width = float(np.linalg.norm(points[MeshPoint.RIGHT_CHEEK] - points[MeshPoint.LEFT_CHEEK]))
    return float(height) / width if width > 1e-9 else 0.0


def yaw_ratio(points: npt.NDArray[np.floating]) -> float:
    """Where the nose tip sits between the cheeks, along the cheek-to-cheek line, minus 1/2."""
    right = np.asarray(points[MeshPoint.RIGHT_CHEEK], np.float64)
    left = np.asarray(points[MeshPoint.LEFT_CHEEK], np.float64)
    nose = np.asarray(points[MeshPoint.NOSE_TIP], np.float64)
    axis = left - right
    length = float(axis @ axis)
    if length < 1e-9:
        return 0.0
    return float((nose - right) @ axis) / length - 0.5


def eye_patch(grey: FloatArray, points: npt.NDArray[np.floating]) -> FloatArray | None:
    """Both eyes, each cut along its corner-to-corner axis, side by side and normalised;
    None when the patch is flat (no eye to compare)."""
    right = _cut_eye(grey, points[MeshPoint.RIGHT_EYE_OUTER], points[MeshPoint.RIGHT_EYE_INNER])
    left = _cut_eye(grey, points[MeshPoint.LEFT_EYE_INNER], points[MeshPoint.LEFT_EYE_OUTER])
    both = np.hstack([right, left])
    spread = float(both.std())
    if spread < 1e-3:
        return None
    return np.asarray((both - both.mean()) / spread, np.float32)


def _cut_eye(
    grey: FloatArray, start: npt.NDArray[np.floating], end: npt.NDArray[np.floating]
) -> FloatArray:
    """The patch whose middle row runs from ``start`` to ``end`` (image left to right)."""
    start64, end64 = np.asarray(start, np.float64), np.asarray(end, np.float64)
    direction = end64 - start64
    length = max(float(np.hypot(*direction)), 1e-6)
    cos, sin = direction / length
    scale = EYE_PATCH_WIDTH / length
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]]) * scale
    matrix[:, 2] = np.array([0.0, EYE_PATCH_HEIGHT / 2]) - matrix[:, :2] @ start64
    size = (EYE_PATCH_WIDTH, EYE_PATCH_HEIGHT)
    return np.asarray(cv2.warpAffine(grey, matrix, size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE), np.float32)  # fmt: skip


def appearance_change(patch: FloatArray | None, reference: FloatArray | None) -> float:
    """1 - normalised correlation of two eye patches (0: same, ~1: unrelated); 0 when
    either is missing, so that a frame without eyes to compare never reads as a blink."""
    if patch is None or reference is None or patch.shape != reference.shape:
        return 0.0
    spread = float(reference.std())
    if spread < 1e-6:
        return 0.0
    normalised = (reference - reference.mean()) / spread
    return float(1.0 - np.mean(patch * normalised))
