"""Readers for the shared data the face tests use, and a session fake for decoder tests."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import numpy.typing as npt

from tests.conftest import shared_path

Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
STRIDES = (8, 16, 32)


def lfw(name: str) -> Image:
    """An LFW tight crop, read as the 350x350 grayscale it is."""
    path = shared_path("data", "faces", "lfw", "images", name)
    return np.asarray(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), np.uint8)


def video_frames(name: str, start: int, count: int) -> list[Image]:
    """``count`` consecutive frames of ``data/video/name`` from frame ``start``."""
    capture = cv2.VideoCapture(str(shared_path("data", "video", name)))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.asarray(frame, np.uint8))
    capture.release()
    return frames


class FakeYuNetSession:
    """Plays YuNet's twelve outputs for one input size, all empty but the cells it is told.

    ``faces`` maps (stride, row, column) to (cls, obj, bbox[4], kps[10]).
    """

    provider = "fake"

    def __init__(
        self, faces: Mapping[tuple[int, int, int], tuple[float, float, list[float], list[float]]]
    ) -> None:
        self.faces = faces
        self.output_names = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps")
                             for s in STRIDES]  # fmt: skip
        self.seen_shapes: list[tuple[int, ...]] = []

    def run(self, inputs: Mapping[str, FloatArray]) -> list[FloatArray]:
        (blob,) = inputs.values()
        self.seen_shapes.append(blob.shape)
        height, width = blob.shape[2:]
        outputs = {}
        for stride in STRIDES:
            cells = (height // stride) * (width // stride)
            outputs.update(self._empty(stride, cells))
            for (face_stride, row, column), values in self.faces.items():
                if face_stride == stride:
                    self._place(outputs, stride, row * (width // stride) + column, values)
        return [outputs[name] for name in self.output_names]

    @staticmethod
    def _empty(stride: int, cells: int) -> dict[str, FloatArray]:
        widths = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
        return {f"{kind}_{stride}": np.zeros((1, cells, n), np.float32)
                for kind, n in widths.items()}  # fmt: skip

    @staticmethod
    def _place(
        outputs: dict[str, FloatArray],
        stride: int,
        cell: int,
        values: tuple[float, float, list[float], list[float]],
    ) -> None:
        cls, obj, bbox, kps = values
        outputs[f"cls_{stride}"][0, cell] = cls
        outputs[f"obj_{stride}"][0, cell] = obj
        outputs[f"bbox_{stride}"][0, cell] = bbox
        outputs[f"kps_{stride}"][0, cell] = kps
