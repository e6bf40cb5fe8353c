"""Small real photos for the sync tests: encoded as a camera would, decodable by OpenCV."""

from __future__ import annotations

import struct

import cv2
import numpy as np


def photo_bytes(seed: int, suffix: str = ".jpg") -> bytes:
    """A 64 x 48 image (a fish-coloured blob on noise) encoded as ``suffix``; each seed differs."""
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cv2.circle(pixels, (32, 24), 14, (30, 90 + seed % 100, 200), -1)
    ok, encoded = cv2.imencode(suffix, pixels)
    assert ok, f"OpenCV cannot encode {suffix}"
    return encoded.tobytes()


def noisy_jpeg(at_least: int) -> bytes:
    """A JPEG of noise (it compresses badly) of at least ``at_least`` bytes, with nothing a
    metadata strip removes: OpenCV writes a JFIF header without a thumbnail, and no more."""
    side = 64
    while True:
        pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        if len(encoded) >= at_least:
            return bytes(encoded.tobytes())
        side *= 2


# What an older kiosk kept in a face photo: a camera's owner and serial, a place.
CAMERA_SECRET = b"owner: Ada Lovelace, serial SN-4417, GPS 51.5N 0.12W"


def photo_with_metadata(seed: int, orientation: int = 6) -> bytes:
    """``photo_bytes(seed)`` as a phone writes it: an EXIF record holding an orientation and
    ``CAMERA_SECRET``, an XMP packet and a comment, all before the pixels."""
    plain = photo_bytes(seed)
    entries = struct.pack(">HHIH2x", 0x0112, 3, 1, orientation)
    entries += struct.pack(">HHII", 0x010E, 2, len(CAMERA_SECRET), 8 + 2 + 24 + 4)
    exif = b"MM\0*" + struct.pack(">IH", 8, 2) + entries + b"\0\0\0\0" + CAMERA_SECRET
    metadata = (
        _segment(0xE1, b"Exif\0\0" + exif)
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + CAMERA_SECRET)
        + _segment(0xFE, CAMERA_SECRET)
    )
    return plain[:2] + metadata + plain[2:]


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body
