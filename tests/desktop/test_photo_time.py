"""The capture time a catch photo records (EXIF), read from real encoders' output, and
nothing at all from malformed or absent records."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

import pytest

from desktop.photo_time import NO_DATE, NO_ZONE, OUT_OF_RANGE, photo_time

PIL = pytest.importorskip("PIL.Image")

_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


def _photo(fmt: str, reading: str | None, offset: str | None = None) -> bytes:
    """A real photo written by Pillow, with the given EXIF capture fields."""
    image = PIL.new("RGB", (32, 24), (40, 90, 160))
    exif = PIL.Exif()
    fields = exif.get_ifd(_EXIF_IFD)
    if reading is not None:
        fields[_DATE_TIME_ORIGINAL] = reading
    if offset is not None:
        fields[_OFFSET_TIME_ORIGINAL] = offset
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_reading_with_offset_is_a_moment(fmt: str) -> None:
    found = photo_time(_photo(fmt, "2026:11:20 06:15:00", "+08:00"))
    assert found is not None
    assert found.reading == "2026:11:20 06:15:00"
    assert found.taken_at == datetime(2026, 11, 19, 22, 15, tzinfo=UTC)


def test_negative_offset() -> None:
    found = photo_time(_photo("JPEG", "2026:01:01 23:30:00", "-03:30"))
    assert found is not None
    assert found.taken_at == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)


def test_reading_without_offset_names_no_moment() -> None:
    found = photo_time(_photo("JPEG", "2026:11:20 06:15:00"))
    assert found is not None
    assert found.reading == "2026:11:20 06:15:00"
    assert found.taken_at is None  # not guessed into the laptop's zone


@pytest.mark.parametrize(
    ("reading", "offset"),
    [
        ("2026:13:45 06:15:00", "+08:00"),  # no such day
        ("2026:11:20 06:15:00", "+15:00"),  # no such zone
        ("2026:11:20 06:15:00", "+05:07"),  # nor this
        ("0001:01:01 00:00:00", "+01:00"),  # before year 1 in UTC
        ("9999:12:31 23:00:00", "-02:00"),  # after year 9999 in UTC
    ],
)
def test_impossible_fields_name_no_moment(reading: str, offset: str) -> None:
    found = photo_time(_photo("JPEG", reading, offset))
    assert found is None or found.taken_at is None


@pytest.mark.parametrize(
    ("reading", "offset", "why"),
    [
        ("2026:11:20 06:15:00", None, NO_ZONE),
        ("2026:11:20 06:15:00", "   :  ", NO_ZONE),  # EXIF's "unknown"
        ("2026:11:20 06:15:00", "+99:99", "names its zone as '+99:99', which is no UTC offset"),
        ("2026:11:20 06:15:00", "+14:30", "names its zone as '+14:30', which is no UTC offset"),
        ("2026:11:20 06:15:00", "+05:07", "names its zone as '+05:07', which is no UTC offset"),
        ("2026:11:20 06:15:00", "UTC+8", "names its zone as 'UTC+8', which is no UTC offset"),
        ("2026:13:45 25:61:61", "+08:00", NO_DATE),
        ("2026:02:29 06:15:00", "+08:00", NO_DATE),  # not a leap year
        ("2026:13:45 25:61:61", None, NO_DATE),
        ("0001:01:01 00:00:00", "+01:00", OUT_OF_RANGE),
    ],
)
def test_a_time_that_names_no_moment_says_why(reading: str, offset: str | None, why: str) -> None:
    """An offset that cannot be read, or an impossible date, was reported as "names no time
    zone", which the photo does name."""
    found = photo_time(_photo("JPEG", reading, offset))
    assert found is not None
    assert (found.reading, found.taken_at, found.no_moment) == (reading, None, why)


@pytest.mark.parametrize(
    ("offset", "utc"),
    [
        ("+14:00", datetime(2026, 11, 19, 16, 15, tzinfo=UTC)),  # Kiribati's Line Islands
        ("-12:00", datetime(2026, 11, 20, 18, 15, tzinfo=UTC)),
        ("+05:45", datetime(2026, 11, 20, 0, 30, tzinfo=UTC)),  # Nepal
        ("+00:00", datetime(2026, 11, 20, 6, 15, tzinfo=UTC)),
        ("Z", datetime(2026, 11, 20, 6, 15, tzinfo=UTC)),  # ISO 8601's UTC, not EXIF's form
    ],
)
def test_every_zone_in_use_is_a_moment(offset: str, utc: datetime) -> None:
    found = photo_time(_photo("JPEG", "2026:11:20 06:15:00", offset))
    assert found is not None
    assert (found.taken_at, found.no_moment) == (utc, None)


def test_no_exif_and_blank_reading() -> None:
    assert photo_time(_photo("JPEG", None)) is None
    assert photo_time(_photo("PNG", None)) is None
    assert photo_time(_photo("JPEG", "    :  :     :  :  ", "+08:00")) is None  # "unknown"
    assert photo_time(b"GIF89a...") is None
    assert photo_time(b"") is None


def test_every_truncation_and_corruption_is_no_time_not_an_error() -> None:
    """Untrusted input: each prefix, and each single byte flipped inside the EXIF record,
    gives a time or None, never an exception."""
    whole = _photo("JPEG", "2026:11:20 06:15:00", "+08:00")
    exif_end = whole.index(b"+08:00") + 16
    for cut in range(exif_end):
        photo_time(whole[:cut])
    for at in range(2, exif_end):
        damaged = bytearray(whole)
        damaged[at] ^= 0xFF
        found = photo_time(bytes(damaged))
        assert found is None or isinstance(found.reading, str)


def test_directory_loop_and_huge_counts_end() -> None:
    """A hand-made TIFF whose EXIF pointer points back at IFD0, and one claiming 65535
    entries: both read as no time."""
    ifd0_at = 8
    entry = struct.pack("<HHII", _EXIF_IFD, 4, 1, ifd0_at)  # the EXIF IFD is IFD0 itself
    looping = b"II*\x00" + struct.pack("<I", ifd0_at) + struct.pack("<H", 1) + entry + b"\0" * 4
    huge = b"II*\x00" + struct.pack("<I", ifd0_at) + struct.pack("<H", 0xFFFF)
    for tiff in (looping, huge):
        jpeg = b"\xff\xd8\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
        assert photo_time(jpeg + b"\xff\xd9") is None
