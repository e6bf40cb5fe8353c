"""Erasure on the hub: a person blanked, their templates, photos and earlier changes gone.

The one path of every erasure the hub applies (a device's tombstone, the admin, the daily
purge, a badge's holder past retention, a replay of the journal): apart from the people's
pushes (``sync.hub.apply.people``), so those who only erase need not read how pushes merge.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from sync.hub.apply.changes import append_change
from sync.hub.erasure_journal import ErasureKind, JournaledErasure, journal_on_commit
from sync.hub.models import Change, Device, ErasedChange, Person
from sync.protocol import PersonTombstone, change_fingerprint


def erase(
    person: Person,
    *,
    erased_at: datetime,
    reason: str,
    origin: Device | None,
    kind: ErasureKind | None,
) -> None:
    """Blank the person, delete their templates and photos, and tell the site's devices.

    Earlier changes about the person (their upserts carry the personal data) leave the change
    log too (only their fingerprints kept: ``ErasedChange``), so a device that first syncs
    after the erasure never receives them; devices that already have them (or pull from an
    older cursor) receive the tombstone. So does their name
    in the admin's history (``_forget_in_admin_history``). Runs inside the caller's
    transaction with the person's row locked. Deleted and blanked rows stay in PostgreSQL's
    files as dead rows until the tables are rewritten (``sync.hub.reclaim``, daily).

    Once the caller's transaction commits, the erasure is journaled as ``kind`` in the hub's
    data folder (``sync.hub.erasure_journal``), so a restore of the database cannot undo it;
    ``kind`` None: one applied again from that journal (``sync.hub.erasure_replay``), there
    already.
    """
    related = [person.uid, *person.templates.values_list("uid", flat=True),
               *person.photos.values_list("uid", flat=True)]  # fmt: skip
    earlier = Change.objects.filter(site=person.site, entity_uid__in=related)
    # Their fingerprints stay, for the log's safety net (``sync.hub.log_epoch``).
    ErasedChange.objects.bulk_create(
        [
            ErasedChange(site=person.site, cursor=cursor, fingerprint=change_fingerprint(
                cursor, entity, entity_uid, operation, changed_at
            ))
            for cursor, entity, entity_uid, operation, changed_at in earlier.values_list(
                "cursor", "entity", "entity_uid", "operation", "changed_at"
            )
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    earlier.delete()
    person.templates.all().delete()
    person.photos.all().delete()
    name = person.display_name
    person.external_id = ""
    person.display_name = ""
    person.consent = {}
    person.field_versions = {}
    person.erased_at = min(erased_at, timezone.now())
    person.erasure_reason = reason
    person.save()
    _forget_in_admin_history(person, name)
    if kind is not None:
        journal_on_commit(
            JournaledErasure(person.uid, person.site.slug, person.erased_at, str(kind))
        )
    tombstone = PersonTombstone(person_uid=person.uid, erased_at=person.erased_at, reason=reason)
    append_change(
        person.site,
        "person",
        person.uid,
        "tombstone",
        tombstone.model_dump(mode="json"),
        origin=origin,
    )


def _forget_in_admin_history(person: Person, name: str) -> None:
    """Django's admin history (``LogEntry``, its "Recent actions") names what it logged by
    ``str()`` at the time: the person's entries now name them as erased, with no message,
    and a message elsewhere that names them is emptied. The entries themselves stay: who
    acted, on what, when."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Person), object_id=str(person.pk)
    )
    entries.update(object_repr=str(person)[:200], change_message="")
    if name:
        LogEntry.objects.filter(change_message__contains=name).update(change_message="")
