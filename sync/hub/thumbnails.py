"""The review queue's thumbnails: a catch photo downscaled to ``LONGEST_SIDE`` px, as JPEG.

The queue lists up to 100 catches a page and a photo may be 32 MiB: the list shows these
instead (a few kB each), the change page the photo itself (``sync.hub.admin.review_photos``).

A thumbnail is made on its first request and kept in the photo's own row
(``Photo.thumbnail``), not in the hub's data folder: hub workers stay stateless behind a load
balancer (each would make and keep its own copy), and a thumbnail can never outlive its photo,
since whatever deletes the row (an erasure, ``sync.hub.apply.erase``) deletes it too, in the
same transaction, with no second place to forget; a backup holds it with its photo. It is
written only into a row that still holds those very bytes, so one made while the photo was
erased is dropped. Two requests for a thumbnail not made yet (two reviewers, a reload) make
it once: the second waits on an advisory lock for the first's. A stored photo's bytes never
change (``sync.hub.apply.photos``; but a face photo's metadata, dropped late, which clears
its thumbnail and changes its sha256), so a thumbnail, once made, stays right.

Decoding is where a hostile photo bites: a few kB can declare gigapixels, or thousands of
progressive scans. The header is read first (``sync.hub.photo_header``) and such a photo is
refused before OpenCV sees it; OpenCV's own pixel limit is the backstop for what the header
check misses. A PNG or WebP, which has no reduced decode, is decoded whole only up to a
lower limit, and by one request of a worker at a time. A photo that cannot be decoded is
refused too: the refusal is kept (an empty thumbnail), so the 32 MiB photo is not read
again at every page load to be refused again.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from django.db import OperationalError, connection, transaction

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
# cameras take 200 MP): no honest device stores a larger one. A JPEG is decoded at 1/2 to
# 1/8 scale (``_reduced``): at the limit an 8th of its sides is 10 MB of RGB.
MAX_SOURCE_PIXELS = 210_000_000
# A PNG or WebP has no reduced decode: it is decoded whole, and at 210 MP that is 630 MB of
# RGB (a transparent one 1.7 GB: 16-bit RGBA, then its composite), enough for a few
# requests at once to exhaust a hub's memory. A thumbnail is made of one up to 24 MP (a
# 6000 x 4000 px camera photo, any phone's screenshot); a larger one gets no preview (its
# page still shows it whole). Measured at 24 MP (make_thumbnail's peak RSS growth, two
# shared cores): an RGB PNG 141 MiB in 1.3 s, a 16-bit RGBA one 370 MiB in 5.7 s.
MAX_FULL_DECODE_PIXELS = 24_000_000
# What that whole decode may take: those 24 MP in 8-bit RGB (72 MB). One decoded with its
# alpha keeps the file's channels and depth (``photo_header.decoded_layout``): a 16-bit RGBA
# PNG is 8 bytes a pixel, and at 24 MP it took 370 MiB against RGB's 141. So a PNG or WebP is
# held to this budget in bytes (the device's own is ``inference.image_file.MAX_DECODED_BYTES``):
# a 16-bit RGBA one gets a thumbnail up to 9 MP, an 8-bit RGBA one up to 18 MP.
MAX_FULL_DECODE_BYTES = 3 * MAX_FULL_DECODE_PIXELS
# Scans a progressive JPEG may have, each decoded over the whole photo: as the device,
# at most 64, and no more passes than the largest photo in libjpeg's longest script (18).
MAX_JPEG_SCANS = 64
MAX_PIXEL_SCANS = MAX_SOURCE_PIXELS * 18

# OpenCV reads its own pixel limit when cv2 is first imported (lazily, below): the backstop
# for a header the check here cannot read. Its default is 2**30 pixels, 3 GB of RGB.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_SOURCE_PIXELS))

log = logging.getLogger(__name__)

# pg_advisory_xact_lock's first key for making a photo's thumbnail ("THMB" in ASCII), the
# second the photo's row: photos whose rows share one (2**31 apart) merely wait in turn.
THUMBNAIL_LOCKS = 0x54484D42
# PostgreSQL's code for a lock waited for past lock_timeout
LOCK_NOT_AVAILABLE = "55P03"

# Held while a PNG or WebP is decoded whole and shrunk: one worker's threads (a queue page's
# thumbnails are asked for at once) then hold one such photo's pixels at a time, not one
# each. A JPEG's reduced decode is small, and not made to wait.
_WHOLE_DECODE = threading.Lock()


class ThumbnailRefusedError(Exception):
    """No thumbnail is made of this photo (the reason is the message); none ever will be."""


def stored_thumbnail(photo: Photo) -> bytes | None:
    """``photo``'s thumbnail, made and kept at its first request; None where the photo is
    gone (erased meanwhile); :class:`ThumbnailRefusedError` where none can be made."""
    kept = _kept(photo)
    if kept is None:
        return None
    thumbnail = kept[0]
    if thumbnail is None:
        thumbnail = _made_once(photo)
        if thumbnail is None:
            return None
    if not thumbnail:
        raise ThumbnailRefusedError("refused when it was first asked for (see the hub's log)")
    return bytes(thumbnail)


def _kept(photo: Photo) -> tuple[bytes | None] | None:
    """``(thumbnail,)`` as ``photo``'s row holds it (None: not made yet); None where the
    row is gone."""
    found = Photo.objects.filter(pk=photo.pk).values_list("thumbnail", flat=True)[:1]
    return next(((None if t is None else bytes(t),) for t in found), None)


def _made_once(photo: Photo) -> bytes | None:
    """The thumbnail made now, or by the request that held the lock before: a page of the
    queue, open in two browsers (or reloaded), asks for each missing thumbnail twice at
    once, and each would read and decode the photo. The transaction holds the lock until
    the thumbnail is written, and commits it, so the request waiting reads it."""
    with transaction.atomic():
        _wait_for_the_maker(photo)
        kept = _kept(photo)
        if kept is None:
            return None
        return kept[0] if kept[0] is not None else _made_and_kept(photo)


def lock_keys(photo: Photo) -> tuple[int, int]:
    """The keys of the advisory lock held while ``photo``'s thumbnail is made."""
    return THUMBNAIL_LOCKS, photo.pk % (1 << 31)


def _wait_for_the_maker(photo: Photo) -> None:
    """Take the lock, held to the end of the caller's transaction; where a ``lock_timeout``
    (set on the hub's role or database) ends the wait first, go on without it: the thumbnail
    is then made twice, as before the lock, rather than not shown."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint to go back to
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", lock_keys(photo))
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.info("made a thumbnail of photo %s without waiting for the other maker", photo.uid)


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
    photo larger than ``MAX_SOURCE_PIXELS``, a PNG or WebP larger than
    ``MAX_FULL_DECODE_PIXELS`` or whose decode takes more than ``MAX_FULL_DECODE_BYTES``, or
    a JPEG in too many scans (all told from the header,
    before decoding), or one that does not decode."""
    size = photo_header.pixel_size(data)
    if size is None:
        raise ThumbnailRefusedError("not a JPEG, PNG or WebP whose header can be read")
    width, height = size
    if width * height > MAX_SOURCE_PIXELS:
        raise ThumbnailRefusedError(f"declares {width}x{height} px, more than a photo may have")
    limit = max(1, min(MAX_JPEG_SCANS, MAX_PIXEL_SCANS // max(width * height, 1)))
    if data.startswith(photo_header.JPEG):
        if photo_header.jpeg_scan_count(data, limit) > limit:
            raise ThumbnailRefusedError(f"a JPEG of {width}x{height} px in more than {limit} scans")
        return _encoded(_downscaled(_decoded(data, _reduced(max(width, height)))))
    if width * height > MAX_FULL_DECODE_PIXELS:
        raise ThumbnailRefusedError(
            f"declares {width}x{height} px, more than a thumbnail's photo is decoded whole at"
        )
    needed = photo_header.decoded_bytes(data) or 0
    if needed > MAX_FULL_DECODE_BYTES:
        raise ThumbnailRefusedError(
            f"declares {width}x{height} px that take {needed / 1e6:.0f} MB decoded (its"
            f" channels and bits a sample), more than the {MAX_FULL_DECODE_BYTES / 1e6:.0f} MB"
            " a thumbnail's photo is decoded whole in"
        )
    with _WHOLE_DECODE:
        return _encoded(_downscaled(_decoded(data, 0)))


def _decoded(data: bytes, reduced: int) -> npt.NDArray[np.uint8]:
    """``data`` decoded as BGR, at the scale ``reduced`` asks (a JPEG's), turned upright as
    its EXIF orientation says; a transparent PNG or WebP composited onto white, as a viewer
    shows it, not on the colour (often black) its transparent pixels hide."""
    # cv2 is imported only to make a thumbnail: every hub command loads the admin, and needs
    # no OpenCV (nor its pixel limit read before it is set above)
    import cv2
    import numpy as np

    buffer = np.frombuffer(data, np.uint8)
    try:
        on_white = _decoded_on_white(buffer) if photo_header.may_be_transparent(data) else None
        flags = reduced or cv2.IMREAD_COLOR
        image = on_white if on_white is not None else cv2.imdecode(buffer, flags)
    except cv2.error as error:  # OpenCV's own limits
        raise ThumbnailRefusedError(f"cannot be decoded: {error.err or error}") from error
    if image is None or image.size == 0:
        raise ThumbnailRefusedError("cannot be decoded (corrupt)")
    return np.asarray(image, np.uint8)


def _decoded_on_white(buffer: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The image in ``buffer`` composited onto white and turned upright (as the device's
    ``inference.image_alpha.decode_on_white``); None where it has no alpha channel after
    all, or does not decode (the colour decode then says why)."""
    import cv2
    import numpy as np

    from sync.hub import photo_alpha

    image, kinds, metadata = cv2.imdecodeWithMetadata(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        return None
    if image.dtype not in (np.uint8, np.uint16):
        return None
    found = zip(kinds, metadata, strict=True)
    exif = next((bytes(m) for kind, m in found if kind == cv2.IMAGE_METADATA_EXIF), b"")
    composite = photo_alpha.on_white(image)
    del image  # up to 8 bytes a pixel: not held while the composite is turned
    return photo_alpha.upright(composite, photo_alpha.exif_orientation(exif))


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
