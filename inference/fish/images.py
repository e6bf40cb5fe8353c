"""Reading fish photos and shaping them for the backbone's input contract.

The backbone takes float32 NCHW RGB 0-255, square, and normalises inside its graph: 224 x 224
unless a pack declares another side (a fine-tune may train at the crops' own scale).
Crops are letterboxed rather than stretched: a fish's outline (long and thin, or round) is
part of what tells species apart, and stretching every crop to a square erases it.

Photos are read and decoded by :mod:`inference.image_file`, the reader the face tools share:
a photo of more than ``MAX_PIXELS``, or a JPEG in more scans than its size allows, is refused
from its header and markers, before it is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import ImageError
from inference.fish.graph_contract import input_names
from inference.image_file import decode_bgr, read_image_file

INPUT_SIZE = 224  # the installed backbones' side, and every head-mode pack's
# Mid-grey: the backbone's normalisation maps it to zero, so padding carries no signal.
PAD_VALUE = 128
# Bumped whenever reading or letterboxing changes, so cached features are recomputed.
PREPROCESS_VERSION = "letterbox-v1"

UInt8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class QualityGate:
    """What an image must have before it is worth classifying.

    A frame that is one flat colour (lens cap, a dark deck, a failed crop) or a crop a few
    pixels wide would still get a species from the model, with misleading confidence; these
    are answered ``no_fish`` instead. Photos of something that is not a fish pass the gate
    and fall to the open-set threshold, which answers ``unknown``.
    """

    min_side: int = 16  # pixels; below this a reef fish crop has no usable texture
    min_std: float = 3.0  # grey-level standard deviation; sensor noise alone is about 1-2

    def reject_reason(self, image: UInt8Image) -> str | None:
        height, width = image.shape[:2]
        if min(height, width) < self.min_side:
            return f"image is {width}x{height} px, smaller than {self.min_side} px on a side"
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        _, std = cv2.meanStdDev(grey)  # numpy's std() makes float64 copies: 8 bytes a pixel
        if float(std[0, 0]) < self.min_std:
            return "image is blank (one flat colour)"
        return None


DEFAULT_GATE = QualityGate()


def as_uint8(image: npt.ArrayLike) -> UInt8Image:
    """OpenCV's results as the uint8 arrays they are (its stubs type them loosely)."""
    return np.asarray(image, dtype=np.uint8)


def decode_image(data: bytes, name: str) -> UInt8Image:
    """An RGB uint8 image; :class:`ImageError` as :func:`inference.image_file.decode_bgr`."""
    return as_uint8(cv2.cvtColor(decode_bgr(data, name), cv2.COLOR_BGR2RGB))


def read_image(path: Path) -> UInt8Image:
    """The photo at ``path`` as RGB; :class:`ImageError` for a file that is not a photo."""
    return decode_image(read_image_file(path), str(path))


def shrink_to_fit(image: UInt8Image, side: int) -> UInt8Image:
    """The image scaled down to fit ``side`` on its longer side (as it is, if it fits)."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return as_uint8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def check_rgb(image: npt.NDArray[np.generic]) -> UInt8Image:
    """Accept an HxWx3 uint8 RGB array from a caller; anything else is an input error."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image.astype(np.uint8, copy=False)


def letterbox(image: UInt8Image, size: int = INPUT_SIZE) -> UInt8Image:
    """Scale the longer side to ``size`` and pad the shorter one with mid-grey, centred."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def round_robin_batches(
    per_species: Sequence[Sequence[Path]], limit: int, batch: int = 8, size: int = INPUT_SIZE
) -> list[FloatArray]:
    """Up to ``limit`` letterboxed images, one species after another, in batches.

    INT8 calibration must see every species' colours and shapes, not only the common ones.
    Each species' images are shuffled (by a fixed seed, so a pack rebuilds the same): in
    folder order the few taken would be consecutive frames of its first tracks.
    """
    rng = np.random.default_rng(0)
    queues = [[paths[i] for i in rng.permutation(len(paths))] for paths in per_species]
    chosen: list[Path] = []
    while len(chosen) < limit and any(queues):
        chosen += [q.pop() for q in queues if q][: limit - len(chosen)]
    images = [letterbox(read_image(path), size) for path in chosen]
    return [to_batch(images[i : i + batch]) for i in range(0, len(images), batch)]


def batch_inputs(images: Sequence[UInt8Image], sides: tuple[int, ...]) -> dict[str, FloatArray]:
    """A pack's graph inputs for raw crops: each crop letterboxed once per side the pack takes."""
    return {
        name: to_batch([letterbox(image, side) for image in images])
        for name, side in zip(input_names(sides), sides, strict=True)
    }


def to_batch(images: Sequence[UInt8Image]) -> FloatArray:
    """Letterboxed HxWx3 images -> the float32 NCHW batch the backbone takes."""
    stacked = np.stack(images).astype(np.float32)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))
