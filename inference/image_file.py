"""Reading an operator's image file: the one reader the face tools, the fish tools and the app
share (``jaga face``, ``jaga eval``, ``jaga fish``, ``jaga catch``, ``jaga kiosk enrol``).

A path named on a command line or picked in a window can be anything, and a small file can
declare a huge or a slow decode. :func:`read_image_file` reads only a regular file (/dev/zero
never ends, a named pipe waits for a writer for ever, a folder has no bytes), refuses one over
its size limit by its size, and reads no further than one byte past the limit (a file growing
meanwhile is refused too). :func:`decode_bgr` refuses, from the header and the markers and
before decoding anything, a photo of more than ``MAX_PIXELS`` or whose decode would take more
than ``MAX_DECODED_BYTES`` (a 16-bit RGBA PNG), and a JPEG in more scans than
:func:`scan_limit` allows for its size. Each refusal is one :class:`ImageError` line naming
the file. An image with transparent pixels is composited onto white, as a viewer shows it
(:mod:`inference.image_alpha`): what is classified, detected and shown is what a person
sees. :func:`write_image_file` writes a figure under any name the file system allows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import ImageError, ImageTooLargeError
from inference.image_alpha import decode_on_white
from inference.image_header import (
    decoded_bytes,
    jpeg_scan_count,
    may_be_transparent,
    pixel_size,
    png_cut_short,
)
from inference.regular_file import open_regular_file, read_at_most

UInt8Image = npt.NDArray[np.uint8]

# The largest phone cameras take 200 MP photos; 5 % more admits every phone's photo at full
# resolution and refuses a file made to exhaust memory, such as a 1 MB PNG declaring
# 16000 x 16000 px (256 MP). At the limit a decoded photo is 630 MB of RGB.
MAX_PIXELS = 210_000_000
# What a decode may take: the limit's photo in 8-bit RGB (630 MB). A photo decoded with its
# alpha keeps the file's channels and depth (``image_header.decoded_layout``): a 16-bit RGBA
# PNG is 8 bytes a pixel, so one of 100 MP, under the pixel limit, would take 800 MB.
# Measured, a 4000 x 3000 px PNG through decode_bgr (peak RSS growth, median of 3): 72 MiB
# in 8-bit RGB, 72 in 16-bit RGB (the colour decode drops the depth), 118 in 8-bit RGBA,
# 185 in 16-bit RGBA. An 8-bit RGB photo meets both limits at the same size.
MAX_DECODED_BYTES = 3 * MAX_PIXELS
# OpenCV's decoders refuse more than OPENCV_IO_MAX_IMAGE_PIXELS before allocating: the
# backstop for a header the check here cannot read. OpenCV reads it when cv2 is imported, so
# the package's __init__ sets it to this limit, before any module of ours imports cv2.

# The largest photo allowed, stored uncompressed as 8-bit RGB (a BMP, PPM or TIFF), with 16 MiB
# for its header and metadata: reading a file never costs more than decoding the largest photo
# does, and /dev/zero-like input stops there. The app passes the store's own, smaller limit.
MAX_FILE_BYTES = 3 * MAX_PIXELS + (16 << 20)

# A progressive JPEG is decoded once per scan, over the whole image: a file can repeat a
# scan thousands of times in a few bytes each (a 0.5 MB, 8000 x 8000 px file of 2,000 scans
# kept `jaga catch` decoding for minutes). libjpeg's own progressive scripts write 10 scans
# for a colour photo and 18 for CMYK, and a baseline JPEG has one per component at most, so
# 64 admits every encoder's photo; at the limit a decode costs at most 64 passes.
MAX_JPEG_SCANS = 64
# 64 passes over the largest photo still cost half a minute. Measured with OpenCV's decoder on
# a 15000 x 14000 px (210 MP) progressive JPEG of 1.2 MB, its last scan repeated, two shared
# cores, median of 3: 3.8 s in 10 scans, 6.6 s in 18, 29 s in 64. The work is bounded by
# pixels x scans instead: the largest photo in libjpeg's longest script (18 scans) is the
# budget, so a genuine photo never reaches it, a photo up to 59 MP may still have 64 scans,
# and no JPEG costs more passes than a 210 MP one in 18 scans.
MAX_PIXEL_SCANS = MAX_PIXELS * 18

_JPEG = b"\xff\xd8"


def read_image_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path``; :class:`ImageError` for anything else or
    a file that cannot be read, :class:`ImageTooLargeError` for one over ``max_bytes``."""
    try:
        handle = open_regular_file(path, "a photo file", ImageError)
        try:
            found = os.fstat(handle)
            if found.st_size > max_bytes:  # before a huge file is read at all
                raise ImageTooLargeError(path, found.st_size, max_bytes)
            data = read_at_most(handle, max_bytes + 1)
        finally:
            os.close(handle)
    except OSError as error:
        raise ImageError(f"cannot read {path}: {error.strerror or error}") from error
    if len(data) > max_bytes:  # it grew since
        raise ImageTooLargeError(path, len(data), max_bytes)
    return data


def read_bgr(path: Path, max_bytes: int = MAX_FILE_BYTES) -> UInt8Image:
    """The image file at ``path`` as BGR uint8 (see :func:`read_image_file`, :func:`decode_bgr`)."""
    return decode_bgr(read_image_file(path, max_bytes), str(path))


def decode_bgr(data: bytes, name: str) -> UInt8Image:
    """A BGR uint8 image; :class:`ImageError` for anything that does not decode, that has
    more than ``MAX_PIXELS`` (a JPEG, PNG or WebP is refused from its header), that is a
    JPEG in more scans than :func:`scan_limit` allows, or a PNG cut short (refused unread)."""
    declared = pixel_size(data)
    if declared is not None:
        check_pixels(*declared, name)
        check_decoded_bytes(data, name)
    check_scans(data, name, declared)
    if png_cut_short(data):
        raise ImageError(
            f"{name} is not a readable image (cut short: its end is missing;"
            " copy it from the camera again)"
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        with _decoder_log_quiet():
            image = _decode(buffer, may_be_transparent(data)) if buffer.size else None
    except cv2.error as exc:  # OpenCV's own limits (OPENCV_IO_MAX_IMAGE_PIXELS) raise
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise ImageError(
                f"{name} declares more than the {MAX_PIXELS / 1e6:.0f} MP a photo may have:"
                " save it at a lower resolution"
            ) from exc
        raise ImageError(f"{name} is not a readable image: {exc.err or exc}") from exc
    if image is None:
        raise ImageError(f"{name} is not a readable image (corrupt, empty or unknown format)")
    check_pixels(image.shape[1], image.shape[0], name)  # a format whose header is not read
    return np.asarray(image, np.uint8)


def _decode(buffer: UInt8Image, transparent: bool) -> npt.NDArray[Any] | None:
    """OpenCV's colour decode, which drops an alpha channel and shows the colour under it:
    an image that may have one is composited onto white first (:mod:`inference.image_alpha`)."""
    on_white = decode_on_white(buffer) if transparent else None
    return on_white if on_white is not None else cv2.imdecode(buffer, cv2.IMREAD_COLOR)


class _QuietDecoders:
    """OpenCV's warnings off while a photo decodes: a cut-short file makes its decoder log
    ``[ WARN:0@0.680] global grfmt_png.cpp:793 ... PNG input buffer is incomplete`` on
    stderr before Jaga's own line says the same to the officer. Only while decoding, and put
    back after the last decode under way in any thread: a camera's warnings (``kiosk run``)
    still say why a camera did not open. A level already quieter is never raised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoding = 0  # decodes under way, in any thread
        self._level_before = 0  # OpenCV's log level before the first of them

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._decoding == 0:
                self._level_before = cv2.utils.logging.getLogLevel()
                quiet = min(self._level_before, cv2.utils.logging.LOG_LEVEL_ERROR)
                cv2.utils.logging.setLogLevel(quiet)
            self._decoding += 1
        try:
            yield
        finally:
            with self._lock:
                self._decoding -= 1
                if self._decoding == 0:
                    cv2.utils.logging.setLogLevel(self._level_before)


_decoder_log_quiet = _QuietDecoders()


def check_pixels(width: int, height: int, name: str) -> None:
    """:class:`ImageError` for a photo of more than ``MAX_PIXELS``."""
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is {width}x{height} px ({width * height / 1e6:.0f} MP), more than the"
            f" {MAX_PIXELS / 1e6:.0f} MP a photo may have: save it at a lower resolution"
        )


def check_decoded_bytes(data: bytes, name: str) -> None:
    """:class:`ImageError` for a photo whose decode would take more than
    ``MAX_DECODED_BYTES`` (its header's size, channels and depth)."""
    needed = decoded_bytes(data)
    if needed is not None and needed > MAX_DECODED_BYTES:
        raise ImageError(
            f"{name} would take {needed / 1e6:.0f} MB to decode (its channels and bits a"
            f" sample), more than the {MAX_DECODED_BYTES / 1e6:.0f} MB a photo may: save it"
            " with 8 bits a sample, or at a lower resolution"
        )


def scan_limit(pixels: int) -> int:
    """The scans a JPEG of ``pixels`` may have: ``MAX_JPEG_SCANS``, fewer where as many
    passes over so many pixels would exceed ``MAX_PIXEL_SCANS``."""
    return max(1, min(MAX_JPEG_SCANS, MAX_PIXEL_SCANS // max(pixels, 1)))


def check_scans(data: bytes, name: str, size: tuple[int, int] | None = None) -> None:
    """:class:`ImageError` for a JPEG in more scans than :func:`scan_limit` allows for
    ``size``, the pixels its header declares (None: unknown, ``MAX_JPEG_SCANS`` applies)."""
    if not data.startswith(_JPEG):
        return
    pixels = size[0] * size[1] if size is not None else 0
    limit = scan_limit(pixels)
    if jpeg_scan_count(data, limit) <= limit:
        return
    if limit == MAX_JPEG_SCANS:
        what, usual = "a JPEG", "a camera writes a dozen or two at most"
    else:
        what, usual = f"a JPEG of {pixels / 1e6:.0f} MP", f"a photo this large may have {limit}"
    raise ImageError(
        f"{name} is {what} in more than {limit} scans, each decoded over the whole photo"
        f" ({usual}): save it again as a plain JPEG"
    )


def write_image_file(path: Path, image: UInt8Image) -> bool:
    """``cv2.imwrite`` that takes any file name: OpenCV takes a name as UTF-8 text, and one in
    other bytes (a Latin-1 ``--out`` folder, which Linux allows and Python holds as
    surrogates) crashed the process (SIGSEGV) after the work the figure ends. False where it
    cannot encode or write the file, as ``cv2.imwrite`` says."""
    encoded, data = cv2.imencode(path.suffix, image)
    if not encoded:
        return False
    try:
        path.write_bytes(data.tobytes())
    except OSError:
        return False
    return True
