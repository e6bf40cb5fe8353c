"""Dense face landmarks with MediaPipe FaceMesh: 468 points per face, in image pixels.

FaceMesh expects what MediaPipe's own graph gives it: a square region around the face,
turned so the eyes are level, stretched to 192x192, RGB in [0, 1]. MediaPipe builds that
region from its BlazeFace box scaled by 1.5 (``face_detection_front_detection_to_roi``);
YuNet's box covers about the same part of the face, so :class:`FaceMeshSettings` keeps
MediaPipe's factor. The turn uses the roll of YuNet's eye landmarks, so a tilted head
reaches the network upright, the way it was trained; the 468 points are mapped back to the
image with the inverse of the same affine map, so callers never see crop coordinates.

The indices of the points the liveness code reads (eye contours, nose tip, face contour)
are named in :class:`MeshPoint`; they are the canonical MediaPipe mesh topology.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.detect import as_bgr
from inference.face.types import FaceBox
from inference.runtime import Runtime

FloatArray = npt.NDArray[np.float32]
MESH_POINTS = 468
MESH_INPUT_SIDE = 192  # the network's fixed input; landmarks come out in these pixels


class MeshPoint(IntEnum):
    """Canonical FaceMesh indices used by the liveness code.

    "Right" and "left" are the subject's, as in :class:`~inference.face.types.Landmark`:
    in an unmirrored frontal image the right eye has the smaller x. Each eye is read
    through six contour points, the layout of Soukupova and Cech's eye aspect ratio:
    the two corners, and two points on each lid facing each other.
    """

    RIGHT_EYE_OUTER = 33
    RIGHT_EYE_UPPER_OUTER = 160
    RIGHT_EYE_UPPER_INNER = 158
    RIGHT_EYE_INNER = 133
    RIGHT_EYE_LOWER_INNER = 153
    RIGHT_EYE_LOWER_OUTER = 144
    LEFT_EYE_INNER = 362
    LEFT_EYE_UPPER_INNER = 385
    LEFT_EYE_UPPER_OUTER = 387
    LEFT_EYE_OUTER = 263
    LEFT_EYE_LOWER_OUTER = 373
    LEFT_EYE_LOWER_INNER = 380
    NOSE_TIP = 1
    RIGHT_CHEEK = 234  # the face contour at the height of the eyes, subject's right
    LEFT_CHEEK = 454
    FOREHEAD = 10  # top of the face contour on the midline
    CHIN = 152


class MeshSession(Protocol):
    """What the runner needs of a session."""

    @property
    def provider(self) -> str: ...

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]: ...


@dataclass(frozen=True)
class FaceMeshSettings:
    """How the face region is cut for FaceMesh."""

    region_scale: float = 1.5
    """Side of the square region over the long side of the detector's box: MediaPipe's
    factor for its own (similar) face box, so the face fills the crop as in training."""
    min_face_flag: float = 0.5
    """Below this face-flag probability the mesh is marked unreliable (``has_face``)."""

    def __post_init__(self) -> None:
        if self.region_scale <= 0 or not 0.0 <= self.min_face_flag <= 1.0:
            raise ValueError("region_scale > 0 and min_face_flag in [0, 1]")


@dataclass(frozen=True)
class FaceMesh:
    """468 landmarks of one face in image pixels (x, y; z in the same scale, relative)."""

    points: FloatArray  # (468, 3)
    face_flag: float  # the network's probability that its crop held a face
    has_face: bool  # face_flag reached the settings' minimum

    def __post_init__(self) -> None:
        if self.points.shape != (MESH_POINTS, 3):
            raise ValueError(f"a mesh has {MESH_POINTS}x3 points, got {self.points.shape}")

    def xy(self, which: MeshPoint | int) -> tuple[float, float]:
        """The image position of one point."""
        return (float(self.points[which, 0]), float(self.points[which, 1]))


class FaceMeshRunner:
    """Runs FaceMesh on detected faces."""

    def __init__(
        self, session: MeshSession, input_name: str, settings: FaceMeshSettings | None = None
    ) -> None:
        self.session = session
        self.input_name = input_name
        self.settings = settings or FaceMeshSettings()

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, model_id: str = "facemesh", settings: FaceMeshSettings | None = None
    ) -> FaceMeshRunner:
        session = runtime.session(model_id)
        return cls(session, session.contract.name, settings)

    def mesh(self, image: npt.NDArray[np.generic], face: FaceBox) -> FaceMesh:
        """The mesh of ``face`` in ``image`` (BGR, BGRA or grayscale uint8)."""
        bgr = as_bgr(image)
        to_crop = region_transform(face, self.settings.region_scale)
        crop = cv2.warpAffine(bgr, to_crop, (MESH_INPUT_SIDE, MESH_INPUT_SIDE),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
        rgb = np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), np.float32) / 255.0
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
        landmarks, flag = self._run(blob)
        points = map_back(landmarks, to_crop)
        face_flag = float(np.clip(flag, 0.0, 1.0))
        return FaceMesh(points, face_flag, face_flag >= self.settings.min_face_flag)

    def _run(self, blob: FloatArray) -> tuple[FloatArray, float]:
        outputs = self.session.run({self.input_name: blob})
        landmarks = np.asarray(outputs[0], np.float32).reshape(MESH_POINTS, 3)
        return landmarks, float(np.asarray(outputs[1]).reshape(-1)[0])


def region_transform(face: FaceBox, region_scale: float) -> npt.NDArray[np.float64]:
    """The 2x3 affine map from image pixels to the 192-px crop: a square of side
    ``region_scale`` x the box's long side, centred on the box, turned by the face's roll."""
    side = region_scale * max(face.width, face.height)
    scale = MESH_INPUT_SIDE / side
    centre_x, centre_y = face.center
    turn = cv2.getRotationMatrix2D((centre_x, centre_y), face.roll_degrees, scale)
    matrix = np.asarray(turn, np.float64)
    matrix[:, 2] += np.array([MESH_INPUT_SIDE / 2 - centre_x, MESH_INPUT_SIDE / 2 - centre_y])
    return matrix


def map_back(landmarks: FloatArray, to_crop: npt.NDArray[np.float64]) -> FloatArray:
    """Crop-pixel landmarks (x, y, z) in image pixels; z is scaled like x and y."""
    back = cv2.invertAffineTransform(to_crop)
    points = np.empty_like(landmarks)
    points[:, :2] = landmarks[:, :2] @ back[:, :2].T + back[:, 2]
    points[:, 2] = landmarks[:, 2] * float(np.sqrt(abs(np.linalg.det(back[:, :2]))))
    return points
