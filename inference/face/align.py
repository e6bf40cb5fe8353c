"""Face alignment: five landmarks -> a similarity transform -> a 150x150 descriptor chip.

dlib's ResNet descriptor was trained on chips that dlib cuts with its own 5-point shape
predictor (two corners per eye and the bottom of the nose) mapped onto its mean-face
template, padded by 0.25. YuNet gives other points (eye centres, nose tip, mouth corners),
so dlib's template cannot be used with them as is. :data:`YUNET_DLIB_CHIP` is a template
for YuNet's points that cuts the chip dlib would cut: it was fitted on faces seen by both
pipelines, by mapping YuNet's landmarks into dlib's own chip and taking the median
(``tools/derive_chip_template.py`` derives it and prints the residuals quoted there).

The chip is cut as dlib cuts it, so that the network sees what it was trained on: the face
is first halved with a Gaussian pyramid while the chip would be less than half the size
of the face in the image (plain bilinear sampling of a big face aliases), then sampled
bilinearly; the area outside the image is black.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InputError
from inference.face.detect import as_bgr
from inference.face.types import FaceBox, Point

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]  # (2, 3) affine map, image pixels -> chip pixels
Points = npt.NDArray[np.float64]  # (n, 2)


@dataclass(frozen=True)
class ChipTemplate:
    """Where a detector's landmarks belong in a square chip, in chip pixels.

    ``points`` follow the detector's landmark order; ``weights`` (one per point, optional)
    weigh them in the similarity fit, so that a point that wanders more relative to the
    reference chip (a mouth corner with the expression) moves the chip less; ``face_box``
    is where the detector's box lands on average, used to cut a chip from a box alone (an
    image with no landmarks).
    """

    name: str
    size: int
    points: tuple[Point, ...]
    face_box: tuple[float, float, float, float]
    weights: tuple[float, ...] | None = None
    mirror_order: tuple[int, ...] | None = None
    """Each point's partner in the mirror image (a right eye becomes a left eye); needed for
    the mirrored look of :class:`RefineSettings`."""

    def __post_init__(self) -> None:
        if self.size < 8 or len(self.points) < 2:
            raise ValueError("a chip template needs size >= 8 and at least two points")
        if self.weights is not None and (
            len(self.weights) != len(self.points) or min(self.weights) <= 0
        ):
            raise ValueError("weights: one positive weight per point")
        if self.mirror_order is not None and sorted(self.mirror_order) != list(
            range(len(self.points))
        ):
            raise ValueError("mirror_order must be a permutation of the points")
        x1, y1, x2, y2 = self.face_box
        if not (x1 < x2 and y1 < y2):
            raise ValueError(f"face_box needs x1 < x2 and y1 < y2, got {self.face_box}")

    def as_array(self) -> Points:
        return np.asarray(self.points, np.float64)

    def weight_array(self) -> npt.NDArray[np.float64] | None:
        return None if self.weights is None else np.asarray(self.weights, np.float64)


# YuNet's five landmarks (right eye, left eye, nose tip, right and left mouth corner; refined
# by RefineSettings' second look) and box, in the pixels of dlib's 150x150 chip (padding
# 0.25). tools/derive_chip_template.py fitted them on 4024 faces seen by both YuNet and
# dlib's HOG + 5-point pipeline (558 NUAA webcam frames, 3466 LFW crops): each point is the
# median of the landmark mapped by dlib's own image -> chip map; the weights are the inverse
# of each point's median squared spread (mouth corners move with the expression, dlib's
# chip does not: it is cut from the eyes and the nose alone). With them our chip lands on
# average 2.88 chip pixels from dlib's (median 2.65, p90 4.65, p99 7.72) over the inner
# face; unweighted 3.04, from unrefined landmarks 3.97; the template fitted on NUAA alone
# lands 3.25 px from dlib's on LFW, which it never saw.
YUNET_DLIB_CHIP = ChipTemplate(
    name="yunet5-dlib150-v1",
    size=150,
    points=((45.9, 44.67), (100.93, 44.43), (73.7, 75.86), (50.15, 99.34), (97.16, 99.38)),
    face_box=(14.37, -8.53, 131.21, 137.64),
    weights=(1.0, 0.956, 0.373, 0.323, 0.331),
    mirror_order=(1, 0, 2, 4, 3),
)


class LandmarkDetector(Protocol):
    """What landmark refinement needs: a detector (``FaceDetector``) of the template's points."""

    def detect(self, image: npt.NDArray[np.generic]) -> list[FaceBox]: ...


@dataclass(frozen=True)
class RefineSettings:
    """A second look at the landmarks before the chip is cut.

    The detector's landmarks on a face that fills a big image, or sits tilted in it, are
    noisy by a few chip pixels; the descriptor notices. The face is cut again into a small
    upright crop (the template's place in it known), detected there and, with ``mirror``,
    in the crop's mirror image; the landmarks of every look are mapped back and averaged
    with the first ones. On LFW (5 folds, mirrored descriptors) this took the
    cross-validated accuracy from 98.18 to 98.43 %, AUC from 0.9956 to 0.9967 and TAR at FAR
    1e-3 from 92.4 to 95.5 %, for 4.6 ms of CPU per face (two YuNet passes on 160x160;
    ``tools/compare_face_recognition.py``).
    """

    looks: bool = True
    mirror: bool = True
    crop_side: int = 160
    """Side of the crop the detector looks at again (small: big faces need few pixels)."""
    face_fraction: float = 0.7
    """Share of the crop the template's chip covers: a margin so the face is not a tight crop."""

    def __post_init__(self) -> None:
        if self.crop_side < 32 or not 0.2 <= self.face_fraction <= 1.0:
            raise ValueError("crop_side >= 32 and face_fraction in [0.2, 1]")


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """A chip (BGR uint8, size x size x 3) and the map that cut it.

    ``residual`` is the root-mean-square distance, in chip pixels, between the landmarks
    mapped into the chip and the template's points: large when the landmarks do not have
    a face's shape (a profile, a bad detection).
    """

    chip: Image
    to_chip: Matrix
    residual: float
    landmarks: Points  # the landmarks the chip was cut from (refined when refinement is on)


class FaceAligner:
    """Cuts descriptor chips from detected faces with one template.

    Given the detector, landmarks are refined first (:class:`RefineSettings`); without it,
    the detector's landmarks are used as they are.
    """

    def __init__(
        self,
        template: ChipTemplate = YUNET_DLIB_CHIP,
        detector: LandmarkDetector | None = None,
        refine: RefineSettings | None = None,
    ) -> None:
        self.template = template
        self.detector = detector
        self.refine = refine or RefineSettings()

    def align(self, image: npt.NDArray[np.generic], face: FaceBox) -> AlignedFace:
        """The chip of a detected face, from its (refined) landmarks."""
        points = np.asarray(face.landmarks, np.float64)
        if self.detector is not None and self.refine.looks:
            points = self.refined_points(image, points)
        return self.align_points(image, points)

    def template_in_crop(self) -> Points:
        """The template's points in the refinement crop: the chip shrunk to
        ``face_fraction`` of the crop, centre on centre (pixel centres: (side - 1) / 2)."""
        side, size = self.refine.crop_side, self.template.size
        scale = self.refine.face_fraction * side / size
        return (self.template.as_array() - (size - 1) / 2) * scale + (side - 1) / 2

    def refined_points(self, image: npt.NDArray[np.generic], points: Points) -> Points:
        """``points`` averaged with the detector's landmarks in an upright crop of the face
        (and in its mirror image), mapped back to the image."""
        if self.detector is None:
            return points
        in_crop = self.template_in_crop()
        to_crop = similarity_transform(points, in_crop, self.template.weight_array())
        crop = warp_chip(image, to_crop, self.refine.crop_side)
        looks = [_central_landmarks(self.detector, crop)]
        order = self.template.mirror_order
        if self.refine.mirror and order is not None:
            mirrored = _central_landmarks(self.detector, np.ascontiguousarray(crop[:, ::-1]))
            side = self.refine.crop_side
            looks.append(None if mirrored is None else _unmirror(mirrored, side, order))
        back = cv2.invertAffineTransform(to_crop)
        found = [look @ back[:, :2].T + back[:, 2] for look in looks if look is not None]
        return np.asarray(np.mean([points, *found], axis=0), np.float64)

    def align_points(self, image: npt.NDArray[np.generic], points: Points) -> AlignedFace:
        """The chip for landmarks given in the template's order (image pixels)."""
        target = self.template.as_array()
        if points.shape != target.shape or not np.all(np.isfinite(points)):
            raise InputError(f"need {target.shape} finite landmarks, got shape {points.shape}")
        to_chip = similarity_transform(points, target, self.template.weight_array())
        mapped = points @ to_chip[:, :2].T + to_chip[:, 2]
        residual = float(np.sqrt(np.mean(np.sum((mapped - target) ** 2, axis=1))))
        chip = warp_chip(image, to_chip, self.template.size)
        return AlignedFace(chip, to_chip, residual, points)

    def align_box(
        self, image: npt.NDArray[np.generic], box: tuple[float, float, float, float]
    ) -> AlignedFace:
        """The chip for a face known only by its box (no landmarks): the box is mapped onto
        the template's ``face_box``, without rotation."""
        x1, y1, x2, y2 = box
        if not (x1 < x2 and y1 < y2):
            raise InputError(f"a face box needs x1 < x2 and y1 < y2, got {box}")
        tx1, ty1, tx2, ty2 = self.template.face_box
        corners = np.array([(x1, y1), (x2, y1), (x2, y2), (x1, y2)], np.float64)
        chip_corners = np.array([(tx1, ty1), (tx2, ty1), (tx2, ty2), (tx1, ty2)], np.float64)
        to_chip = similarity_transform(corners, chip_corners)
        chip = warp_chip(image, to_chip, self.template.size)
        return AlignedFace(chip, to_chip, math.nan, np.zeros((0, 2)))


def _central_landmarks(detector: LandmarkDetector, crop: Image) -> Points | None:
    """The landmarks of the face nearest the crop's centre, in crop pixels."""
    faces = detector.detect(crop)
    if not faces:
        return None
    centre = (crop.shape[1] / 2, crop.shape[0] / 2)
    face = min(faces, key=lambda f: math.dist(f.center, centre))
    return np.asarray(face.landmarks, np.float64)


def _unmirror(points: Points, side: int, order: tuple[int, ...]) -> Points:
    """Landmarks found in a mirrored crop, as they sit in the crop itself: x flipped, and
    each point swapped with its partner (the mirror's right eye is the face's left eye)."""
    flipped = points.copy()
    flipped[:, 0] = side - 1 - flipped[:, 0]
    return flipped[list(order)]


def similarity_transform(
    source: Points, target: Points, weights: npt.NDArray[np.float64] | None = None
) -> Matrix:
    """The (weighted) least-squares rotation + uniform scale + translation taking ``source``
    to ``target`` (Umeyama, 1991, without reflection), as a 2x3 matrix."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2:
        raise InputError(f"point sets must both be (n, 2), got {source.shape}, {target.shape}")
    w = np.ones(len(source)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    source_mean, target_mean = w @ source, w @ target
    src, dst = source - source_mean, target - target_mean
    variance = float(w @ np.sum(src**2, axis=1))
    if variance <= 1e-12:
        raise InputError("the landmarks coincide: no transform maps them")
    u, singular, vt = np.linalg.svd((dst * w[:, None]).T @ src)
    sign = np.diag([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) > 0 else -1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign)) / variance
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def warp_chip(image: npt.NDArray[np.generic], to_chip: Matrix, size: int) -> Image:
    """The ``size`` x ``size`` BGR chip that ``to_chip`` cuts from ``image``.

    Only the part of the image under the chip is touched: it is cropped, halved with
    ``cv2.pyrDown`` (dlib's pyramid uses the same 5-tap kernel) until the chip samples it
    at no less than half its resolution, then sampled bilinearly.
    """
    bgr = as_bgr(image)
    scale = math.sqrt(abs(float(np.linalg.det(to_chip[:, :2]))))
    halvings = max(0, math.ceil(math.log2(1.0 / (2.0 * scale)))) if scale > 0 else 0
    crop, offset = _crop_under_chip(bgr, to_chip, size, margin=4 * 2**halvings)
    if crop is None:
        return np.zeros((size, size, 3), np.uint8)
    for _ in range(halvings):
        crop = np.asarray(cv2.pyrDown(crop), np.uint8)
    # chip <- image = chip <- crop pixel: image = crop * 2^h + offset
    factor = float(2**halvings)
    matrix = np.hstack(
        [to_chip[:, :2] * factor, (to_chip[:, :2] @ offset + to_chip[:, 2])[:, None]]
    )
    chip = cv2.warpAffine(
        crop,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.asarray(chip, np.uint8)


def _crop_under_chip(
    bgr: Image, to_chip: Matrix, size: int, margin: int
) -> tuple[Image | None, npt.NDArray[np.float64]]:
    """The part of ``bgr`` that the chip covers (plus ``margin``) and its top-left corner."""
    back = cv2.invertAffineTransform(to_chip)
    corners = np.array([(0, 0), (size - 1, 0), (size - 1, size - 1), (0, size - 1)], np.float64)
    in_image = corners @ back[:, :2].T + back[:, 2]
    height, width = bgr.shape[:2]
    x1 = max(0, math.floor(in_image[:, 0].min()) - margin)
    y1 = max(0, math.floor(in_image[:, 1].min()) - margin)
    x2 = min(width, math.ceil(in_image[:, 0].max()) + margin + 1)
    y2 = min(height, math.ceil(in_image[:, 1].max()) + margin + 1)
    offset = np.array([x1, y1], np.float64)
    if x2 <= x1 or y2 <= y1:
        return None, offset
    return np.ascontiguousarray(bgr[y1:y2, x1:x2]), offset
