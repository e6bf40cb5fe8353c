"""A photo keeps its ICC colour profile without the profile's free text (a calibrated
profile's description may name its owner or a serial number): the same colours, the same
tag table, every character of its text tags a space (``sync.icc_text``)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from sync.icc_text import profile_without_text
from sync.photo_metadata import strip_metadata
from tests.sync.images import photo_bytes

NAME = "SN-4417 Ada L"  # as long as lcms's "sRGB built-in"


def profile_naming_its_owner() -> bytes:
    """LittleCMS's sRGB profile, its description (UTF-16, mluc) rewritten in place to
    ``NAME``, and given a profile ID, as a calibration tool writes one."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    at = bytes(data).index("sRGB built-in".encode("utf-16-be"))
    data[at : at + 2 * len(NAME)] = NAME.encode("utf-16-be")
    data[84:100] = b"\x01" * 16  # recomputed when the text is blanked
    return bytes(data)


def test_the_profile_keeps_its_colours_and_loses_its_text() -> None:
    profile = profile_naming_its_owner()
    blanked = profile_without_text(profile)
    assert blanked is not None and len(blanked) == len(profile)
    assert NAME.encode("utf-16-be") not in blanked
    assert "No copyright".encode("utf-16-be") not in blanked  # every text tag
    described = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(blanked)))
    assert described.strip() == "", described
    pixels = Image.fromarray(np.random.default_rng(3).integers(0, 256, (8, 8, 3), np.uint8))
    to_lab = [ImageCms.ImageCmsProfile(io.BytesIO(p)) for p in (profile, blanked)]
    lab = ImageCms.createProfile("LAB")
    converted = [
        ImageCms.profileToProfile(pixels, source, lab, outputMode="LAB") for source in to_lab
    ]
    assert np.array_equal(np.asarray(converted[0]), np.asarray(converted[1]))
    assert profile_without_text(blanked) == blanked  # blanking what is blank changes nothing
    assert blanked[84:100] != b"\x01" * 16


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _jpeg_with_icc(profile: bytes, pieces: int) -> bytes:
    jpeg = photo_bytes(1)
    step = -(-len(profile) // pieces)
    segments = b""
    for number, start in enumerate(range(0, len(profile), step), 1):
        body = b"ICC_PROFILE\0" + bytes((number, pieces)) + profile[start : start + step]
        segments += b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segments + jpeg[2:]


@pytest.mark.parametrize("pieces", [1, 3])
def test_a_jpegs_profile_in_one_segment_or_several_loses_its_text(pieces: int) -> None:
    profile = profile_naming_its_owner()
    stripped = strip_metadata(_jpeg_with_icc(profile, pieces), "a.jpg")
    assert NAME.encode("utf-16-be") not in stripped, "the ICC description kept its owner's name"
    kept = Image.open(io.BytesIO(stripped)).info["icc_profile"]
    assert kept == profile_without_text(profile)
    assert strip_metadata(stripped, "again") == stripped


def test_a_pngs_profile_loses_its_text_and_its_name() -> None:
    profile = profile_naming_its_owner()
    png = photo_bytes(1, ".png")
    iccp = _png_chunk(b"iCCP", b"Ada's calibrated screen\0\0" + zlib.compress(profile))
    stripped = strip_metadata(png[:33] + iccp + png[33:], "a.png")
    assert b"Ada" not in stripped and NAME.encode("utf-16-be") not in stripped
    assert Image.open(io.BytesIO(stripped)).info["icc_profile"] == profile_without_text(profile)
    assert strip_metadata(stripped, "again") == stripped


def test_a_webps_profile_loses_its_text() -> None:
    profile = profile_naming_its_owner()
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8))
    out = io.BytesIO()
    image.save(out, "WEBP", icc_profile=profile, lossless=True)
    stripped = strip_metadata(out.getvalue(), "a.webp")
    assert NAME.encode("utf-16-be") not in stripped
    assert Image.open(io.BytesIO(stripped)).info["icc_profile"] == profile_without_text(profile)


def test_a_profile_that_cannot_be_walked_is_dropped_not_kept() -> None:
    garbage = b"\0\0\0\x40" + b"x" * 60  # no 'acsp', a size that lies
    stripped = strip_metadata(_jpeg_with_icc(garbage, 1), "a.jpg")
    assert b"ICC_PROFILE" not in stripped
