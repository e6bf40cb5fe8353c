"""Photos (metadata) pushed by devices: catch photos and people's face images.

A photo's contents (sha256, size) may change, before its bytes are stored, only by the
device that pushed it (``Photo.device``): another device's push of other contents is refused
for good, and the upload of the pusher's bytes is left as it is. After they are stored, only
to the stored face photo's bytes without their metadata (``sync.hub.face_photos``).
"""

from __future__ import annotations

from sync.hub.apply.context import EntryContext, EntryNotYetError, EntryRejectedError, Outcome
from sync.hub.face_photos import stored_as_declared
from sync.hub.models import Person, Photo, PhotoUpload
from sync.protocol import PhotoUpsert


def apply_photo(ctx: EntryContext, payload: PhotoUpsert) -> str:
    person = None
    if payload.person_uid is not None:
        person = Person.objects.select_for_update().filter(uid=payload.person_uid).first()
        if person is None:
            raise EntryNotYetError(f"unknown person {payload.person_uid}: push the person first")
        ctx.require_own_site(f"person {person.uid}", person.site_id)
        if person.erased:
            return Outcome.SUPERSEDED
    photo = Photo.objects.select_for_update().filter(uid=payload.photo_uid).first()
    if photo is None:
        photo = Photo(uid=payload.photo_uid, site=ctx.site, person=person, device=ctx.device)
    else:
        _check_photo_edit(ctx, photo, payload, person)
    photo.media_type = payload.media_type
    photo.sha256 = payload.sha256
    photo.byte_size = payload.byte_size
    photo.taken_at = payload.taken_at
    # Only a face image is kept on the device by its site's policy; an older device's
    # (protocol < 5) says nothing: False.
    photo.withheld = payload.withheld and person is not None
    photo.save()
    return Outcome.APPLIED


def _check_photo_edit(
    ctx: EntryContext, photo: Photo, payload: PhotoUpsert, person: Person | None
) -> None:
    """What a re-pushed photo may change. Never whose it is: a person's photo moved to
    nobody would survive their erasure, which deletes the person's photos. Never stored
    bytes, but to drop a face photo's metadata (``_restate_stored``). Nor, from another
    device than the one that pushed it, its contents (that would swap another boat's catch,
    or face, for an image of its choosing before the bytes go up) or what is said of them
    (``_described``). New contents from its pusher before the bytes are stored drop the
    upload of the old ones, so they can neither complete under the new checksum nor block
    the new upload."""
    ctx.require_own_site(f"photo {photo.uid}", photo.site_id)
    if photo.person_id != (person.pk if person else None):
        raise EntryRejectedError(f"photo {photo.uid} belongs to another person, or to none")
    changed = (photo.sha256, photo.byte_size) != (payload.sha256, payload.byte_size)
    if changed and photo.stored:
        _restate_stored(photo, payload)
    if photo.device_id != ctx.device.pk and _described(photo) != _described_by(payload, person):
        raise EntryRejectedError(
            f"conflict: photo {photo.uid} was pushed by another device with another description"
            " (sha256, size, type, time, withheld); only that device may change it"
        )
    if changed:
        PhotoUpload.objects.filter(photo=photo).delete()


def _restate_stored(photo: Photo, payload: PhotoUpsert) -> None:
    """Stored bytes never change but for one case: a face photo whose device stripped its
    own copy since declares the stored bytes without their metadata
    (``sync.hub.face_photos``): the same photo, kept as declared (stripped now, where an
    older hub kept it whole)."""
    kept = stored_as_declared(photo, payload.sha256, payload.byte_size)
    if kept is None:  # more than a hub before said (OLDER_HUB_RESTATE_REFUSAL): not resent
        raise EntryRejectedError(
            f"photo {photo.uid} is stored with a different sha256, which is not its bytes"
            " without their metadata either"
        )
    if kept != bytes(photo.data or b""):
        photo.data, photo.thumbnail = kept, None


def _described(photo: Photo) -> tuple[object, ...]:
    """What a photo's pusher alone may change: its contents, and what is said of them (a
    face photo marked as not withheld would be waited for, and its upload taken, by a hub
    its site's policy keeps it from)."""
    return photo.sha256, photo.byte_size, photo.media_type, photo.taken_at, photo.withheld


def _described_by(payload: PhotoUpsert, person: Person | None) -> tuple[object, ...]:
    """``_described`` of the photo as ``payload`` would leave it (``apply_photo``)."""
    withheld = payload.withheld and person is not None
    return payload.sha256, payload.byte_size, payload.media_type, payload.taken_at, withheld
