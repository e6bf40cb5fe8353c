"""Apply again the erasures a restore of the database undid, from the hub's erasure journal.

A database restored from a backup holds live everyone erased after the backup was taken.
``reapply_journal`` reads the journal (``sync.hub.erasure_journal``, in the hub's data
folder, which the restore did not touch) and erases again, through the hub's own erasure
(``sync.hub.apply.erase.erase``: templates and photos deleted, earlier changes out of the
change log, a tombstone in it for every device), each journaled person the database holds
live. One it does not hold at all (enrolled after the backup) gets a tombstone all the same,
as a device's tombstone for an unknown person does: a device that holds them and pushes them
again after the renewal cannot bring them back. A person whose site the database does not
hold either (made after the backup) is kept in ``SitelessErasure`` and erased when a site of
that slug is made again (``apply_siteless_erasures``, in the transaction that makes it: the
admin's, or ``jaga hub create-device``'s), before any of its devices can push them; the push
path pays nothing for it.

Each line names the hub that wrote it (``erasure_journal.hub_identity``: the ``hub-id`` file
beside the journal, which follows no key; lines written before it with the current key's
identity are this hub's too, ``own_identities``). A line of another hub (a staging hub's
journal joined by mistake) is skipped and listed, unless the operator accepts other hubs'
lines (``other_hubs``: to join the journal of a hub that ran with another key); the hubs
accepted are then kept (``erasure_journal.accept_hubs``) and every later replay takes their
lines as this hub's own. A line with
no hub, written before lines named theirs, is taken as this hub's: it lies in this hub's own
data folder, and no other hub wrote lines then (the journal and the identity came in the
same release window).

The reason typed is not journaled: the erasure goes again with ``REAPPLIED_REASON`` (the
consent purge's own fixed reason for the purge and a badge given again). Erasures applied
here are not journaled again: their lines are there; they, and the erased people the
journal names, are marked journaled (``Person.journaled_at``), so the catch-up that runs
after the replay (``sync.hub.erasure_catchup``) writes lines only for erasures no line
names.

``jaga hub renew-log-epoch`` runs it before it renews the epochs, and ``jaga hub run`` at
each start, before it serves: a hub restored and started before the command (or the command
forgotten) never hands out a journaled person as live. At a start after no restore the
journaled people are all erased already: the journal is read as a stream and the database
asked, a thousand people a query, which rows are live, so the memory a start takes does not
grow with the journal (20,000 journaled people, all erased: 0.9 s on a test machine of 2
shared cores).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.erase import erase
from sync.hub.erasure_catchup import mark_journaled
from sync.hub.erasure_journal import (
    ErasureKind,
    JournaledErasure,
    JournalReading,
    own_identities,
)
from sync.hub.models import Person, Site, SitelessErasure
from sync.protocol import RETENTION_REASON

REAPPLIED_REASON = (
    "erased earlier, applied again after the hub's database was restored; the reason given"
    " is not kept"
)
_BATCH = 1000
_log = logging.getLogger(__name__)
# The purge's reason names no one: it goes again as it was.
_FIXED_REASONS: dict[str, str] = {
    ErasureKind.RETENTION: RETENTION_REASON,
    ErasureKind.BADGE: RETENTION_REASON,
}


@dataclass
class Reapplied:
    """What ``reapply_journal`` did: how many journaled people it erased again (by site
    slug), how many lines it could not read, the people whose site is gone (kept until it is
    made again: ``no_site`` newly, ``still_kept`` by an earlier replay), and the lines of
    another hub (skipped; the first ``LISTED`` of them kept, or ``accepted``: the hubs of
    the lines applied as the operator asked, to be kept as this hub's own)."""

    by_site: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    no_site: int = 0
    still_kept: int = 0
    other_hub: int = 0
    other_hub_listed: list[UUID] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return sum(self.by_site.values())


LISTED = 50


def reapply_journal(path: Path, *, other_hubs: bool = False) -> Reapplied:
    """Erase again every person journaled at ``path`` whom the database holds live or not
    at all; ``other_hubs``: lines of another hub too. Raises what reading the journal
    raises (``JournalReading``)."""
    reading = JournalReading(path)
    done = Reapplied()
    ours = own_identities(path.parent)
    batch: dict[UUID, JournaledErasure] = {}
    for item in reading:
        if item.hub not in ours:
            if other_hubs and item.hub is not None:
                done.accepted.add(item.hub)
            else:
                _skip(item, done)
                continue
        batch.setdefault(item.person_uid, item)  # a person named twice: the first line
        if len(batch) == _BATCH:
            _reapply_batch(batch, done)
            batch = {}
    _reapply_batch(batch, done)
    done.unreadable = reading.unreadable
    return done


def other_hub_lines(path: Path) -> Reapplied:
    """The lines of the journal at ``path`` that ``reapply_journal`` without ``other_hubs``
    would skip as another hub's (``other_hub``, the first ``LISTED`` listed), nothing
    applied: ``rejournal-erasures`` looks before it clears a mark. Raises what reading the
    journal raises."""
    ours = own_identities(path.parent)
    found = Reapplied()
    for item in JournalReading(path):
        if item.hub not in ours:
            _skip(item, found)
    return found


def _skip(item: JournaledErasure, done: Reapplied) -> None:
    done.other_hub += 1
    if len(done.other_hub_listed) < LISTED:
        done.other_hub_listed.append(item.person_uid)


def _reapply_batch(batch: dict[UUID, JournaledErasure], done: Reapplied) -> None:
    """One query for the batch's people erased already (all of them after no restore), one
    to mark those journaled (``erasure_catchup``: none left to mark after the first start),
    and one for those an earlier replay kept for a site still missing (the database holds
    no one of that uid): neither costs more; a person named again in a later batch is
    erased or kept by then."""
    erased = set(
        Person.objects.filter(uid__in=batch, erased_at__isnull=False).values_list("uid", flat=True)
    )
    if erased:  # their lines are here: the catch-up need not write them again
        mark_journaled(erased)
    rest = batch.keys() - erased
    kept = set(
        SitelessErasure.objects.filter(person_uid__in=rest)
        .exclude(site_slug__in=Site.objects.values("slug"))
        .exclude(person_uid__in=Person.objects.values("uid"))
        .values_list("person_uid", flat=True)
    ) if rest else set()  # fmt: skip
    done.still_kept += len(kept)
    for uid in rest - kept:
        _reapply(batch[uid], done)


def _reapply(item: JournaledErasure, done: Reapplied) -> None:
    held = Person.objects.filter(uid=item.person_uid).values_list("site__slug", flat=True)
    site = Site.objects.filter(slug=held[0] if held else item.site).first()
    if site is None:
        SitelessErasure.objects.get_or_create(
            person_uid=item.person_uid,
            defaults={"site_slug": item.site, "erased_at": item.erased_at, "kind": item.kind},
        )
        done.no_site += 1
        return
    with transaction.atomic():
        lock_sites(site.pk)
        if _erase(site, item.person_uid, item.erased_at, item.kind):
            done.by_site[site.slug] = done.by_site.get(site.slug, 0) + 1


def _erase(site: Site, uid: UUID, erased_at: datetime, kind: str) -> bool:
    """Erase ``uid`` on ``site`` (a tombstone if not held), the caller in a transaction with
    the site locked; False when they are erased already (meanwhile: a device's tombstone),
    or held by another site, whose lock is not held (a kept uid of a site made again)."""
    person = Person.objects.select_for_update().filter(uid=uid).first()
    if person is not None and person.site_id != site.pk:
        _log.warning(
            "journaled erasure of person %s kept for site %s not applied: they are of site %s",
            uid, site.slug, person.site.slug,
        )  # fmt: skip
        return False
    if person is None:
        person = Person.objects.create(uid=uid, site=site)
    elif person.erased:
        return False
    reason = _FIXED_REASONS.get(kind, REAPPLIED_REASON)
    person.journaled_at = timezone.now()  # its line is what this applies
    erase(person, erased_at=erased_at, reason=reason, origin=None, kind=None)
    return True


def apply_siteless_erasures(site: Site) -> int:
    """Apply, in the caller's transaction that made ``site``, the journaled erasures kept
    for its slug (``SitelessErasure``), and forget them; how many. A new site has nothing
    in its log yet: its first device pulls the tombstones."""
    kept = list(SitelessErasure.objects.select_for_update().filter(site_slug=site.slug))
    if not kept:
        return 0
    lock_sites(site.pk)
    for item in kept:
        _erase(site, item.person_uid, item.erased_at, item.kind)
    SitelessErasure.objects.filter(pk__in=[item.pk for item in kept]).delete()
    return len(kept)
