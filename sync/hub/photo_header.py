"""A stored photo's size in pixels and its JPEG scans, read from its bytes without decoding.

The hub decodes a photo only to make its thumbnail (``sync.hub.thumbnails``), and a device
may store any bytes under a photo's sha256: a few kB can declare gigapixels (a PNG of zeros)
or thousands of progressive scans, each decoded over the whole image. Reading the header
first lets the hub refuse such a photo before any pixel is allocated, tells which photo
may be transparent, to be composited onto white (``sync.hub.photo_alpha``), and how many
bytes its decode takes (``decoded_bytes``: a 16-bit RGBA PNG is 8 a pixel).

This is the device's reader (``inference.image_header``), cut to what the hub needs and
kept in step with it by hand: ``sync`` and ``inference`` never import each other. Like it,
it walks a JPEG's markers as libjpeg does, skipping bytes out of place, so a frame header
libjpeg would obey is never missed.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOS, _EOI = 0xDA, 0xD9  # start of scan (compressed data follows), end of image
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length
# A marker with a length, or the end of the image, in a JPEG's compressed data.
_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as a JPEG's, PNG's or WebP's header declares them; None for
    another format, or a header cut short or malformed."""
    if data.startswith(PNG):
        return _png(data)
    if data.startswith(JPEG):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return None


def may_be_transparent(data: bytes) -> bool:
    """Whether the image may have transparent pixels, as its header says: a PNG with an
    alpha channel (RGBA, grey and alpha) or a tRNS chunk (a palette or a colour made
    transparent), or a WebP that says it has alpha. Never a JPEG, which has no alpha."""
    if data.startswith(PNG):
        return _png_colour_type(data) in _PNG_ALPHA or _png_has_chunk_before_pixels(data, b"tRNS")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_has_alpha(data)
    return False


def decoded_bytes(data: bytes) -> int | None:
    """The bytes the decoded image takes, as :func:`decoded_layout` says this app decodes
    it: width x height x channels x bytes per sample; None where the size cannot be read."""
    size = pixel_size(data)
    if size is None:
        return None
    channels, sample_bytes = decoded_layout(data)
    return size[0] * size[1] * channels * sample_bytes


def decoded_layout(data: bytes) -> tuple[int, int]:
    """``(channels, bytes per sample)`` of ``data`` as the hub decodes it. An image that
    may be transparent (:func:`may_be_transparent`) is decoded first with its
    channels and depth as the file declares them (OpenCV's ``IMREAD_UNCHANGED``, to
    composite its alpha onto white): a 16-bit RGBA PNG is 8 bytes a pixel there. Any other
    goes through OpenCV's colour decode, 8-bit BGR whatever the file's depth (measured: a
    16-bit RGB PNG decodes in the memory of an 8-bit one)."""
    if data.startswith(PNG) and may_be_transparent(data):
        return _png_unchanged_layout(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and _webp_has_alpha(data):
        return 4, 1  # WebP has 8 bits a sample, and BGRA is decoded
    return 3, 1


def _png_unchanged_layout(data: bytes) -> tuple[int, int]:
    """OpenCV's ``IMREAD_UNCHANGED`` decode of a PNG with alpha or tRNS: a palette becomes
    8-bit BGRA, RGB or grey with alpha BGRA, 16 bits a sample staying 16. Grey with tRNS
    stays one grey channel, no alpha: the colour decode that follows is the larger."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return 3, 1
    sample_bytes = 2 if data[24] == 16 else 1
    colour_type = data[25]
    if colour_type == 0:
        return 3, 1
    if colour_type == 3:
        return 4, 1
    return 4, sample_bytes


def jpeg_scan_count(data: bytes, stop_after: int) -> int:
    """How many scans libjpeg would decode in ``data``, a JPEG, counting no further than
    ``stop_after + 1``: marker by marker, each segment skipped by its length (an EXIF
    thumbnail is a whole JPEG), nothing after the end of the image."""
    count, at = 0, 2
    while count <= stop_after and (found := _MARKER.search(data, at)) is not None:
        at = found.start()
        if data[at + 1] == _EOI:
            break
        count += data[at + 1] == _SOS
        at += 2 + max(_big(data, at + 2, 2), 2)
    return count


def _png(data: bytes) -> tuple[int, int] | None:
    # length, "IHDR", width, height, five more bytes, the chunk's CRC (a damaged header
    # is no size to believe)
    if _big(data, 8, 4) != 13 or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    if zlib.crc32(data[12:29]) != _big(data, 29, 4):
        return None
    return _big(data, 16, 4), _big(data, 20, 4)


# PNG colour types 4 (grey and alpha) and 6 (RGB and alpha)
_PNG_ALPHA = frozenset({4, 6})


def _png_colour_type(data: bytes) -> int | None:
    # IHDR's data: width (4), height (4), bit depth (1), colour type (1), ...
    return data[25] if len(data) > 25 and data[12:16] == b"IHDR" else None


def _png_has_chunk_before_pixels(data: bytes, wanted: bytes) -> bool:
    at = 8
    while at + 8 <= len(data):
        kind = data[at + 4 : at + 8]
        if kind == wanted:
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        at += 12 + _big(data, at, 4)  # length, type, data, CRC
    return False


def _jpeg(data: bytes) -> tuple[int, int] | None:
    for marker, body in _jpeg_segments(data):
        if marker in _SOF:  # precision (1), height (2), width (2)
            return (_big(body, 3, 2), _big(body, 1, 2)) if len(body) >= 5 else None
    return None


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """A JPEG's header segments up to its compressed data, as libjpeg reads them."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:  # out of place: libjpeg skips to the next 0xFF
            at = data.find(b"\xff", at)
            if at < 0:
                return
            continue
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte
            at += 1
        elif marker == 0x00 or marker in _STANDALONE:
            at += 2
        elif marker == _SOS:
            return
        else:
            length = _big(data, at + 2, 2)
            body = data[at + 4 : at + 2 + max(length, 2)]
            if len(body) != max(length, 2) - 2:
                return
            yield marker, body
            at += 2 + max(length, 2)


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return _little(data, 26, 2) & 0x3FFF, _little(data, 28, 2) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _little(data, 21, 4)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return _little(data, 24, 3) + 1, _little(data, 27, 3) + 1
    return None


def _webp_has_alpha(data: bytes) -> bool:
    chunk = data[12:16]
    if chunk == b"VP8X":  # flags: ICC, alpha (0x10), EXIF, XMP, animation
        return len(data) > 20 and bool(data[20] & 0x10)
    if chunk == b"VP8L":  # 14 bits of width - 1, 14 of height - 1, then alpha_is_used
        return len(data) >= 25 and bool(_little(data, 21, 4) >> 28 & 1)
    return False  # a simple lossy WebP (VP8) has no alpha


def _big(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "big")


def _little(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")
