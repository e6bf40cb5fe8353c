"""A photo without its metadata keeps its compressed pixels byte for byte, its orientation
and its colour information, and loses everything else a camera or an editor wrote."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from inference.fish.images import decode_image
from inference.image_alpha import exif_orientation
from inference.image_header import jpeg_segments
from sync.errors import UnreadablePhotoError
from sync.photo_metadata import exif_orientation as sync_exif_orientation
from sync.photo_metadata import orientation_only_exif, strip_metadata

SECRET = b"owner: Ada Lovelace, serial SN-4417"


def picture() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)


def encoded(suffix: str, *params: int) -> bytes:
    ok, data = cv2.imencode(suffix, picture(), list(params))
    assert ok
    return bytes(data.tobytes())


def segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def exif(orientation: int) -> bytes:
    """An EXIF record with an orientation and the secret (ImageDescription)."""
    entries = struct.pack(">HHIH2x", 0x0112, 3, 1, orientation)
    entries += struct.pack(">HHII", 0x010E, 2, len(SECRET), 8 + 2 + 24 + 4)
    return b"MM\0*" + struct.pack(">IH", 8, 2) + entries + b"\0\0\0\0" + SECRET


def jpeg_with_everything(orientation: int) -> bytes:
    data = encoded(".jpg")
    assert data[2:4] == b"\xff\xe0"  # OpenCV writes a JFIF header first: given a thumbnail
    jfif_end = 4 + struct.unpack(">H", data[4:6])[0]
    jfif = segment(0xE0, data[6:18] + b"\x01\x01" + b"\x80\x80\x80")  # a 1x1 thumbnail
    metadata = b"".join([
        segment(0xE1, b"Exif\0\0" + exif(orientation)),
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + SECRET),
        segment(0xE2, b"MPF\0" + SECRET),
        segment(0xED, b"Photoshop 3.0\0" + SECRET),
        segment(0xFE, SECRET),
        segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
    ])  # fmt: skip
    return data[:2] + jfif + metadata + data[jfif_end:] + b"second picture: " + SECRET


def test_a_jpeg_keeps_its_pixels_orientation_and_adobe_segment_only() -> None:
    data = jpeg_with_everything(orientation=8)
    stripped = strip_metadata(data, "a.jpg")
    assert SECRET not in stripped and b"MPF" not in stripped and b"http://ns.adobe" not in stripped
    markers = [marker for marker, _ in jpeg_segments(stripped)]
    assert 0xEE in markers and 0xED not in markers and 0xFE not in markers
    bodies = dict(jpeg_segments(stripped))
    assert exif_orientation(bodies[0xE1][6:]) == 8 and bodies[0xE0][12:14] == b"\0\0"
    assert stripped.endswith(data[data.index(b"\xff\xda") : data.index(b"second picture")])
    before, after = decode_image(data, "a"), decode_image(stripped, "b")
    assert after.shape == (40, 24, 3) and np.array_equal(before, after)


def test_an_upright_jpeg_keeps_no_exif_at_all() -> None:
    data = jpeg_with_everything(orientation=1)
    stripped = strip_metadata(data, "a.jpg")
    assert 0xE1 not in [marker for marker, _ in jpeg_segments(stripped)]
    assert np.array_equal(decode_image(data, "a"), decode_image(stripped, "b"))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_png_loses_text_time_and_private_chunks_and_keeps_its_orientation() -> None:
    data = encoded(".png")
    pixels_at = data.index(b"IDAT") - 4
    extra = b"".join([
        png_chunk(b"tEXt", b"Author\0" + SECRET),
        png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(SECRET)),
        png_chunk(b"iTXt", b"Title\0\0\0\0\0" + SECRET),
        png_chunk(b"tIME", b"\x07\xea\x0c\x02\x12\x00\x00"),
        png_chunk(b"prVt", SECRET),
        png_chunk(b"eXIf", exif(6)),
        png_chunk(b"pHYs", b"\0\0\x0b\x13\0\0\x0b\x13\x01"),
    ])  # fmt: skip
    given = data[:pixels_at] + extra + data[pixels_at:] + SECRET
    stripped = strip_metadata(given, "a.png")
    for kind in (b"tEXt", b"zTXt", b"iTXt", b"tIME", b"prVt"):
        assert kind not in stripped
    assert SECRET not in stripped and zlib.compress(SECRET) not in stripped
    assert png_chunk(b"eXIf", orientation_only_exif(6)) in stripped and b"pHYs" in stripped
    before, after = decode_image(given, "a"), decode_image(stripped, "b")
    assert after.shape == (40, 24, 3) and np.array_equal(before, after)


def webp_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def test_a_webp_loses_exif_and_xmp_with_their_flags_and_size() -> None:
    simple = encoded(".webp", cv2.IMWRITE_WEBP_QUALITY, 101)  # lossless: VP8L
    assert simple[12:16] == b"VP8L"
    height, width = picture().shape[:2]
    vp8x = struct.pack("<B3x", 0x08 | 0x04) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = b"WEBP" + webp_chunk(b"VP8X", vp8x) + simple[12:]
    body += webp_chunk(b"EXIF", exif(1)) + webp_chunk(b"XMP ", SECRET)
    given = b"RIFF" + struct.pack("<I", len(body)) + body
    stripped = strip_metadata(given, "a.webp")
    assert SECRET not in stripped and b"EXIF" not in stripped and b"XMP " not in stripped
    assert struct.unpack("<I", stripped[4:8])[0] == len(stripped) - 8
    assert stripped[20] & (0x08 | 0x04) == 0  # the VP8X flags say no EXIF, no XMP
    assert np.array_equal(decode_image(given, "a"), decode_image(stripped, "b"))


def test_a_webp_keeps_an_orientation_other_than_upright() -> None:
    simple = encoded(".webp", cv2.IMWRITE_WEBP_QUALITY, 101)
    height, width = picture().shape[:2]
    vp8x = struct.pack("<B3x", 0x08) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = b"WEBP" + webp_chunk(b"VP8X", vp8x) + simple[12:] + webp_chunk(b"EXIF", exif(3))
    given = b"RIFF" + struct.pack("<I", len(body)) + body
    stripped = strip_metadata(given, "a.webp")
    assert webp_chunk(b"EXIF", orientation_only_exif(3)) in stripped and SECRET not in stripped
    assert stripped[20] & 0x08
    assert np.array_equal(decode_image(given, "a"), decode_image(stripped, "b"))


@pytest.mark.parametrize("data", [b"GIF89a....", b"\xff\xd8\xff\xe1\x00\x40Exif"])
def test_what_cannot_be_walked_is_refused(data: bytes) -> None:
    with pytest.raises(UnreadablePhotoError, match=r"^a(: its metadata cannot| is not a JPEG)"):
        strip_metadata(data, "a")


@pytest.mark.parametrize("orientation", [0, 1, 3, 6, 8, 9])
@pytest.mark.parametrize("order", ["big", "little", "cut"])
def test_the_orientation_is_read_as_the_device_decoder_reads_it(
    orientation: int, order: str
) -> None:
    record = exif(orientation)
    if order == "little":  # the same record, Intel byte order
        entry = struct.pack("<HHIH2x", 0x0112, 3, 1, orientation)
        record = b"II*\0" + struct.pack("<IH", 8, 1) + entry + b"\0\0\0\0"
    elif order == "cut":
        record = record[:17]
    assert sync_exif_orientation(record) == exif_orientation(record)
