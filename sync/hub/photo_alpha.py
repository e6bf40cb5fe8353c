"""A transparent photo as a reviewer sees it: composited onto white.

OpenCV's colour decode drops an alpha channel and keeps the colour beneath it, which no
viewer shows (often black): a thumbnail made so shows a picture no one took. This is the
device's compositing (``inference.image_alpha``), kept in step with it by hand (``sync``
and ``inference`` never import each other; a test compares the two): the same white, the
same rounding, the same turning by the photo's EXIF orientation.

Plain numpy: the decoding (OpenCV) stays in ``sync.hub.thumbnails``, the hub's one use of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

# One reading of an EXIF orientation on the sync side: the metadata stripping's, which keeps it.
from sync.photo_metadata import exif_orientation

__all__ = ["BACKGROUND", "exif_orientation", "on_white", "upright"]

if TYPE_CHECKING:
    import numpy.typing as npt

    UInt8Image = npt.NDArray[np.uint8]

# White, as the review page (and most viewers) show a transparent image: the device's.
BACKGROUND = 255

# Rows composited at a time: the arithmetic's wider temporaries stay a few MB, whatever the
# photo's size.
_BAND_ROWS = 256


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


def upright(image: UInt8Image, orientation: int) -> UInt8Image:
    """``image`` turned as EXIF ``orientation`` says, as OpenCV turns a photo it decodes."""
    if orientation in (5, 6, 7, 8):
        image = image.swapaxes(0, 1)
    axes = {2: (1,), 3: (0, 1), 4: (0,), 6: (1,), 7: (0, 1), 8: (0,)}.get(orientation, ())
    return np.ascontiguousarray(np.flip(image, axes) if axes else image)
