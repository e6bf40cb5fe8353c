"""An ICC colour profile without its free text: the colour kept, the names blanked.

A photo's ICC profile says how its numbers map to colours, and keeping it keeps a wide-gamut
phone photo (Display P3) from showing dull. Its text, though, is free: the description
(``desc``), copyright (``cprt``), device maker and model descriptions (``dmnd``, ``dmdd``),
viewing conditions (``vued``) and a metadata dictionary (``meta``) may name whoever made a
custom profile, or a device's serial number. A camera's or phone's own profile carries a
standard name ("Display P3", "sRGB IEC61966-2.1"); a calibrated one may not.

:func:`profile_without_text` overwrites every character of every text-typed tag (``text``,
``desc``, ``mluc``, ``dict``) with a space, in place: the same length, the same tag table, the
same numbers, so the colour is exactly as before and no offset moves. A non-zero profile ID
(an MD5 over the profile) is computed again, as the ICC specification defines it. A profile
whose tags cannot be walked is refused (None): the caller drops it rather than keep text it
cannot read. Blanking what is blank changes nothing.
"""

from __future__ import annotations

import hashlib

_HEADER = 128
_TEXT_TYPES = (b"text", b"desc", b"mluc", b"dict")
_ID = slice(84, 100)
# Zeroed when the profile ID is computed: profile flags, rendering intent, the ID itself.
_ID_ZEROED = (slice(44, 48), slice(64, 68), _ID)


class _MalformedError(Exception):
    pass


def profile_without_text(profile: bytes) -> bytes | None:
    """``profile`` with every text character blanked, as the module says; None for a
    profile whose header or tags cannot be walked."""
    blanked = bytearray(profile)
    try:
        _blank_tags(blanked)
    except _MalformedError:
        return None
    if blanked != profile and any(blanked[_ID]):
        _set_profile_id(blanked)
    return bytes(blanked)


def _blank_tags(p: bytearray) -> None:
    if len(p) < _HEADER + 4 or p[36:40] != b"acsp" or _u32(p, 0) != len(p):
        raise _MalformedError
    count = _u32(p, _HEADER)
    if _HEADER + 4 + 12 * count > len(p):
        raise _MalformedError
    for entry in range(count):
        at = _HEADER + 4 + 12 * entry
        start, size = _u32(p, at + 4), _u32(p, at + 8)
        if start + size > len(p) or size < 8:
            raise _MalformedError
        if bytes(p[start : start + 4]) in _TEXT_TYPES:
            _blank_tag(p, start, start + size)


def _blank_tag(p: bytearray, at: int, end: int) -> None:
    kind = bytes(p[at : at + 4])
    if kind == b"text":  # ASCII, to the tag's end
        _spaces(p, at + 8, end, 1)
    elif kind == b"desc":  # v2: ASCII, then Unicode, then a Macintosh ScriptCode string
        ascii_end = at + 12 + _u32(p, at + 8, end)
        _spaces(p, at + 12, _within(ascii_end, end), 1)
        unicode_end = ascii_end + 8 + 2 * _u32(p, ascii_end + 4, end)
        _spaces(p, ascii_end + 8, _within(unicode_end, end), 2)
        # code (2), count (1), 67 bytes; some writers cut it short
        _spaces(p, unicode_end + 3, min(unicode_end + 70, end), 1)
    elif kind == b"mluc":
        _blank_mluc(p, at, end)
    else:  # dict: records of name, value (UTF-16) and display names (mluc)
        count, record = _u32(p, at + 8, end), _u32(p, at + 12, end)
        if record not in (16, 24, 32):
            raise _MalformedError
        for entry in range(count):
            row = at + 16 + entry * record
            for field in range(0, record, 8):
                start = at + _u32(p, row + field, end)
                stop = _within(start + _u32(p, row + field + 4, end), end)
                if stop > start and field < 16:
                    _spaces(p, start, stop, 2)
                elif stop > start:
                    _blank_mluc(p, start, stop)


def _blank_mluc(p: bytearray, at: int, end: int) -> None:
    """Localized UTF-16 strings: count, record size, then (language, country, length,
    offset from the tag's start) each."""
    if bytes(p[at : at + 4]) != b"mluc":
        raise _MalformedError
    count, record = _u32(p, at + 8, end), _u32(p, at + 12, end)
    if record < 12:
        raise _MalformedError
    for entry in range(count):
        row = at + 16 + entry * record
        start = at + _u32(p, row + 8, end)
        _spaces(p, start, _within(start + _u32(p, row + 4, end), end), 2)


def _spaces(p: bytearray, start: int, stop: int, width: int) -> None:
    """Every character not NUL in ``p[start:stop]`` (``width`` bytes each) a space."""
    space = b" ".rjust(width, b"\x00")
    for at in range(start, stop - width + 1, width):
        if any(p[at : at + width]):
            p[at : at + width] = space


def _set_profile_id(p: bytearray) -> None:
    copy = bytearray(p)
    for field in _ID_ZEROED:
        copy[field] = bytes(field.stop - field.start)
    p[_ID] = hashlib.md5(copy, usedforsecurity=False).digest()


def _within(stop: int, end: int) -> int:
    if stop > end:
        raise _MalformedError
    return stop


def _u32(p: bytearray, at: int, end: int | None = None) -> int:
    if at + 4 > (len(p) if end is None else end):
        raise _MalformedError
    return int.from_bytes(p[at : at + 4], "big")
