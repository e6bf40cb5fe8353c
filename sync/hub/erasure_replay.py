"""Apply again the erasures a restore of the database undid, from the hub's erasure journal.

A database restored from a backup holds live everyone erased after the backup was taken.
``reapply_journal`` reads the journal (``sync.hub.erasure_journal``, in the hub's data
folder, which the restore did not touch) and erases again, through the hub's own erasure
(``sync.hub.apply.people.erase``: templates and photos deleted, earlier changes out of the
change log, a tombstone in it for every device), each journaled person the database holds
live. One it does not hold at all (enrolled after the backup) gets a tombstone all the same,
as a device's tombstone for an unknown person does: a device that holds them and pushes them
again after the renewal cannot bring them back. A person whose site the database does not
hold (made after the backup) is left to its devices, which cannot sync with it either, and
counted.

The reason typed is not journaled: the erasure goes again with ``REAPPLIED_REASON`` (the
consent purge's own fixed reason for the purge and a badge given again). Erasures applied
here are not journaled again: their lines are there.

``jaga hub renew-log-epoch`` runs it before it renews the epochs, and ``jaga hub run`` at
each start, before it serves: a hub restored and started before the command (or the command
forgotten) never hands out a journaled person as live. At a start after no restore the
journaled people are all erased already: the journal is read once and the database asked, a
thousand people a query, which rows are live (20,000 journaled people, all erased: 0.9 s on
a test machine of 2 shared cores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from django.db import transaction

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.people import erase
from sync.hub.erasure_journal import ErasureKind, JournaledErasure, read_journal
from sync.hub.models import Person, Site
from sync.protocol import RETENTION_REASON

REAPPLIED_REASON = (
    "erased earlier, applied again after the hub's database was restored; the reason given"
    " is not kept"
)
_BATCH = 1000
# The purge's reason names no one: it goes again as it was.
_FIXED_REASONS: dict[str, str] = {
    ErasureKind.RETENTION: RETENTION_REASON,
    ErasureKind.BADGE: RETENTION_REASON,
}


@dataclass
class Reapplied:
    """What ``reapply_journal`` did: how many journaled people it erased again (by site
    slug), how many lines it could not read, and the people whose site is gone."""

    by_site: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    no_site: list[UUID] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.by_site.values())


def reapply_journal(path: Path) -> Reapplied:
    """Erase again every person journaled at ``path`` whom the database holds live or not
    at all. OSError when the journal cannot be read."""
    journal = read_journal(path)
    done = Reapplied(unreadable=journal.unreadable)
    for start in range(0, len(journal.erasures), _BATCH):
        batch = {item.person_uid: item for item in journal.erasures[start : start + _BATCH]}
        erased = set(
            Person.objects.filter(uid__in=batch, erased_at__isnull=False).values_list(
                "uid", flat=True
            )
        )
        for uid in batch.keys() - erased:
            _reapply(batch[uid], done)
    return done


def _reapply(item: JournaledErasure, done: Reapplied) -> None:
    held = Person.objects.filter(uid=item.person_uid).values_list("site__slug", flat=True)
    site = Site.objects.filter(slug=held[0] if held else item.site).first()
    if site is None:
        done.no_site.append(item.person_uid)
        return
    with transaction.atomic():
        lock_sites(site.pk)
        person = Person.objects.select_for_update().filter(uid=item.person_uid).first()
        if person is None:
            person = Person.objects.create(uid=item.person_uid, site=site)
        elif person.erased:
            return  # erased meanwhile (a device's tombstone)
        reason = _FIXED_REASONS.get(item.kind, REAPPLIED_REASON)
        erase(person, erased_at=item.erased_at, reason=reason, origin=None, kind=None)
    done.by_site[site.slug] = done.by_site.get(site.slug, 0) + 1
