"""Small real photos for the sync tests: encoded as a camera would, decodable by OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def photo_bytes(seed: int, suffix: str = ".jpg") -> bytes:
    """A 64 x 48 image (a fish-coloured blob on noise) encoded as ``suffix``; each seed differs."""
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cv2.circle(pixels, (32, 24), 14, (30, 90 + seed % 100, 200), -1)
    ok, encoded = cv2.imencode(suffix, pixels)
    assert ok, f"OpenCV cannot encode {suffix}"
    return encoded.tobytes()
