"""A catch photo read from disk (the first step of :mod:`desktop.catch`).

:func:`read_catch_photo` keeps the file's bytes as taken (they are what the hub and the
training export receive), names its type from its content, decodes it, and refuses a file
over the store's photo limit before anything is classified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop.catch_errors import CatchError
from desktop.photo_time import PhotoTime, photo_time
from inference.errors import ImageError, ImageTooLargeError
from inference.fish.images import UInt8Image, decode_image
from inference.image_file import read_image_file
from sync.errors import RecordTooLargeError
from sync.store import StoreConfig
from sync.store.photos import check_blob_size

# The photo formats OpenCV decodes that every viewer (the hub's review page too) shows.
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
FORMATS = "JPEG, PNG or WebP"


@dataclass(frozen=True, eq=False)
class PhotoFile:
    """A photo as it is recorded: its bytes untouched, their type, its size and its time; no
    pixels. What a catch the store refused keeps until it is written (a decoded 24 MP photo
    is some 70 MB, its file a few)."""

    path: Path
    data: bytes = field(repr=False)
    media_type: str
    size: tuple[int, int]
    """Width and height in pixels (what a fish's box is measured in)."""
    time: PhotoTime | None = None
    """The capture time the photo's own EXIF record gives (:mod:`desktop.photo_time`)."""


@dataclass(frozen=True, eq=False)
class CatchPhoto(PhotoFile):
    """A photo as read from disk: its file, and the decoded image to classify."""

    image: UInt8Image = field(repr=False, kw_only=True)  # RGB, for the classifier and preview

    def file(self) -> PhotoFile:
        """The photo without its pixels (the same bytes, not a copy)."""
        return PhotoFile(self.path, self.data, self.media_type, self.size, self.time)


def read_catch_photo(path: Path, config: StoreConfig | None = None) -> CatchPhoto:
    """Read a JPEG, PNG or WebP photo; :class:`CatchError` for anything else, a corrupt
    file, or one larger than the store (``config``, else the defaults) accepts."""
    data = read_photo_file(path, config or StoreConfig())
    media_type = media_type_of(data, path)
    try:
        image = decode_image(data, str(path))
    except ImageError as error:
        raise CatchError(str(error)) from error
    size = int(image.shape[1]), int(image.shape[0])
    return CatchPhoto(path, data, media_type, size, photo_time(data), image=image)


def read_photo_file(path: Path, limits: StoreConfig) -> bytes:
    """The bytes of the regular file at ``path``, read by the reader the face and fish tools
    share (:func:`inference.image_file.read_image_file`) up to the store's limit;
    :class:`CatchError` for anything else (/dev/zero never ends, a named pipe waits for a
    writer for ever, a folder has no bytes) or for a file over the store's limit, refused by
    its size before it is read, and read no further than one byte past the limit."""
    try:
        return read_image_file(path, limits.max_blob_bytes)
    except ImageTooLargeError as error:
        _check_size(limits, path, error.size)  # the store's own words for its limit
        raise CatchError(str(error)) from error
    except ImageError as error:
        raise CatchError(str(error)) from error


def media_type_of(data: bytes, path: Path) -> str:
    """The photo's type from its first bytes (a file's suffix says nothing reliable)."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise CatchError(f"{path} is not a {FORMATS} photo")


def _check_size(config: StoreConfig, path: Path, size: int) -> None:
    try:
        check_blob_size(config, f"photo {path}", size)
    except RecordTooLargeError as error:
        raise CatchError(str(error)) from error
