"""A photo's size in pixels, read from its header without decoding it.

OpenCV learns an image's size only by decoding all of it, and a small file can declare a
huge one: a 1 MB PNG of 16000 x 16000 pixels decodes to 768 MB of RGB. Reading the few
bytes that declare the size first lets ``image_file.decode_bgr`` refuse such a photo before
any pixel is allocated. The formats are the ones a catch photo may be (JPEG, PNG, WebP);
others are left to OpenCV's own pixel limit.

A small file can also declare a long decode: a progressive JPEG is sent in scans, and
libjpeg decodes every scan over the whole image, only warning when one repeats another
("Inconsistent progression sequence"). :func:`jpeg_scan_count` counts them, so that such a
file is refused before it is decoded too.

:func:`may_be_transparent` tells from the header whether an image may have an alpha channel,
so that only such an image is decoded with it (``image_alpha``); :func:`decoded_bytes`, how
much memory that decode takes: a 16-bit RGBA PNG is 8 bytes a pixel, under a pixel limit
meant for 3, so the limit on a decode is a budget of bytes, not of pixels.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the size.
# C4, C8 and CC, in the same range, are other segments.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOS = 0xDA  # start of scan: the compressed data follows
_EOI = 0xD9  # end of image: libjpeg reads no further (a phone's second picture may follow)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length
# A marker with a length, or the end of the image: FF then anything but a stuffed 00, a
# standalone marker or another FF (a fill byte, the marker follows it).
_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")


# Enough of a file's start for ``starts_as_photo`` to tell.
PHOTO_START_BYTES = 12


def starts_as_photo(data: bytes) -> bool:
    """Whether ``data`` (a file's first ``PHOTO_START_BYTES``) starts as a JPEG, a PNG or a
    WebP: the formats whose header this module reads."""
    return data.startswith((_PNG, _JPEG)) or _is_webp(data)


def _is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as the header declares them; None for another format, or for a
    header cut short or malformed (the decoder then says what is wrong with the file)."""
    if data.startswith(_PNG):
        return _png(data)
    if data.startswith(_JPEG):
        return _jpeg(data)
    if _is_webp(data):
        return _webp(data)
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    # length (4), "IHDR", width (4), height (4), five more bytes, then the chunk's CRC: a
    # header that fails its CRC is a damaged file, not a size to believe
    if _big(data, 8, 4) != 13 or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    if zlib.crc32(data[12:29]) != _big(data, 29, 4):
        return None
    return _big(data, 16, 4), _big(data, 20, 4)


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """A JPEG's header segments, ``(marker, body)``, up to its compressed data; a segment
    cut short ends them (the decoder says what is wrong).

    Bytes out of place between segments are skipped, as libjpeg skips them (with only a
    warning, "extraneous bytes before marker", and decodes on): a walker that stopped there
    would miss the frame header that the decoder then obeys, and a 700-byte file could
    declare gigapixels past the size check.
    """
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:  # extraneous: on to the next 0xFF
            found = data.find(b"\xff", at)
            if found < 0:
                return
            at = found
            continue
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker
            at += 1
        elif marker == 0x00 or marker in _STANDALONE:  # FF00 is no marker: skipped too
            at += 2
        elif marker == _SOS:
            return
        else:
            length = _big(data, at + 2, 2)
            if length < 2:  # libjpeg reads such a length as an empty segment, and goes on
                yield marker, b""
                at += 4
                continue
            body = data[at + 4 : at + 2 + length]
            if len(body) != length - 2:
                return
            yield marker, body
            at += 2 + length


def jpeg_scan_count(data: bytes, stop_after: int) -> int:
    """How many scans (start-of-scan segments) libjpeg would decode in ``data``, a JPEG,
    counting no further than ``stop_after + 1``.

    The file is walked marker by marker as libjpeg reads it, not searched for the bytes
    FF DA: a segment's body (an EXIF thumbnail is a whole JPEG, scans and all) is skipped
    by its length, and so is anything after the end-of-image marker (the second picture of
    a phone's MPO file). In compressed data a 0xFF byte is always followed by 00 (a stuffed
    FF), a restart marker (D0-D7) or another FF, so any other byte there is a real marker.
    """
    count, at = 0, 2
    while count <= stop_after and (found := _MARKER.search(data, at)) is not None:
        at = found.start()
        if data[at + 1] == _EOI:
            break
        count += data[at + 1] == _SOS
        at += 2 + max(_big(data, at + 2, 2), 2)  # below two: libjpeg's empty segment
    return count


def _jpeg(data: bytes) -> tuple[int, int] | None:
    for marker, body in jpeg_segments(data):
        if marker in _SOF:  # precision (1), height (2), width (2)
            return (_big(body, 3, 2), _big(body, 1, 2)) if len(body) >= 5 else None
    return None  # image data with no frame header before it


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


def may_be_transparent(data: bytes) -> bool:
    """Whether the image may have transparent pixels, as its header says: a PNG with an
    alpha channel (RGBA, grey and alpha) or a tRNS chunk (a palette or a colour made
    transparent), a WebP that says it has alpha, and any format this module does not read
    (a TIFF or a BMP may have alpha too). Never a JPEG, which has no alpha."""
    if data.startswith(_JPEG):
        return False
    if data.startswith(_PNG):
        return _png_colour_type(data) in _PNG_ALPHA or _png_has_chunk_before_pixels(data, b"tRNS")
    if _is_webp(data):
        return _webp_has_alpha(data)
    return True


def decoded_bytes(data: bytes) -> int | None:
    """The bytes the decoded image takes, as :func:`decoded_layout` says this app decodes
    it: width x height x channels x bytes per sample; None where the size cannot be read."""
    size = pixel_size(data)
    if size is None:
        return None
    channels, sample_bytes = decoded_layout(data)
    return size[0] * size[1] * channels * sample_bytes


def decoded_layout(data: bytes) -> tuple[int, int]:
    """``(channels, bytes per sample)`` of ``data`` as this app decodes it. An image that
    may be transparent (:func:`may_be_transparent`: a PNG or WebP) is decoded first with its
    channels and depth as the file declares them (OpenCV's ``IMREAD_UNCHANGED``, to
    composite its alpha onto white): a 16-bit RGBA PNG is 8 bytes a pixel there. Any other
    goes through OpenCV's colour decode, 8-bit BGR whatever the file's depth (measured: a
    16-bit RGB PNG decodes in the memory of an 8-bit one)."""
    if data.startswith(_PNG) and may_be_transparent(data):
        return _png_unchanged_layout(data)
    if _is_webp(data) and _webp_has_alpha(data):
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


def png_cut_short(data: bytes) -> bool:
    """Whether ``data`` is a PNG that ends before its IEND chunk: a copy cut short (a card
    pulled out, a transfer stopped). libpng, asked to decode one, prints its own line on
    stderr (``libpng error: PNG input buffer is incomplete``), which no log level quiets, so
    such a file is refused before it is decoded."""
    if not data.startswith(_PNG):
        return False
    at = len(_PNG)
    while at + 12 <= len(data):  # length, type, data, CRC
        end = at + 12 + _big(data, at, 4)
        if data[at + 4 : at + 8] == b"IEND":
            return end > len(data)
        at = end
    return True


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
