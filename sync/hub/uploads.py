"""Resumable photo uploads: start or resume, append a chunk at the hub's offset, finish.

The hub is the source of truth for the offset: a device that lost its connection asks (or
simply starts again) and is told where to continue. Each chunk carries its sha256 and the
whole photo is checked against the sha256 given at the start before its bytes are kept; a
failed final check discards every chunk, so the device starts over from offset 0. A face
photo's bytes are kept without their metadata (``sync.hub.face_photos``), under the sha256
its device declared.

An upload is its starting device's: only that device adds to it (another device's chunk
would otherwise let it make the hub discard every chunk at will). Another device of the
site uploading the same photo gets its own upload: a store restored onto new hardware and
registered again (a new device id; a device keeps no upload id, it starts and is told where
to resume) sends the photo again from offset 0, and the old device's upload, once another
completed the photo, is answered as complete at its next chunk or start.

Unfinished uploads hold disk. A device may keep at most ``MAX_UNFINISHED_BYTES`` in
unfinished uploads other than the one it is sending (it uploads one photo at a time, so
only a broken or hostile device reaches that), and an upload still unfinished
``ABANDONED_AFTER`` after it began is dropped when any upload starts.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from sync.errors import UnreadablePhotoError
from sync.hub.errors import HubError
from sync.hub.face_photos import kept_bytes
from sync.hub.models import Device, Photo, PhotoUpload, UploadChunk
from sync.protocol import MAX_CHUNK_BYTES, UploadStart, UploadStatus

MAX_UNFINISHED_BYTES = 256 * 1024 * 1024  # per device
ABANDONED_AFTER = timedelta(days=30)


def status_of(upload: PhotoUpload) -> UploadStatus:
    return UploadStatus(
        upload_id=upload.uid,
        photo_uid=upload.photo.uid,
        total_size=upload.total_size,
        received=upload.received,
        complete=upload.completed_at is not None,
    )


def start_upload(device: Device, start: UploadStart) -> UploadStatus:
    """A new upload, or the existing one of this photo (which says how far it got).

    Only a photo whose metadata was pushed can be uploaded (devices upload what the hub
    acknowledged). An unknown uid is refused rather than created: erasing a person deletes
    their photos' rows, and an upload still in flight would otherwise store the face again,
    linked to nobody.
    """
    _drop_abandoned_uploads()
    with transaction.atomic():
        photo = Photo.objects.select_for_update().filter(uid=start.photo_uid).first()
        if photo is None:
            raise HubError(404, "unknown_photo", f"no photo {start.photo_uid} on the hub (never "
                           "pushed, or its person was erased): not stored")  # fmt: skip
        _check_photo(device, photo, start)
        upload = PhotoUpload.objects.filter(photo=photo, device=device).first()
        if upload is None:
            upload = PhotoUpload.objects.create(
                photo=photo,
                device=device,
                total_size=start.total_size,
                sha256=start.sha256,
                completed_at=timezone.now() if photo.stored else None,
                received=start.total_size if photo.stored else 0,
            )
        elif (upload.sha256, upload.total_size) != (start.sha256, start.total_size):
            raise HubError(409, "upload_conflict", "an upload of this photo has other contents")
        elif photo.stored and upload.completed_at is None:
            _completed_elsewhere(upload)
        return status_of(upload)


def _check_photo(device: Device, photo: Photo, start: UploadStart) -> None:
    if photo.site_id != device.site_id:
        raise HubError(403, "wrong_site", f"forbidden: photo {photo.uid} belongs to another site")
    if (photo.sha256, photo.byte_size) != (start.sha256, start.total_size):
        raise HubError(409, "upload_conflict", "the photo's metadata has another size or sha256")


def find_upload(device: Device, upload_id: UUID, *, lock: bool = False) -> PhotoUpload:
    query = PhotoUpload.objects.select_related("photo")
    if lock:
        query = query.select_for_update()
    upload: PhotoUpload | None = query.filter(uid=upload_id).first()
    if upload is None:
        raise HubError(404, "unknown_upload", f"no upload {upload_id}: start it again")
    if upload.photo.site_id != device.site_id:
        raise HubError(403, "wrong_site", "forbidden: the upload belongs to another site")
    if upload.device_id != device.pk:  # its own upload of the photo is one start away
        raise HubError(404, "unknown_upload", f"no upload {upload_id} of this device: start it")
    return upload


def append_chunk(
    device: Device, upload_id: UUID, offset: int, data: bytes, sha256: str
) -> UploadStatus:
    """Store one chunk at ``offset``; the last chunk completes and checks the photo."""
    _check_chunk(data, sha256)
    with transaction.atomic():
        upload = find_upload(device, upload_id, lock=True)
        if upload.completed_at is None and _stored(upload):
            _completed_elsewhere(upload)  # another device's upload of the photo completed
        if upload.completed_at is not None:
            return status_of(upload)  # a retried last chunk whose answer was lost
        if offset != upload.received:
            raise HubError(
                409,
                "offset_mismatch",
                f"the hub has {upload.received} bytes; send from there",
                expected_offset=upload.received,
            )
        if offset + len(data) > upload.total_size:
            raise HubError(
                400, "too_long", f"the photo is {upload.total_size} bytes; this overruns"
            )
        _check_room(device, upload, len(data))
        UploadChunk.objects.create(upload=upload, offset=offset, data=data)
        upload.received = offset + len(data)
        refused = _finish(upload) if upload.received == upload.total_size else None
        upload.save()
        status = status_of(upload)
    if refused is not None:
        raise refused
    return status


def _stored(upload: PhotoUpload) -> bool:
    stored: bool = Photo.objects.filter(pk=upload.photo_id, data__isnull=False).exists()
    return stored


def _completed_elsewhere(upload: PhotoUpload) -> None:
    """The photo's bytes came through another device's upload: this one's chunks are not
    needed. Each device clears its own, so no finish locks another device's upload."""
    UploadChunk.objects.filter(upload=upload).delete()
    upload.received = upload.total_size
    upload.completed_at = timezone.now()
    upload.save(update_fields=["received", "completed_at"])


def _check_room(device: Device, upload: PhotoUpload, more: int) -> None:
    unfinished = PhotoUpload.objects.filter(device=device, completed_at__isnull=True)
    held = unfinished.exclude(pk=upload.pk).aggregate(held=Sum("received"))["held"] or 0
    if held + more > MAX_UNFINISHED_BYTES:  # this upload's own bytes: one photo, bounded
        raise HubError(429, "unfinished_uploads", f"this device already holds {held} bytes "
                       "in unfinished uploads on the hub; finish those first")  # fmt: skip


def _drop_abandoned_uploads() -> None:
    """Unfinished uploads begun long ago: their device is gone, or gave the photo up."""
    cutoff = timezone.now() - ABANDONED_AFTER
    PhotoUpload.objects.filter(completed_at__isnull=True, created_at__lt=cutoff).delete()


def _check_chunk(data: bytes, sha256: str) -> None:
    if not data:
        raise HubError(400, "empty_chunk", "a chunk has at least one byte")
    if len(data) > MAX_CHUNK_BYTES:
        raise HubError(413, "chunk_too_large", f"a chunk holds at most {MAX_CHUNK_BYTES} bytes")
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise HubError(400, "chunk_checksum_mismatch", "the chunk's sha256 does not match")


def _finish(upload: PhotoUpload) -> HubError | None:
    """Keep the joined bytes if they match the photo's sha256, as its metadata stands now
    (a re-push may have changed it since the upload began), a face photo's without its
    metadata (``sync.hub.face_photos``); else discard every chunk and say why."""
    chunks = UploadChunk.objects.filter(upload=upload)
    data = b"".join(bytes(chunk.data) for chunk in chunks.order_by("offset"))
    chunks.delete()
    photo = Photo.objects.select_for_update().get(pk=upload.photo_id)
    if (hashlib.sha256(data).hexdigest(), len(data)) != (photo.sha256, photo.byte_size):
        upload.received = 0
        return HubError(
            400,
            "photo_checksum_mismatch",
            "the joined chunks do not match the photo's sha256; upload it again from offset 0",
            expected_offset=0,
        )
    try:
        photo.data = kept_bytes(photo, data)
    except UnreadablePhotoError as error:
        # A code every client records as this photo's failure, kept on the device and
        # named there (an older client would fail every sync on a code it does not know).
        upload.received = 0
        return HubError(400, "invalid_body", f"{error}: a face photo is kept only without its"
                        " metadata; not stored")  # fmt: skip
    photo.save(update_fields=["data"])
    upload.completed_at = timezone.now()
    return None
