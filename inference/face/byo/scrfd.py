"""SCRFD face detection (InsightFace) decoded here, for bring-your-own packs.

SCRFD's 3-stride models with landmarks (``*_bnkps``, ``det_10g``, ``det_500m``) predict,
for each of ``anchors`` (2) anchors at each location ``(c, r)`` of the stride-``s`` map:

* a face probability (the graph already applies the sigmoid);
* a box as four *distances* from the location's point ``(c s, r s)`` to its left, top,
  right and bottom edges, in units of the stride;
* five landmarks as offsets from the same point, in units of the stride.

Anchors of one location are consecutive in the outputs. The input is the image letterboxed
into a square (scaled to fit, padded right and bottom with black), RGB, ``(x - 127.5) / 128``.
This is the decoding of InsightFace's ``model_zoo/scrfd.py``, written over numpy so that
any session (ONNX Runtime, TensorRT) drives it; the landmarks come out in the same order
as YuNet's, so every later stage reads them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import InputError, PackError
from inference.face.byo.pack import ByoPack, DetectorSpec
from inference.face.byo.sessions import check_image_input, last_dims, open_session, read_graph_io
from inference.face.detect import DetectorSession, as_bgr, nms
from inference.face.types import FaceBox
from inference.runtime import Runtime, ThreadBudget

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]
KINDS = {"score": 1, "bbox": 4, "kps": 10}  # each output's width


def output_positions(spec: DetectorSpec, names: Sequence[str]) -> dict[tuple[str, int], int]:
    """Where each (kind, stride) output sits, by the declared convention; a graph that
    does not have that layout is a :class:`PackError`."""
    strides = spec.strides
    if spec.outputs == "names":
        wanted = {(kind, s): f"{kind}_{s}" for kind in KINDS for s in strides}
        missing = sorted(name for name in wanted.values() if name not in names)
        if missing:
            raise PackError(f"{spec.file}: no outputs named {missing}; the graph has {list(names)}")
        return {key: list(names).index(name) for key, name in wanted.items()}
    if len(names) != len(KINDS) * len(strides):
        raise PackError(f"{spec.file}: InsightFace's layout for strides {list(strides)} has "
                        f"{3 * len(strides)} outputs, the graph has {len(names)}")  # fmt: skip
    positions = {(kind, s): k * len(strides) + i
                 for k, kind in enumerate(KINDS) for i, s in enumerate(strides)}  # fmt: skip
    for (kind, stride), position in positions.items():
        name = names[position]
        if name.split("_")[0] in KINDS and name != f"{kind}_{stride}":  # named, and not as said
            raise PackError(f"{spec.file}: output {position} is {name!r}, the layout says "
                            f"{kind}_{stride}")  # fmt: skip
    return positions


def expected_shape(spec: DetectorSpec, kind: str, stride: int) -> tuple[int, int]:
    """(rows, width) of one output: a row per anchor per location of the stride's map."""
    return (spec.input_size // stride) ** 2 * spec.anchors, KINDS[kind]


def without_batch(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Exports with and without a batch axis both occur."""
    return shape[1:] if len(shape) == 3 and shape[0] == 1 else shape


def check_output_shapes(
    spec: DetectorSpec,
    shapes: Mapping[str, tuple[int, ...]],
    positions: Mapping[tuple[str, int], int],
    names: Sequence[str],
) -> None:
    """The warm-up's outputs (a frame of the declared ``input_size``) against the contract:
    a wrong ``anchors`` or ``input_size`` leaves the widths right and the lengths wrong,
    which is refused at load, not on the first frame. Nothing to check without a warm-up."""
    for (kind, stride), position in positions.items():
        shape = shapes.get(names[position])
        expected = expected_shape(spec, kind, stride)
        if shape is not None and without_batch(shape) != expected:
            raise PackError(f"{spec.file}: {kind} output of stride {stride} is "
                            f"{without_batch(shape)}, the contract says {expected}")  # fmt: skip


class ScrfdDetector:
    """SCRFD detection on BGR or grayscale uint8 images of any size."""

    def __init__(self, session: DetectorSession, input_name: str, spec: DetectorSpec) -> None:
        self.session = session
        self.input_name = input_name
        self.spec = spec
        self._positions = output_positions(spec, session.output_names)

    @classmethod
    def from_pack(
        cls, runtime: Runtime, pack: ByoPack, threads: ThreadBudget | None = None
    ) -> ScrfdDetector:
        """The pack's detector, its checksum and contract checked before it runs."""
        spec = pack.detector
        if spec is None:
            raise PackError(f"{pack.root} declares no detector")
        path = pack.path(spec)
        sha256 = pack.checked_sha256(spec)
        io = read_graph_io(path, sha256)
        input_name = check_image_input(io, spec.input_size, spec.file)
        positions = output_positions(spec, io.output_names)
        for (kind, stride), position in positions.items():
            width = last_dims(io)[position]
            if isinstance(width, int) and width != KINDS[kind]:
                raise PackError(f"{spec.file}: {kind} output of stride {stride} is {width} "
                                f"wide, the contract says {KINDS[kind]}")  # fmt: skip
        session = open_session(runtime, path, sha256, io, side=spec.input_size, threads=threads)
        check_output_shapes(spec, session.warmup_shapes or {}, positions, io.output_names)
        return cls(session, input_name, spec)

    @property
    def provider(self) -> str:
        return self.session.provider

    def detect(self, image: npt.NDArray[np.generic]) -> list[FaceBox]:
        """Faces in ``image``, best score first (same contract as YuNet's detector)."""
        bgr = as_bgr(image)
        faces = self._detect(bgr)
        if faces or self.spec.retry_border <= 0:
            return faces
        border = round(self.spec.retry_border * max(bgr.shape[:2]))
        fill = [int(value) for value in cv2.mean(bgr)[:3]]  # neutral: no edge to mistake
        framed = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_CONSTANT,
                                    value=fill)  # fmt: skip
        found = self._detect(np.asarray(framed, np.uint8))
        return [face.transformed(1.0, -border, -border) for face in found]

    def _detect(self, bgr: Image) -> list[FaceBox]:
        blob, scale = self._letterbox(bgr)
        outputs = self.session.run({self.input_name: blob})
        boxes, scores, points = self._decode(outputs)
        keep = nms(boxes, scores, self.spec.nms_iou_threshold)
        return _faces(boxes[keep] / scale, scores[keep], points[keep] / scale)

    def _letterbox(self, bgr: Image) -> tuple[FloatArray, float]:
        """The 1x3xSxS input, and the factor from image to input pixels."""
        side = self.spec.input_size
        height, width = bgr.shape[:2]
        scale = min(side / height, side / width)
        size = (max(1, min(side, int(width * scale))), max(1, min(side, int(height * scale))))
        canvas = np.zeros((side, side, 3), np.uint8)
        canvas[: size[1], : size[0]] = cv2.resize(bgr, size)
        if self.spec.colour == "RGB":
            canvas = canvas[:, :, ::-1]
        blob = (canvas.astype(np.float32) - self.spec.mean) / self.spec.std
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), size[1] / height

    def _decode(self, outputs: Sequence[FloatArray]) -> tuple[FloatArray, FloatArray, FloatArray]:
        parts = [self._decode_stride(outputs, stride) for stride in self.spec.strides]
        boxes, scores, points = (np.concatenate(items) for items in zip(*parts, strict=True))
        return boxes, scores, points

    def _decode_stride(
        self, outputs: Sequence[FloatArray], stride: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        score, bbox, kps = (self._output(outputs, kind, stride) for kind in KINDS)
        keep = np.flatnonzero(score[:, 0] >= self.spec.score_threshold)
        side = self.spec.input_size // stride
        columns, rows = np.meshgrid(np.arange(side), np.arange(side))  # row-major, as the maps
        grid = np.stack([columns.ravel(), rows.ravel()], axis=1) * stride
        centres = np.repeat(grid.astype(np.float32), self.spec.anchors, axis=0)[keep]
        distance = bbox[keep] * stride
        boxes = np.concatenate([centres - distance[:, :2], centres + distance[:, 2:]], axis=1)
        points = kps[keep].reshape(-1, 5, 2) * stride + centres[:, None, :]
        return boxes, score[keep, 0], points

    def _output(self, outputs: Sequence[FloatArray], kind: str, stride: int) -> FloatArray:
        """One output as (cells, width). The load checked the warm-up's shapes; a session
        made without a warm-up is checked here, on its first frame."""
        value = np.asarray(outputs[self._positions[(kind, stride)]], np.float32)
        value = value.reshape(without_batch(value.shape))
        expected = expected_shape(self.spec, kind, stride)
        if value.shape != expected:
            raise InputError(f"{self.spec.file}: {kind} output of stride {stride} is "
                             f"{value.shape}, the contract says {expected}")  # fmt: skip
        return value


def _faces(boxes: FloatArray, scores: FloatArray, points: FloatArray) -> list[FaceBox]:
    faces = []
    for box, score, landmarks in zip(boxes, scores, points, strict=True):
        x1, y1, x2, y2 = (float(value) for value in box)
        if not (x1 < x2 and y1 < y2) or not np.all(np.isfinite(landmarks)):
            continue  # a degenerate prediction is no face
        marks = tuple((float(x), float(y)) for x, y in landmarks)
        faces.append(FaceBox(x1, y1, x2, y2, float(np.clip(score, 0.0, 1.0)), marks))
    return faces
