"""Face photos an older hub kept whole lose their metadata, once, at the upgrade.

A hub now keeps a face photo's bytes without their metadata as their upload completes
(``sync.hub.face_photos``); one an older hub kept whole still holds the GPS position, serial
numbers and names its camera wrote, and waited for its device to declare the stripped bytes
(which a device that never pushes the photo again, or whose push an older hub refused and it
quarantined, never does). :func:`strip_stored_face_photos` gives every stored face photo the
same rule, by the hub alone, when the hub's migrations run (each ``jaga hub run`` start;
migration ``face_photos_stripped``).

Photo by photo, each in a transaction of its own holding the photo's row: the photos are up
to 32 MiB each, and one transaction over them all would hold every face photo's row (pushes
and erasures of them wait) and redo the whole work after a start killed midway. A kill
leaves each photo either as it was or stripped, never half (one UPDATE, committed or not),
and the migration unrecorded, so the next start runs it again: what is stripped already
stays as it is (stripping it changes nothing) and is not written. ``sha256`` and
``byte_size`` stay what the device declared (``sync.hub.face_photos``): its push and upload
sent again are the same photo, and a device that stripped its own copy declares those very
bytes. The photo's thumbnail, made of the whole bytes, is dropped with them (made again, of
the stripped ones, when asked for). A photo no rule can read (not a JPEG, PNG or WebP;
damaged) is left as it is and logged as a warning, naming it and its person: erase it or
enrol the person again. Catch photos are left as they are: where and when a fish was caught
is the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from sync.errors import UnreadablePhotoError
from sync.photo_metadata import strip_metadata
from sync.plural import counted

log = logging.getLogger(__name__)


@dataclass
class StrippedPhotos:
    """What a run did: how many face photos it stripped, and the uids of those it could
    not read (left as they were)."""

    stripped: int = 0
    unreadable: list[str] = field(default_factory=list)


def strip_stored_face_photos(photo_model: Any, alias: str) -> StrippedPhotos:
    """Strip the metadata of every stored face photo of ``photo_model`` (the hub's
    ``Photo``, or a migration's historical one) in database ``alias``; log what it did."""
    photos = photo_model.objects.using(alias)
    stored = photos.filter(person__isnull=False, data__isnull=False)
    result = StrippedPhotos()
    for pk in stored.order_by("pk").values_list("pk", flat=True):  # the ids only: no bytes
        _strip_one(photos, pk, result)
    if result.stripped or result.unreadable:
        log.info(
            "face photos an older hub kept whole: %s stripped of their metadata, %s left as"
            " they were",
            counted(result.stripped, "face photo"),
            counted(len(result.unreadable), "unreadable one"),
        )
    return result


def _strip_one(photos: Any, pk: int, result: StrippedPhotos) -> None:
    """Strip the photo ``pk`` in a transaction of its own, its row locked: a push or an
    erasure of it meanwhile either comes before (and is read) or waits."""
    with transaction.atomic(using=photos.db):
        row = (
            photos.select_for_update(of=("self",))
            .filter(pk=pk, person__isnull=False, data__isnull=False)
            .values_list("uid", "person__uid", "data")
            .first()
        )
        if row is None:  # erased meanwhile
            return
        uid, person_uid, data = row
        data = bytes(data)  # bytea may arrive as a memoryview
        try:
            kept = strip_metadata(data, f"face photo {uid} of person {person_uid}")
        except UnreadablePhotoError as error:
            log.warning("%s; kept as it is, with its metadata: erase it or enrol again", error)
            result.unreadable.append(str(uid))
            return
        if kept == data:
            return
        photos.filter(pk=pk).update(data=kept, thumbnail=None)
        result.stripped += 1
