"""Reading fish photos and shaping them for the backbone's input contract.

The backbone takes float32 NCHW RGB 0-255, square, and normalises inside its graph: 224 x 224
unless a pack declares another side (a fine-tune may train at the crops' own scale).
Crops are letterboxed rather than stretched: a fish's outline (long and thin, or round) is
part of what tells species apart, and stretching every crop to a square erases it.

A photo of more than ``MAX_PIXELS``, or a JPEG in more than ``MAX_JPEG_SCANS`` scans, is
refused from its header and markers, before it is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.fish.errors import ImageError
from inference.fish.graph_contract import input_names
from inference.fish.image_header import jpeg_scan_count, pixel_size

INPUT_SIZE = 224  # the installed backbones' side, and every head-mode pack's
# Mid-grey: the backbone's normalisation maps it to zero, so padding carries no signal.
PAD_VALUE = 128
# Bumped whenever reading or letterboxing changes, so cached features are recomputed.
PREPROCESS_VERSION = "letterbox-v1"
# The largest phone cameras take 200 MP photos; 5 % more admits every phone's photo at full
# resolution and refuses a file made to exhaust memory, such as a 1 MB PNG declaring
# 16000 x 16000 px (256 MP). At the limit a decoded photo is 630 MB of RGB.
MAX_PIXELS = 210_000_000
# A progressive JPEG is decoded once per scan, over the whole image: a file can repeat a
# scan thousands of times in a few bytes each (a 0.5 MB, 8000 x 8000 px file of 2,000 scans
# kept `jaga catch` decoding for minutes). libjpeg's own progressive scripts write 10 scans
# for a colour photo and 18 for CMYK, and a baseline JPEG has one per component at most, so
# 64 admits every encoder's photo; at the limit a decode costs at most 64 passes.
MAX_JPEG_SCANS = 64
# OpenCV's decoders refuse more than OPENCV_IO_MAX_IMAGE_PIXELS before allocating: the
# backstop for a header the check here cannot read. OpenCV reads it when cv2 is imported, so
# the package's __init__ sets it to this limit, before any module of ours imports cv2.

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


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def decode_image(data: bytes, name: str) -> UInt8Image:
    """An RGB uint8 image; :class:`ImageError` for anything that does not decode, that
    has more than ``MAX_PIXELS`` (a JPEG, PNG or WebP is refused from its header), or that
    is a JPEG in more than ``MAX_JPEG_SCANS`` scans."""
    if (declared := pixel_size(data)) is not None:
        check_pixels(*declared, name)
    check_scans(data, name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    except cv2.error as exc:  # OpenCV's own limits (OPENCV_IO_MAX_IMAGE_PIXELS) raise
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise ImageError(
                f"{name} declares more than the {MAX_PIXELS / 1e6:.0f} MP a photo may have:"
                " save it at a lower resolution"
            ) from exc
        raise ImageError(f"{name} is not a readable image: {exc.err or exc}") from exc
    if image is None:
        raise ImageError(f"{name} is not a readable image (corrupt, empty or unknown format)")
    check_pixels(image.shape[1], image.shape[0], name)  # a format whose header is not read
    return as_uint8(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def check_pixels(width: int, height: int, name: str) -> None:
    """:class:`ImageError` for a photo of more than ``MAX_PIXELS``."""
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is {width}x{height} px ({width * height / 1e6:.0f} MP), more than the"
            f" {MAX_PIXELS / 1e6:.0f} MP a photo may have: save it at a lower resolution"
        )


def check_scans(data: bytes, name: str) -> None:
    """:class:`ImageError` for a JPEG in more than ``MAX_JPEG_SCANS`` scans."""
    if data.startswith(b"\xff\xd8") and jpeg_scan_count(data, MAX_JPEG_SCANS) > MAX_JPEG_SCANS:
        raise ImageError(
            f"{name} is a JPEG in more than {MAX_JPEG_SCANS} scans, each decoded over the whole"
            " photo (a camera writes a dozen or two at most): save it again as a plain JPEG"
        )


def read_image(path: Path) -> UInt8Image:
    return decode_image(read_bytes(path), str(path))


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
