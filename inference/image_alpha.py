"""A transparent image as a person sees it: composited onto white.

OpenCV's colour decode drops an alpha channel and keeps the colour beneath it, which no
viewer shows: a PNG transparent everywhere is a blank picture in any viewer, yet its hidden
colour was classified as a fish with 99 % confidence. :func:`decode_on_white` decodes such an
image with its alpha (PNG, WebP, palette or grey with transparency, 8 or 16 bits) and
composites it onto white, so that what is classified, detected and shown is the picture a
person (a hub reviewer too) sees. It turns the result as the photo's EXIF orientation says,
as OpenCV's colour decode does, and it decodes nothing that has no alpha channel after all:
the caller then decodes it as any other photo.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]

# White, the background most viewers show a transparent image on (a web page such as the
# hub's review page, a document, a print), and the convention for a cut-out whose
# background was removed. A fixed one: the same file always gives the same pixels.
BACKGROUND = 255

# Rows composited at a time: the arithmetic's wider temporaries stay a few MB, whatever the
# photo's size (a whole 210 MP photo in 16-bit arithmetic would be 2.5 GB more).
_BAND_ROWS = 256

_EXIF_ORIENTATION = 0x0112


def decode_on_white(buffer: npt.NDArray[np.uint8]) -> UInt8Image | None:
    """The image in ``buffer`` composited onto white, as BGR uint8 and turned upright; None
    where it has no alpha channel (or does not decode: the caller's decode says why)."""
    image, kinds, metadata = cv2.imdecodeWithMetadata(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        return None
    if image.dtype not in (np.uint8, np.uint16):  # a float TIFF: no alpha in 0-255 to read
        return None
    found = zip(kinds, metadata, strict=True)
    exif = next((bytes(m) for kind, m in found if kind == cv2.IMAGE_METADATA_EXIF), b"")
    return upright(on_white(image), exif_orientation(exif))


def on_white(bgra: npt.NDArray[Any]) -> UInt8Image:
    """``bgra`` (8 or 16 bits) composited onto white, as 8-bit BGR. 16 bits keep their high
    byte, as OpenCV's colour decode does."""
    height, width = bgra.shape[:2]
    high_byte = 8 if bgra.dtype == np.uint16 else 0
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, _BAND_ROWS):
        band = bgra[top : top + _BAND_ROWS].astype(np.uint16) >> high_byte
        colour, alpha = band[..., :3], band[..., 3:]
        mixed = colour * alpha + BACKGROUND * (255 - alpha)  # at most 255 * 255: fits 16 bits
        out[top : top + _BAND_ROWS] = (mixed + 127) // 255
    return out


def exif_orientation(exif: bytes) -> int:
    """The orientation (1-8) an EXIF record (a TIFF header and its first directory) gives;
    1, upright, where it gives none or cannot be read."""
    if exif[:2] not in (b"II", b"MM") or len(exif) < 8:
        return 1
    order: Literal["little", "big"] = "little" if exif[:2] == b"II" else "big"

    def number(at: int, size: int) -> int:
        return int.from_bytes(exif[at : at + size], order)

    directory = number(4, 4)
    for entry in range(number(directory, 2)):
        at = directory + 2 + 12 * entry
        if at + 12 > len(exif):
            break
        if number(at, 2) == _EXIF_ORIENTATION:
            value = number(at + 8, 2)  # a SHORT, at the start of the value field
            return value if 1 <= value <= 8 else 1
    return 1


def upright(image: UInt8Image, orientation: int) -> UInt8Image:
    """``image`` turned as EXIF ``orientation`` says, as OpenCV turns a photo it decodes."""
    if orientation in (5, 6, 7, 8):
        image = np.asarray(cv2.transpose(image), np.uint8)
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return image if flip is None else np.asarray(cv2.flip(image, flip), np.uint8)
