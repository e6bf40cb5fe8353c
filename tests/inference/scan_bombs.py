"""Real progressive JPEGs in many scans, for the tests of the image reader's scan limits."""

from __future__ import annotations

import struct

import cv2
import numpy as np


def scans_of(jpeg: bytes) -> list[bytes]:
    """A JPEG cut into its parts: each header segment, and each scan with its compressed
    data (a scan's data runs to the next marker that is not a stuffed FF or a restart)."""
    parts, at = [jpeg[:2]], 2
    while jpeg[at + 1] != 0xD9:
        end = at + 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
        while (
            jpeg[at + 1] == 0xDA
            and jpeg[end + 1 : end + 2] != b""
            and (jpeg[end] != 0xFF or jpeg[end + 1] == 0 or 0xD0 <= jpeg[end + 1] <= 0xD7)
        ):
            end += 1 if jpeg[end] != 0xFF else 2
        parts.append(jpeg[at:end])
        at = end
    return [*parts, jpeg[at:]]


def scan_bomb(side: int, scans: int) -> bytes:
    """A real progressive JPEG of ``side`` x ``side`` px in ``scans`` scans: its last scan
    (with the Huffman table before it) repeated, which libjpeg decodes, warning only
    ("Inconsistent progression sequence"), over the whole image each time."""
    grey = np.full((side, side, 3), 128, np.uint8)
    ok, encoded = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    parts = scans_of(encoded.tobytes())
    last = max(i for i, part in enumerate(parts) if part[:2] == b"\xff\xda")
    repeated = parts[last - 1] + parts[last] if parts[last - 1][:2] == b"\xff\xc4" else parts[last]
    have = sum(part[:2] == b"\xff\xda" for part in parts)
    return b"".join(parts[:-1]) + repeated * (scans - have) + parts[-1]
