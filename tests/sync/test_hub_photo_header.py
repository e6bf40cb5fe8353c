"""The hub's photo header reader (``sync.hub.photo_header``) is the device's
(``inference.image_header``) cut down, kept in step by hand since the two packages never
import each other: on the same bytes, the two must read the same size and count the same
scans, or a bomb the device refuses would reach the hub's decoder."""

from __future__ import annotations

import random
import struct

import cv2
import numpy as np
import pytest

from inference import image_header as device
from sync.hub import photo_header as hub
from tests.inference.test_decode_budget import png_declaring


def _encoded(extension: str, *params: int, channels: int = 3) -> bytes:
    image = np.random.default_rng(7).integers(0, 255, (37, 53, channels), dtype=np.uint8)
    ok, encoded = cv2.imencode(extension, image, list(params))
    assert ok
    return encoded.tobytes()


PHOTOS = {
    "jpeg": _encoded(".jpg"),
    "progressive": _encoded(".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "png": _encoded(".png"),
    "webp-lossy": _encoded(".webp", cv2.IMWRITE_WEBP_QUALITY, 80),
    "webp-lossless": _encoded(".webp", cv2.IMWRITE_WEBP_QUALITY, 101),
    "png-alpha": _encoded(".png", channels=4),
    "webp-alpha": _encoded(".webp", cv2.IMWRITE_WEBP_QUALITY, 101, channels=4),
    # a frame header behind bytes out of place, which libjpeg skips
    "jpeg-junk": b"\xff\xd8\x00junk\xff\xc0\x00\x0b\x08\xea\x60\xea\x60\x01\x01\x11\x00\xff\xd9",
    # a segment whose length is below two, which libjpeg reads as empty
    "jpeg-short": b"\xff\xd8\xff\xe0\x00\x00\xff\xc0\x00\x0b\x08\x01\x00\x02\x00\x01\x01\x11\x00",
}


def _variants(data: bytes) -> list[bytes]:
    """``data``, every prefix of its first 64 bytes, and some copies with a byte changed."""
    shuffled = random.Random(len(data))
    changed = []
    for _ in range(50):
        at = shuffled.randrange(min(len(data), 200))
        changed.append(data[:at] + struct.pack("B", shuffled.randrange(256)) + data[at + 1 :])
    return [data, *(data[:n] for n in range(64)), *changed]


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_the_hub_reads_a_photos_header_as_the_device_does(name: str) -> None:
    for data in _variants(PHOTOS[name]):
        assert hub.pixel_size(data) == device.pixel_size(data), data[:40]
        if data.startswith(hub.JPEG):
            assert hub.jpeg_scan_count(data, 64) == device.jpeg_scan_count(data, 64), data[:40]
        if hub.pixel_size(data) is not None:  # a format both read (the device suspects others)
            assert hub.may_be_transparent(data) == device.may_be_transparent(data), data[:40]


def test_the_known_sizes_are_read() -> None:
    assert hub.pixel_size(PHOTOS["jpeg"]) == (53, 37)
    assert hub.pixel_size(PHOTOS["png"]) == (53, 37)
    assert hub.pixel_size(PHOTOS["webp-lossy"]) == (53, 37)
    assert hub.pixel_size(PHOTOS["jpeg-junk"]) == (60000, 60000)
    assert hub.jpeg_scan_count(PHOTOS["progressive"], 64) > 1
    assert hub.may_be_transparent(PHOTOS["png-alpha"])
    assert hub.may_be_transparent(PHOTOS["webp-alpha"])
    assert not hub.may_be_transparent(PHOTOS["png"])
    assert not hub.may_be_transparent(PHOTOS["webp-lossless"])


# Every PNG layout a decode budget tells apart: colour type, depth, a tRNS chunk or none.
PNG_LAYOUTS = [
    png_declaring(640, 480, depth, colour_type, trns=trns)
    for colour_type, depths in ((0, (8, 16)), (2, (8, 16)), (3, (8,)), (4, (8, 16)), (6, (8, 16)))
    for depth in depths
    for trns in ((False, True) if colour_type in (0, 2, 3) else (False,))
]


@pytest.mark.parametrize("data", [*PHOTOS.values(), *PNG_LAYOUTS])
def test_the_hub_counts_a_decodes_bytes_as_the_device_does(data: bytes) -> None:
    """The hub's thumbnail budget (``MAX_FULL_DECODE_BYTES``) and the device's photo budget
    (``MAX_DECODED_BYTES``) are in bytes read from the header: the same bytes on both."""
    for variant in _variants(data):
        assert hub.decoded_bytes(variant) == device.decoded_bytes(variant), variant[:40]
        if hub.pixel_size(variant) is not None:
            assert hub.decoded_layout(variant) == device.decoded_layout(variant), variant[:40]
