"""A face photo is kept by the hub as a new kiosk keeps it: pixels and orientation only.

A kiosk strips an enrolment photo's metadata (GPS, serial numbers, names, thumbnails) before
it stores it (``sync.photo_metadata``); an older kiosk did not, and its photos still arrive.
The hub applies the same rule to a face photo's bytes as their upload completes
(``sync.hub.uploads``), without re-encoding, so a photo stripped on either side has the
same bytes. A catch photo is kept as sent: where and when a fish was caught is the record.

``Photo.sha256`` and ``byte_size`` stay what the device declared, the bytes it holds: its
push and upload, sent again, are matched by them and stay the same photo. A device that
stripped its own stored copy since (``sync.store.face_photo_metadata``) declares the
stripped bytes' sha256: that is the same photo too (``stored_as_declared``), and from then
on the row's sha256 is its kept bytes'. A face photo a hub kept whole before this rule is
stripped at the hub's upgrade (``sync.hub.face_photo_upgrade``), under the sha256 declared,
or by such a push, whichever comes first.
"""

from __future__ import annotations

import hashlib

from sync.errors import UnreadablePhotoError
from sync.hub.models import Photo
from sync.photo_metadata import strip_metadata


def kept_bytes(photo: Photo, received: bytes) -> bytes:
    """What the hub keeps of ``received``, the photo's bytes as uploaded: a face photo's
    without their metadata; :class:`UnreadablePhotoError` for a face photo whose metadata
    cannot be removed (kept whole, its metadata would stay)."""
    if photo.person_id is None:
        return received
    return strip_metadata(received, f"photo {photo.uid}")


def stored_as_declared(photo: Photo, sha256: str, byte_size: int) -> bytes | None:
    """The stored face photo's bytes without metadata when they are the ``sha256`` and
    ``byte_size`` a push declares (its device stripped its copy); None otherwise."""
    if photo.person_id is None or photo.data is None:
        return None
    try:
        kept = strip_metadata(bytes(photo.data), f"photo {photo.uid}")
    except UnreadablePhotoError:
        return None
    if (hashlib.sha256(kept).hexdigest(), len(kept)) != (sha256, byte_size):
        return None
    return kept
