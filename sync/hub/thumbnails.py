"""The review queue's thumbnails: a catch photo downscaled to ``LONGEST_SIDE`` px, as JPEG.

The queue lists up to 100 catches a page and a photo may be 32 MiB: the list shows these
instead (a few kB each), the change page the photo itself (``sync.hub.admin.review_photos``).

A thumbnail is made on its first request and kept in the photo's own row
(``Photo.thumbnail``), not in the hub's data folder: hub workers stay stateless behind a load
balancer (each would make and keep its own copy), and a thumbnail can never outlive its photo,
since whatever deletes the row (an erasure, ``sync.hub.apply.erase``) deletes it too, in the
same transaction, with no second place to forget; a backup holds it with its photo. It is
written only into a row that still holds those very bytes, so one made while the photo was
erased is dropped. A stored photo's bytes never change (``sync.hub.apply.photos``), so a
thumbnail, once made, stays right.

Decoding is where a hostile photo bites: a few kB can declare gigapixels, or thousands of
progressive scans. The header is read first (``sync.hub.photo_header``) and such a photo is
refused before OpenCV sees it; OpenCV's own pixel limit is the backstop for what the header
check misses. A photo that cannot be decoded is refused too: the refusal is kept (an empty
thumbnail), so the 32 MiB photo is not read again at every page load to be refused again.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from sync.hub import photo_header
from sync.hub.models import Photo

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

LONGEST_SIDE = 320
JPEG_QUALITY = 80
# Part of the thumbnail's ETag: change it with the recipe above (and clear the kept ones
# in a migration), so that no browser keeps a thumbnail of the old recipe.
RECIPE = f"t{LONGEST_SIDE}q{JPEG_QUALITY}"
# The device's own limit on a photo (``inference.image_file.MAX_PIXELS``: the largest phone
# cameras take 200 MP): no honest device stores a larger one. At the limit a PNG or WebP
# decodes to 630 MB of RGB; a JPEG is decoded at 1/2 to 1/8 scale (``_reduced``), far less.
MAX_SOURCE_PIXELS = 210_000_000
# Scans a progressive JPEG may have, each decoded over the whole photo: as the device,
# at most 64, and no more passes than the largest photo in libjpeg's longest script (18).
MAX_JPEG_SCANS = 64
MAX_PIXEL_SCANS = MAX_SOURCE_PIXELS * 18

# OpenCV reads its own pixel limit when cv2 is first imported (lazily, below): the backstop
# for a header the check here cannot read. Its default is 2**30 pixels, 3 GB of RGB.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_SOURCE_PIXELS))

log = logging.getLogger(__name__)


class ThumbnailRefusedError(Exception):
    """No thumbnail is made of this photo (the reason is the message); none ever will be."""


def stored_thumbnail(photo: Photo) -> bytes | None:
    """``photo``'s thumbnail, made and kept at its first request; None where the photo is
    gone (erased meanwhile); :class:`ThumbnailRefusedError` where none can be made."""
    kept = list(Photo.objects.filter(pk=photo.pk).values_list("thumbnail", flat=True))
    if not kept:
        return None
    thumbnail = kept[0]
    if thumbnail is None:
        thumbnail = _made_and_kept(photo)
        if thumbnail is None:
            return None
    if not thumbnail:
        raise ThumbnailRefusedError("refused when it was first asked for (see the hub's log)")
    return bytes(thumbnail)


def _made_and_kept(photo: Photo) -> bytes | None:
    """The thumbnail made now (b"" for a refusal), written only into the row that still
    holds the photo's bytes; None where the photo is gone."""
    data = Photo.objects.filter(pk=photo.pk).values_list("data", flat=True).first()
    if data is None:
        return None
    try:
        made = make_thumbnail(bytes(data))
    except ThumbnailRefusedError as refused:
        log.warning("no thumbnail of photo %s: %s", photo.uid, refused)
        made = b""
    del data  # up to 32 MiB: not held while the row is written
    same_photo = Photo.objects.filter(pk=photo.pk, sha256=photo.sha256, data__isnull=False)
    if not same_photo.filter(thumbnail__isnull=True).update(thumbnail=made):
        # made meanwhile by another request (the same), or the photo is gone
        return _stored_or_none(photo)
    return made


def _stored_or_none(photo: Photo) -> bytes | None:
    found = Photo.objects.filter(pk=photo.pk).values_list("thumbnail", flat=True).first()
    return None if found is None else bytes(found)


def make_thumbnail(data: bytes) -> bytes:
    """``data``, a JPEG, PNG or WebP, as a JPEG whose longest side is ``LONGEST_SIDE`` px
    (a smaller photo is not enlarged); :class:`ThumbnailRefusedError` for anything else, a
    photo larger than ``MAX_SOURCE_PIXELS`` or a JPEG in too many scans (both told from the
    header, before decoding), or one that does not decode."""
    size = photo_header.pixel_size(data)
    if size is None:
        raise ThumbnailRefusedError("not a JPEG, PNG or WebP whose header can be read")
    width, height = size
    if width * height > MAX_SOURCE_PIXELS:
        raise ThumbnailRefusedError(f"declares {width}x{height} px, more than a photo may have")
    limit = max(1, min(MAX_JPEG_SCANS, MAX_PIXEL_SCANS // max(width * height, 1)))
    if data.startswith(photo_header.JPEG) and photo_header.jpeg_scan_count(data, limit) > limit:
        raise ThumbnailRefusedError(f"a JPEG of {width}x{height} px in more than {limit} scans")
    return _encoded(_downscaled(_decoded(data, width, height)))


def _decoded(data: bytes, width: int, height: int) -> npt.NDArray[np.uint8]:
    # cv2 is imported only to make a thumbnail: every hub command loads the admin, and needs
    # no OpenCV (nor its pixel limit read before it is set above)
    import cv2
    import numpy as np

    flags = _reduced(max(width, height)) if data.startswith(photo_header.JPEG) else 0
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags or cv2.IMREAD_COLOR)
    except cv2.error as error:  # OpenCV's own limits
        raise ThumbnailRefusedError(f"cannot be decoded: {error.err or error}") from error
    if image is None or image.size == 0:
        raise ThumbnailRefusedError("cannot be decoded (corrupt)")
    return np.asarray(image, np.uint8)


def _reduced(longest: int) -> int:
    """libjpeg's scaled decoding, the smallest still at least ``LONGEST_SIDE`` px: an 8th of
    a 12 MP photo's sides is 500 px, decoded in a 64th of the memory and much of the time."""
    import cv2

    for scale, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if longest // scale >= LONGEST_SIDE:
            return int(flag)
    return 0


def _downscaled(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    import cv2

    height, width = image.shape[:2]
    scale = LONGEST_SIDE / max(width, height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    import numpy as np

    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def _encoded(image: npt.NDArray[np.uint8]) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ThumbnailRefusedError("cannot be encoded as JPEG")
    return bytes(encoded.tobytes())
