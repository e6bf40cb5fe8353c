"""When a catch photo was taken, from its own EXIF record, where that says so unambiguously.

Officers photograph fish on deck and record them later, on the boat's laptop: the time a
record is made is not the time the fish was caught. A camera writes the capture time into the
photo (EXIF ``DateTimeOriginal``), but as a wall-clock reading without a zone; since EXIF 2.31
(2016) cameras and phones also write its offset from UTC (``OffsetTimeOriginal``). Only the two
together name a moment. A reading without an offset is not guessed into one: the boat's
laptop may keep another zone than the camera (UTC, home port), and a catch recorded hours off
is worse than one recorded at the time it was entered, which the record then says it is.
Where the two name no moment the record says why: no offset, an offset no zone has
(``+99:99``, ``+14:30``), or a reading of no date (``2026:13:45 25:61:61``). ``Z`` is not
EXIF's form but says UTC unambiguously, and is read as ``+00:00``.

The file's own times (modification, creation) say when it was copied, not when it was taken:
they are never used.

The reader walks the TIFF structure inside a JPEG's APP1 segment, a PNG's ``eXIf`` chunk or a
WebP's ``EXIF`` chunk, with every offset checked against the bytes it has: a photo is
untrusted input, and a malformed record means "no time", never an error or a long loop.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from inference.image_header import jpeg_segments

_JPEG_SOI = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_PREFIX = b"Exif\x00\x00"
_APP1 = 0xE1
_EXIF_IFD_POINTER = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ASCII = 2
_LONG = 4
_MAX_ENTRIES = 512  # far more than any camera writes in one directory
_READING = re.compile(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


# Why a photo's reading names no moment, each worded to follow "the photo's time <reading>".
NO_ZONE = "names no time zone"
NO_DATE = "is no date and time that exists"
OUT_OF_RANGE = "is outside the years 1-9999 in UTC"


@dataclass(frozen=True)
class PhotoTime:
    """What the photo says of its capture: the camera's wall-clock reading, and the moment it
    names (None without an offset, which the reading alone cannot give, and where the
    reading or the offset cannot be read; ``no_moment`` says which)."""

    reading: str
    """``DateTimeOriginal`` as written, ``YYYY:MM:DD HH:MM:SS``."""
    taken_at: datetime | None
    no_moment: str | None = None
    """Why ``taken_at`` is None: ``NO_ZONE``, ``NO_DATE``, ``OUT_OF_RANGE``, or that the
    offset, quoted, is no UTC offset. None with a moment, and in a catch spooled before the
    reason was kept."""


def photo_time(data: bytes) -> PhotoTime | None:
    """The capture time a JPEG, PNG or WebP photo records, or None where it records none
    (or a malformed one)."""
    tiff = _exif_block(data)
    if tiff is None:
        return None
    try:
        fields = _exif_fields(tiff)
    except (struct.error, ValueError):
        return None
    reading = fields.get(_DATE_TIME_ORIGINAL)
    if reading is None or _READING.fullmatch(reading) is None:
        return None
    return _time(reading, fields.get(_OFFSET_TIME_ORIGINAL, ""))


def _time(reading: str, offset: str) -> PhotoTime:
    """The moment a reading and its offset name, or why they name none."""
    try:
        wall = datetime.strptime(reading, "%Y:%m:%d %H:%M:%S")
    except ValueError:  # 2026:13:45 25:61:61 and the like: a reading, but of no moment
        return PhotoTime(reading, None, NO_DATE)
    if not offset.strip(" :"):  # none, or EXIF's "unknown" ("   :  ", stripped to ":")
        return PhotoTime(reading, None, NO_ZONE)
    zone = _zone(offset)
    if zone is None:
        return PhotoTime(reading, None, f"names its zone as {offset!r}, which is no UTC offset")
    try:
        return PhotoTime(reading, wall.replace(tzinfo=zone).astimezone(UTC))
    except OverflowError:  # year 1 east of UTC, 9999 west of it: no moment
        return PhotoTime(reading, None, OUT_OF_RANGE)


def _zone(offset: str) -> timezone | None:
    """The zone an EXIF offset (``+08:00``, ``-03:30``) names; None for one no clock keeps.
    ``Z``, which is ISO 8601's UTC rather than EXIF's ``+00:00``, is taken as UTC: a writer
    that puts it there means nothing else."""
    if offset == "Z":
        return UTC
    match = _OFFSET.fullmatch(offset)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    # UTC-12 to UTC+14 are the zones in use, in quarter hours (+05:45, +12:45); +14:30 or
    # +05:07 is none. Either sign up to 14 h is taken, as a zone may yet move.
    if delta > timedelta(hours=14) or delta.seconds % 900:
        return None
    return timezone(-delta if sign == "-" else delta)


def _exif_block(data: bytes) -> bytes | None:
    """The TIFF structure of the photo's EXIF record, by container."""
    if data.startswith(_JPEG_SOI):
        return _from_jpeg(data)
    if data.startswith(_PNG_SIGNATURE):
        return _from_chunks(_png_chunks(data), b"eXIf")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _from_chunks(_riff_chunks(data), b"EXIF")
    return None


def _from_chunks(chunks: Iterator[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    for name, body in chunks:
        if name == wanted:
            # Some writers keep the JPEG segment's "Exif\0\0" in front of the TIFF header.
            return body[len(_EXIF_PREFIX) :] if body.startswith(_EXIF_PREFIX) else body
    return None


def _from_jpeg(data: bytes) -> bytes | None:
    """APP1's EXIF payload."""
    for marker, body in jpeg_segments(data):
        if marker == _APP1 and body.startswith(_EXIF_PREFIX):
            return body[len(_EXIF_PREFIX) :]
    return None


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, name = struct.unpack_from(">I4s", data, at)
        body = data[at + 8 : at + 8 + length]
        if len(body) != length or name == b"IEND":
            return
        yield name, body
        at += 12 + length  # length, name, body, CRC


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    at = 12
    while at + 8 <= len(data):
        name, length = struct.unpack_from("<4sI", data, at)
        body = data[at + 8 : at + 8 + length]
        if len(body) != length:
            return
        yield name, body
        at += 8 + length + (length & 1)  # chunks are padded to an even size


def _exif_fields(tiff: bytes) -> dict[int, str]:
    """The ASCII fields of the EXIF directory (where the capture time lives), by tag."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        raise ValueError("not a TIFF header")
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    pointer = _directory(tiff, order, first).get(_EXIF_IFD_POINTER)
    if pointer is None or pointer[0] != _LONG:
        return {}
    (exif_at,) = struct.unpack_from(order + "I", pointer[2])
    entries = _directory(tiff, order, exif_at)
    return {
        tag: _ascii(tiff, order, count, value)
        for tag, (kind, count, value) in entries.items()
        if kind == _ASCII
    }


def _directory(tiff: bytes, order: str, at: int) -> dict[int, tuple[int, int, bytes]]:
    """One image file directory: tag -> (type, count, the 4 bytes of value or offset)."""
    (count,) = struct.unpack_from(order + "H", tiff, at)
    if count > _MAX_ENTRIES:
        raise ValueError("implausible EXIF directory")
    entries = {}
    for n in range(count):
        tag, kind, items = struct.unpack_from(order + "HHI", tiff, at + 2 + 12 * n)
        value = tiff[at + 10 + 12 * n : at + 14 + 12 * n]
        if len(value) != 4:
            raise ValueError("EXIF directory runs past its record")
        entries[tag] = (kind, items, value)
    return entries


def _ascii(tiff: bytes, order: str, count: int, value: bytes) -> str:
    """An ASCII field's text: inline up to 4 bytes, else at its offset; up to its NUL."""
    if count <= 4:
        raw = value[:count]
    else:
        (offset,) = struct.unpack_from(order + "I", value)
        raw = tiff[offset : offset + count]
        if len(raw) != count:
            raise ValueError("EXIF text runs past its record")
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
