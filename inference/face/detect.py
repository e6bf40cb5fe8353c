"""Face detection with YuNet: any image size in, :class:`FaceBox` values out.

YuNet (2023mar) is anchor-free with one prior per cell of three feature maps (strides 8,
16 and 32). For the cell at column ``c``, row ``r`` of stride ``s`` it predicts:

* ``cls`` and ``obj``; the face score is ``sqrt(clip(cls) * clip(obj))``;
* ``bbox`` = (dx, dy, log w, log h): centre ``((c + dx) s, (r + dy) s)``, size ``exp(.) s``;
* ``kps`` = five (dx, dy) offsets: landmark ``((c + dx) s, (r + dy) s)``.

This is the decoding of OpenCV's ``FaceDetectorYN``, written here over numpy so that any
session (ONNX Runtime, TensorRT) can drive it. Its input is BGR 0-255, NCHW, with height
and width padded to multiples of 32 (the feature maps are added across strides).

Three policies on top of the raw model, all settings of :class:`DetectorSettings` with
defaults measured by ``tests/inference/face/measure.py``:

* **Capped resolution.** Images are shrunk so their long side is at most
  ``max_input_side`` (960) before the network sees them: the cost grows with the pixel
  count, and YuNet still finds faces of about 10 px, so 1080p frames shrunk to 960 keep
  their 25-40 px faces findable.
* **Tight-crop retry.** A face that fills the frame (LFW-style crops, a face pressed to
  the kiosk camera) is bigger than the faces YuNet was trained on and is sometimes missed.
  When a pass finds nothing, the image is framed with a border, so that the face fills
  less of it, and detected again at a small, cheap size.
* **Upright look.** YuNet's landmarks lag behind a tilted head. A face whose eye line
  tilts is looked at again in a crop turned upright, and the landmarks found there are
  mapped back; the box and score stay those of the first look.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InputError, RuntimeSetupError
from inference.face.types import FaceBox, Point
from inference.image_file import read_bgr
from inference.runtime import Runtime
from inference.runtime.session import ModelSession

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]

PAD_MULTIPLE = 32  # YuNet's coarsest stride: every feature map must tile the input exactly
HEAD_KINDS = ("cls", "obj", "bbox", "kps")
_HEAD_NAME = re.compile(r"^(cls|obj|bbox|kps)_(\d+)$")


# The detector needs only the runtime's session protocol: run it and know its output names.
DetectorSession = ModelSession


@dataclass(frozen=True)
class DetectorSettings:
    """Detector thresholds and policies; the defaults were measured (see the report in
    ``tests/inference/face/measure.py``)."""

    score_threshold: float = 0.6
    """Minimum face score. OpenCV's sample uses 0.9, at which one pass finds a face in
    91.9 % of the LFW crops; at 0.6, 99.7 % (99.97 % with the retry)."""
    nms_iou_threshold: float = 0.3
    """Boxes overlapping a better one by more than this IoU are the same face."""
    max_contained: float = 0.8
    """A face whose box lies this much (share of its own area) inside a better face's box is
    a part of that face (an eye, a cheek), which IoU-based NMS cannot see; 1 keeps them."""
    max_candidates: int = 5000
    """Candidates kept (best first) before NMS, as OpenCV's ``top_k``."""
    max_input_side: int = 960
    """Long side the network sees; larger images are shrunk to it (never enlarged)."""
    retry_border: float = 0.25
    """Tight-crop retry: border added on each side, as a fraction of the image's long side;
    0 turns the retry off."""
    retry_input_side: int = 320
    """Long side of the bordered image on the retry; big faces need few pixels."""
    upright_roll_degrees: float = 10.0
    """Faces whose eye line reads a tilt above this get a second look in a crop turned upright.
    YuNet's landmarks lag behind a real tilt: upright LFW faces turned by 30 degrees read 16.8
    (median), by 45 degrees 13.3; after the upright looks 25.8 and 32.3, and their landmarks
    mapped back agree with the unturned face's twice as well at 30 degrees (median error 0.087
    against 0.171 inter-ocular distances). The threshold is low because a face turned by 40
    degrees can read as little as 14. 180 turns the look off."""
    upright_passes: int = 2
    """Upright looks a tilted face gets; each one turns the crop by the last reading."""
    upright_crop_side: int = 256
    """Side of the upright crop, which spans twice the face's long side."""
    min_image_side: int = 16
    """Images smaller than this on either side hold no findable face: empty answer."""
    max_image_side: int = 32767
    """Larger images are refused (OpenCV's resize cannot address them)."""

    def __post_init__(self) -> None:
        fractions = (self.score_threshold, self.nms_iou_threshold, self.max_contained)
        if not all(0.0 < value <= 1.0 for value in fractions):
            raise ValueError("score_threshold, nms_iou_threshold, max_contained: in (0, 1]")
        if self.max_input_side < PAD_MULTIPLE or self.retry_input_side < PAD_MULTIPLE:
            raise ValueError(f"input sides must be at least {PAD_MULTIPLE} px")
        if self.retry_border < 0 or self.max_candidates < 1 or self.min_image_side < 1:
            raise ValueError("retry_border >= 0, max_candidates >= 1, min_image_side >= 1")
        if self.upright_passes < 0 or self.upright_crop_side < PAD_MULTIPLE:
            raise ValueError(f"upright_passes >= 0 and upright_crop_side >= {PAD_MULTIPLE}")


@dataclass(frozen=True)
class _Heads:
    """Where each stride's four outputs sit in the session's output list."""

    strides: tuple[int, ...]
    positions: Mapping[tuple[str, int], int]

    @classmethod
    def from_output_names(cls, names: Sequence[str]) -> _Heads:
        positions: dict[tuple[str, int], int] = {}
        for position, name in enumerate(names):
            match = _HEAD_NAME.match(name)
            if match:
                positions[(match.group(1), int(match.group(2)))] = position
        strides = tuple(sorted({stride for _, stride in positions}))
        expected = {(kind, stride) for kind in HEAD_KINDS for stride in strides}
        if not strides or set(positions) != expected:
            raise RuntimeSetupError(f"not a YuNet session: outputs are {list(names)}")
        return cls(strides, positions)

    def pick(self, outputs: Sequence[FloatArray], kind: str, stride: int) -> FloatArray:
        """The first (only) image's output of ``kind`` at ``stride``, as (cells, values)."""
        return np.asarray(outputs[self.positions[(kind, stride)]][0], np.float32)


@dataclass(frozen=True)
class _Candidates:
    """Decoded, not yet suppressed detections in network-input pixels."""

    boxes: FloatArray  # (n, 4) x1, y1, x2, y2
    scores: FloatArray  # (n,)
    landmarks: FloatArray  # (n, 5, 2)

    @classmethod
    def concatenate(cls, parts: Sequence[_Candidates]) -> _Candidates:
        return cls(
            np.concatenate([part.boxes for part in parts]),
            np.concatenate([part.scores for part in parts]),
            np.concatenate([part.landmarks for part in parts]),
        )

    def take(self, indices: npt.NDArray[np.intp]) -> _Candidates:
        return _Candidates(self.boxes[indices], self.scores[indices], self.landmarks[indices])


class FaceDetector:
    """YuNet face detection on BGR or grayscale uint8 images of any size."""

    def __init__(
        self,
        session: DetectorSession,
        input_name: str,
        settings: DetectorSettings | None = None,
    ) -> None:
        self.session = session
        self.input_name = input_name
        self.settings = settings or DetectorSettings()
        self._heads = _Heads.from_output_names(session.output_names)

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, model_id: str = "yunet_n", settings: DetectorSettings | None = None
    ) -> FaceDetector:
        """A detector on an installed YuNet model; the input name comes from the manifest."""
        session = runtime.session(model_id)
        return cls(session, session.contract.name, settings)

    @property
    def provider(self) -> str:
        return self.session.provider

    def detect(self, image: npt.NDArray[np.generic]) -> list[FaceBox]:
        """Faces in ``image``, best score first.

        ``image`` is HxW (grayscale), HxWx1, HxWx3 (BGR) or HxWx4 (BGRA), uint8. Anything
        else is an :class:`InputError`; an image too small to hold a face gives ``[]``.
        """
        bgr = as_bgr(image, self.settings.max_image_side)
        if min(bgr.shape[:2]) < self.settings.min_image_side:
            return []
        faces = self._detect_at(bgr, self.settings.max_input_side)
        if not faces and self.settings.retry_border > 0:
            faces = self._detect_in_border(bgr)
        return [self._upright_landmarks(bgr, face) for face in faces]

    def _upright_landmarks(self, bgr: Image, face: FaceBox) -> FaceBox:
        if abs(face.roll_degrees) <= self.settings.upright_roll_degrees:
            return face
        for _ in range(self.settings.upright_passes):
            face = self._look_upright(bgr, face)
        return face

    def _look_upright(self, bgr: Image, face: FaceBox) -> FaceBox:
        """``face`` with the landmarks found in a crop turned by its roll, mapped back."""
        side = self.settings.upright_crop_side
        centre_x, centre_y = face.center
        scale = side / (2 * max(face.width, face.height))
        turn = np.asarray(cv2.getRotationMatrix2D(face.center, face.roll_degrees, scale))
        turn[:, 2] += np.array([side / 2 - centre_x, side / 2 - centre_y])
        crop = cv2.warpAffine(bgr, turn, (side, side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        found = self._detect_at(np.asarray(crop, np.uint8), side)
        if not found:
            return face
        middle = min(found, key=lambda f: math.dist(f.center, (side / 2, side / 2)))
        back = cv2.invertAffineTransform(turn)
        points = np.asarray(middle.landmarks) @ back[:, :2].T + back[:, 2]
        return face.with_landmarks(tuple((float(x), float(y)) for x, y in points))

    def _detect_in_border(self, bgr: Image) -> list[FaceBox]:
        border = round(self.settings.retry_border * max(bgr.shape[:2]))
        fill = [int(value) for value in cv2.mean(bgr)[:3]]  # neutral: no edge to mistake
        framed = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_CONSTANT,
                                    value=fill)  # fmt: skip
        faces = self._detect_at(np.asarray(framed, np.uint8), self.settings.retry_input_side)
        return [face.transformed(1.0, -border, -border) for face in faces]

    def _detect_at(self, bgr: Image, max_side: int) -> list[FaceBox]:
        scale = min(1.0, max_side / max(bgr.shape[:2]))
        blob = _to_blob(bgr, scale)
        outputs = self.session.run({self.input_name: blob})
        candidates = self._decode(outputs, blob.shape[2], blob.shape[3])
        kept = candidates.take(
            nms(candidates.boxes, candidates.scores, self.settings.nms_iou_threshold)
        )
        kept = kept.take(outside_better_boxes(kept.boxes, self.settings.max_contained))
        return [face.transformed(1.0 / scale, 0.0, 0.0) for face in _to_faces(kept)]

    def _decode(self, outputs: Sequence[FloatArray], height: int, width: int) -> _Candidates:
        parts = []
        for stride in self._heads.strides:
            heads = {kind: self._heads.pick(outputs, kind, stride) for kind in HEAD_KINDS}
            grid = (height // stride, width // stride)
            parts.append(decode_stride(heads, stride, grid, self.settings.score_threshold))
        candidates = _Candidates.concatenate(parts)
        best_first = np.argsort(-candidates.scores, kind="stable")
        return candidates.take(best_first[: self.settings.max_candidates])


def decode_stride(
    heads: Mapping[str, FloatArray], stride: int, grid: tuple[int, int], threshold: float
) -> _Candidates:
    """The candidates of one stride whose score reaches ``threshold``."""
    rows, cols = grid
    if heads["cls"].shape[0] != rows * cols:
        raise InputError(f"stride {stride}: {heads['cls'].shape[0]} cells, expected {rows * cols}")
    scores = np.sqrt(np.clip(heads["cls"][:, 0], 0, 1) * np.clip(heads["obj"][:, 0], 0, 1))
    keep = np.flatnonzero(scores >= threshold)
    cells = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)  # (c, r)
    bbox = heads["bbox"][keep]
    centres = (cells + bbox[:, :2]) * stride
    sizes = np.exp(bbox[:, 2:4]) * stride
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    landmarks = (heads["kps"][keep].reshape(-1, 5, 2) + cells[:, None, :]) * stride
    return _Candidates(boxes.astype(np.float32), scores[keep].astype(np.float32),
                       landmarks.astype(np.float32))  # fmt: skip


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        order = rest[_iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(kept, dtype=np.intp)


def outside_better_boxes(boxes: FloatArray, max_contained: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes (sorted best first) not lying inside an earlier box by more than
    ``max_contained`` of their own area."""
    kept: list[int] = []
    for index in range(len(boxes)):
        earlier = boxes[kept]
        top_left = np.maximum(boxes[index, :2], earlier[:, :2])
        bottom_right = np.minimum(boxes[index, 2:], earlier[:, 2:])
        inside = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        if not np.any(inside > max_contained * np.prod(boxes[index, 2:] - boxes[index, :2])):
            kept.append(index)
    return np.asarray(kept, dtype=np.intp)


def _iou_one_to_many(box: FloatArray, others: FloatArray) -> FloatArray:
    top_left = np.maximum(box[:2], others[:, :2])
    bottom_right = np.minimum(box[2:], others[:, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    return np.asarray(overlap / (area + areas - overlap), np.float32)


def _to_faces(candidates: _Candidates) -> list[FaceBox]:
    faces = []
    for box, score, points in zip(
        candidates.boxes, candidates.scores, candidates.landmarks, strict=True
    ):
        if not (np.isfinite(box).all() and np.isfinite(points).all() and np.isfinite(score)):
            continue  # a detector answering nan or inf found nothing there
        landmarks: tuple[Point, ...] = tuple((float(x), float(y)) for x, y in points)
        x1, y1, x2, y2 = (float(value) for value in box)
        faces.append(FaceBox(x1, y1, x2, y2, float(score), landmarks))
    return faces


def _to_blob(bgr: Image, scale: float) -> FloatArray:
    """Shrunk by ``scale``, padded bottom-right to multiples of 32, as 1x3xHxW float32."""
    if scale < 1.0:
        size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
        bgr = np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), np.uint8)
    height, width = bgr.shape[:2]
    padded = np.zeros((_round_up(height), _round_up(width), 3), np.float32)
    padded[:height, :width] = bgr
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None])


def _round_up(value: int) -> int:
    return math.ceil(value / PAD_MULTIPLE) * PAD_MULTIPLE


def as_bgr(image: npt.NDArray[np.generic], max_side: int = 32767) -> Image:
    """A 3-channel BGR uint8 view or copy of ``image``; grayscale is replicated."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"an image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"an image must be uint8, got {image.dtype}")
    pixels: Image = np.asarray(image, np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise InputError(f"an image must be HxW, HxWx1, HxWx3 or HxWx4, got {pixels.shape}")
    if pixels.size == 0:
        raise InputError(f"the image is empty ({pixels.shape})")
    height, width = pixels.shape[:2]
    if max(height, width) > max_side:
        raise InputError(f"the image is {width}x{height}; the limit is {max_side} px a side")
    pixels = np.ascontiguousarray(pixels)  # OpenCV refuses views with negative strides
    if pixels.ndim == 2:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), np.uint8)
    if pixels.shape[2] == 4:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR), np.uint8)
    return pixels


def read_image(path: Path) -> Image:
    """The image file at ``path`` as BGR uint8, read by the reader the fish side and the app
    share (:mod:`inference.image_file`): missing, not a regular file (a device, a pipe, a
    folder), unreadable, not an image, or one that would cost more than a photo does (too
    many pixels, a JPEG in too many scans) is an :class:`~inference.errors.ImageError`, an
    :class:`InputError`."""
    return read_bgr(path)
