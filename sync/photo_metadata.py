"""A photo's bytes without what the camera said about the person: pixels and orientation only.

A phone's photo carries far more than its picture: where it was taken (GPS), when, the
camera's and its owner's names and serial numbers, maker notes, XMP edit history and embedded
thumbnails, which may show the picture before it was cropped. An enrolment photo needs only
its pixels and which way up they are shown. :func:`strip_metadata` rewrites a JPEG, PNG or
WebP file without the rest, copying the compressed pixels byte for byte (no re-encoding, so
no generation loss and the same pixels decoded), and keeping what decoding needs:

- JPEG: every non-metadata segment (tables, frame, scans), APP0 JFIF without its thumbnail,
  APP2 ICC profile (its text blanked, below) and APP14 Adobe (its transform flag says how
  the colours are coded); APP1 (EXIF, XMP), APP13 (IPTC, Photoshop), COM, every other APPn
  and anything after the end of the image (a phone's second picture, a motion photo's
  video) are dropped.
- PNG: the critical chunks and the ancillary ones that say how the pixels look (colour
  space, gamma, transparency, pixel density, animation); text, EXIF, time and unknown
  private chunks are dropped, and anything after IEND.
- WebP: the image, alpha, ICC and animation chunks; EXIF, XMP and unknown chunks are
  dropped, the VP8X flags and the RIFF size are rewritten to match.

The ICC profile (a JPEG's, PNG's or WebP's) is kept for its colours, which a wide-gamut phone
photo needs, without its free text (a calibrated profile's description may name its owner or
a serial number): each character of it a space, in place (``sync.icc_text``); a PNG's name for
it becomes "ICC Profile". A profile that cannot be walked is dropped with its text.

Orientation is kept by writing back an EXIF record holding the Orientation tag alone, where
the photo had one other than upright; applying it instead would mean re-encoding a JPEG,
losing quality for nothing. Viewers and OpenCV's decoder read it as before.

The rule lives in ``sync`` because both sides of a sync apply it: the kiosk to a new
enrolment photo (``desktop.kiosk.enrol``), the store to a face photo an older kiosk kept
whole (``sync.store.face_photo_metadata``), and the hub to a face photo an older device
uploads (``sync.hub.uploads``) and, once, to those an older hub kept whole
(``sync.hub.face_photo_upgrade``). One rule, so a photo stripped on either side has the same
bytes, and so the same sha256, on both.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from typing import Literal

from sync.errors import UnreadablePhotoError
from sync.icc_text import profile_without_text

_JPEG, _PNG = b"\xff\xd8", b"\x89PNG\r\n\x1a\n"
_SOS, _EOI, _APP0, _APP1, _APP2, _APP14, _APP15, _COM = (
    0xDA, 0xD9, 0xE0, 0xE1, 0xE2, 0xEE, 0xEF, 0xFE)  # fmt: skip
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length
# In compressed data a 0xFF is followed by 00 (stuffed), a restart marker or a fill 0xFF;
# anything else is the marker that ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_EXIF_HEADER = b"Exif\x00\x00"
_JFIF_HEADER = b"JFIF\x00"
_JFIF_NO_THUMBNAIL = 12  # identifier, version, units, densities: the thumbnail follows
_ICC_HEADER = b"ICC_PROFILE\x00"
_ADOBE_HEADER = b"Adobe"

# Ancillary PNG chunks that change how the pixels look or move; the rest say something else.
_PNG_KEPT = frozenset({
    b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"bKGD",
    b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
})  # fmt: skip
_WEBP_KEPT = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"})
_VP8X_ICC, _VP8X_EXIF, _VP8X_XMP = 0x20, 0x08, 0x04
# A PNG's ICC profile is named: a plain name in place of whatever its writer called it.
_ICC_NAME = b"ICC Profile"
# The most an ICC profile is inflated to (the largest, with big lookup tables, are a few MB):
# a zlib bomb in an iCCP chunk stops there, and the chunk is dropped.
_MAX_ICC_BYTES = 16 << 20

_ORIENTATION_TAG, _SHORT = 0x0112, 3


def exif_orientation(exif: bytes) -> int:
    """The orientation (1-8) an EXIF record (a TIFF header and its first directory) gives;
    1, upright, where it gives none or cannot be read (``inference.image_alpha``'s rule)."""
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
        if number(at, 2) == _ORIENTATION_TAG:
            value = number(at + 8, 2)  # a SHORT, at the start of the value field
            return value if 1 <= value <= 8 else 1
    return 1


def strip_metadata(data: bytes, name: str) -> bytes:
    """``data`` (a JPEG, PNG or WebP file) without its metadata, as the module says;
    :class:`UnreadablePhotoError` for another format or a file whose structure cannot be
    walked. Stripping what is already stripped changes nothing."""
    if data.startswith(_JPEG):
        return _strip_jpeg(data, name)
    if data.startswith(_PNG):
        return _strip_png(data, name)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _strip_webp(data, name)
    raise UnreadablePhotoError(f"{name} is not a JPEG, PNG or WebP photo")


def orientation_only_exif(orientation: int) -> bytes:
    """An EXIF record (TIFF header, one directory) holding the Orientation tag alone."""
    entry = struct.pack(">HHIH2x", _ORIENTATION_TAG, _SHORT, 1, orientation)
    return b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + entry + b"\x00\x00\x00\x00"


def _unreadable(name: str, why: str) -> UnreadablePhotoError:
    return UnreadablePhotoError(
        f"{name}: its metadata cannot be removed ({why}); save it again as a plain JPEG, PNG"
        " or WebP"
    )


# --- JPEG ---------------------------------------------------------------------------------


def _strip_jpeg(data: bytes, name: str) -> bytes:
    out = [_JPEG]
    exif_seen = False
    for marker, segment in _jpeg_segments(data, name):
        if marker == _APP1 and segment[4:].startswith(_EXIF_HEADER) and not exif_seen:
            exif_seen = True  # the decoder obeys the first EXIF record's orientation
            orientation = exif_orientation(segment[4 + len(_EXIF_HEADER) :])
            if orientation != 1:
                out.append(_jpeg_segment(_APP1, _EXIF_HEADER + orientation_only_exif(orientation)))
        elif (kept := _kept_jpeg_segment(marker, segment)) is not None:
            out.append(kept)
    return b"".join(_icc_blanked_jpeg(out))


def _icc_blanked_jpeg(segments: list[bytes]) -> list[bytes]:
    """``segments`` with the ICC profile (split over APP2 segments, numbered) blanked of its
    text (``sync.icc_text``), each piece as long as before; without it where it cannot be
    walked (pieces missing, numbered wrong, a profile that does not parse)."""
    icc = [at for at, seg in enumerate(segments) if seg[1] == _APP2 and seg[4:16] == _ICC_HEADER]
    if not icc:
        return segments
    pieces = sorted(icc, key=lambda at: segments[at][16])  # the piece's number, from 1
    numbers = [segments[at][16] for at in pieces]
    whole = b"".join(segments[at][18:] for at in pieces)
    blanked = profile_without_text(whole) if numbers == list(range(1, len(icc) + 1)) else None
    if blanked is None:
        return [seg for at, seg in enumerate(segments) if at not in icc]
    out, start = list(segments), 0
    for at in pieces:
        size = len(segments[at]) - 18
        out[at] = segments[at][:18] + blanked[start : start + size]
        start += size
    return out


def _kept_jpeg_segment(marker: int, segment: bytes) -> bytes | None:
    """The segment as kept (a JFIF header loses its thumbnail), None for metadata."""
    body = segment[4:]
    if marker == _APP0:
        if body.startswith(_JFIF_HEADER) and len(body) >= _JFIF_NO_THUMBNAIL:
            return _jpeg_segment(_APP0, body[:_JFIF_NO_THUMBNAIL] + b"\x00\x00")
        return None  # JFXX (a thumbnail) and others
    if marker == _APP2:
        return segment if body.startswith(_ICC_HEADER) else None  # MPF and FlashPix: no
    if marker == _APP14:
        return segment if body.startswith(_ADOBE_HEADER) else None
    if _APP0 <= marker <= _APP15 or marker == _COM:
        return None
    return segment


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _jpeg_segments(data: bytes, name: str) -> Iterator[tuple[int, bytes]]:
    """Every marker after SOI as ``(marker, bytes)``, a scan with its compressed data, up
    to and with EOI; what follows EOI is not the picture libjpeg decodes."""
    at = 2
    while at < len(data):
        if data[at] != 0xFF or at + 1 >= len(data):
            raise _unreadable(name, f"unexpected bytes at offset {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        if marker == _EOI:
            yield marker, data[at : at + 2]
            return
        if marker in _STANDALONE:
            yield marker, data[at : at + 2]
            at += 2
            continue
        end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if end < at + 4 or end > len(data):
            raise _unreadable(name, f"a segment cut short at offset {at}")
        if marker == _SOS:
            found = _SCAN_END.search(data, end)
            end = found.start() if found else len(data)  # no end: decoded as it is
        yield marker, data[at:end]
        at = end


# --- PNG ----------------------------------------------------------------------------------


def _strip_png(data: bytes, name: str) -> bytes:
    out = [_PNG]
    exif_seen = False
    for kind, chunk in _png_chunks(data, name):
        if kind == b"eXIf" and not exif_seen:
            exif_seen = True
            orientation = exif_orientation(chunk[8:-4])
            if orientation != 1:  # in its place: before or after the pixels, as it was read
                out.append(_png_chunk(b"eXIf", orientation_only_exif(orientation)))
        elif kind == b"iCCP":
            out.extend(_icc_blanked_png(chunk[8:-4]))
        elif not kind[0] & 0x20 or kind in _PNG_KEPT:  # critical (upper case) or known
            out.append(chunk)
        if kind == b"IEND":
            break
    return b"".join(out)


def _icc_blanked_png(body: bytes) -> list[bytes]:
    """An iCCP chunk of ``body`` (a name, free text too; compression; the zlib profile) named
    plainly and its profile blanked of text; none where it cannot be read. The compressed
    profile is kept as it was where blanking changes nothing (no zlib's output to differ)."""
    _, _, compressed = body.partition(b"\x00")
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(compressed[1:], _MAX_ICC_BYTES)
    except zlib.error:
        return []
    blanked = profile_without_text(profile) if not inflater.unconsumed_tail else None
    if blanked is None:
        return []
    packed = compressed[1:] if blanked == profile else zlib.compress(blanked, 9)
    return [_png_chunk(b"iCCP", _ICC_NAME + b"\x00\x00" + packed)]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- WebP ---------------------------------------------------------------------------------


def _strip_webp(data: bytes, name: str) -> bytes:
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))  # after it: not the image
    out: list[bytes] = []
    exif_kept = exif_seen = icc_kept = False
    for kind, chunk in _webp_chunks(data[:end], name):
        if kind == b"EXIF" and not exif_seen:
            exif_seen = True
            exif = chunk[8 : 8 + int.from_bytes(chunk[4:8], "little")]
            orientation = exif_orientation(exif.removeprefix(_EXIF_HEADER))
            if orientation != 1:
                exif_kept = True
                out.append(_webp_chunk(b"EXIF", orientation_only_exif(orientation)))
        elif kind == b"ICCP":
            size = int.from_bytes(chunk[4:8], "little")
            blanked = profile_without_text(chunk[8 : 8 + size])
            icc_kept = blanked is not None
            out.extend([_webp_chunk(b"ICCP", blanked)] if blanked is not None else [])
        elif kind in _WEBP_KEPT:
            out.append(chunk)
    if out and out[0].startswith(b"VP8X"):
        out[0] = _vp8x_flags(out[0], exif_kept, icc_kept)
    body = b"WEBP" + b"".join(out)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _vp8x_flags(chunk: bytes, exif: bool, icc: bool) -> bytes:
    flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP | _VP8X_ICC)
    flags |= (_VP8X_EXIF if exif else 0) | (_VP8X_ICC if icc else 0)
    return chunk[:8] + bytes((flags,)) + chunk[9:]


def _webp_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


# --- both chunked formats -----------------------------------------------------------------


def _png_chunks(data: bytes, name: str) -> Iterator[tuple[bytes, bytes]]:
    """``(type, whole chunk)`` after the signature: length, type, data, CRC."""
    at = len(_PNG)
    while at < len(data):
        end = at + 12 + int.from_bytes(data[at : at + 4], "big")
        if at + 12 > len(data) or end > len(data):
            raise _unreadable(name, f"a chunk cut short at offset {at}")
        yield data[at + 4 : at + 8], data[at:end]
        at = end


def _webp_chunks(data: bytes, name: str) -> Iterator[tuple[bytes, bytes]]:
    """``(type, whole chunk)`` after the RIFF header: type, size, payload, an even pad."""
    at = 12
    while at < len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        if at + 8 > len(data) or at + 8 + size > len(data):  # the last pad may be missing
            raise _unreadable(name, f"a chunk cut short at offset {at}")
        yield data[at : at + 4], data[at : at + 8 + size] + b"\x00" * (size & 1)
        at += 8 + size + (size & 1)
