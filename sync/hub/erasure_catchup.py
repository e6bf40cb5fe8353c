"""Journal the erasures the hub's database holds and its erasure journal lacks.

An erasure's line is appended once its transaction commits (``erasure_journal``), so a hub
process killed between the commit and the append, or an append that fails (a full disk, a
journal made unwritable, a ``hub-id`` file damaged), leaves an erasure in the database that
no line names; so do erasures made before the journal existed (a hub upgraded to it). A
restore from a backup older than such an erasure would bring the person back, silently.

So the database says which erasures are known to be journaled (``Person.journaled_at``: set
after the append succeeded, outside the erasure's transaction, and by the replay for each
erased person a line of this hub names), and ``catch_up_journal`` appends a line for each
erased person not so marked, then marks them. ``jaga hub run`` runs it at each start and
``jaga hub renew-log-epoch`` each time, both right after the replay
(``cli_restore.reapply_erasures``): a lost line is a window until the next start, not a
hole. It reads the erased people not yet marked through an index of them alone, a thousand
a query, in the order of their rows, and writes each thousand with one append (one lock,
one sync): a start with nothing to catch up reads an empty index, and the memory it takes
does not grow with the database.

A process killed between the append and the mark leaves lines the next catch-up writes
again: the replay erases a person named twice once (their first line). A person the
database no longer holds cannot be journaled from it (a site is never deleted while it
holds people, so that is a database restored from a backup that never held them: their
line, if any, is in the journal); ``SitelessErasure`` rows come from journal lines, which
are there already; lines of other hubs are theirs to write.

What erased the person is not kept on their row: a line written here says ``retention``
for an erasure with the consent purge's reason (the purge's, or a badge given again: both
go again with that fixed reason), else ``caught_up`` (``ErasureKind.CAUGHT_UP``), which the
replay applies again with its own fixed reason, as it does every kind but the purge's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID

from django.db import DatabaseError
from django.db.models.functions import Now

from sync.hub.erasure_journal import JOURNAL_FILE, ErasureKind, JournaledErasure, append
from sync.hub.erasure_journal import hub_identity as _hub_identity
from sync.hub.models import Person
from sync.protocol import RETENTION_REASON

BATCH = 1000
_log = logging.getLogger(__name__)


def mark_journaled(uids: Iterable[UUID]) -> None:
    """Mark the erased people ``uids`` as journaled (their lines are in the journal); a
    failure is logged, never raised: the lines are written, and the next catch-up writes
    them again, which the replay reads as one."""
    try:
        unmarked = Person.objects.filter(erased_at__isnull=False, journaled_at=None)
        unmarked.filter(uid__in=list(uids)).update(journaled_at=Now())
    except DatabaseError as error:
        _log.error("could not mark erasures as journaled (%s): they are journaled again", error)


def catch_up_journal(data: Path) -> int:
    """Append to the journal of the data folder ``data`` a line for each erased person the
    database holds and has not marked journaled, a batch at a time, marking each batch once
    its lines are synced; how many. Raises what appending raises (``OSError``,
    ``JournalNotAFileError``, ``JournalFileError`` for a ``hub-id`` it cannot read), the
    batches before kept and marked."""
    path = data / JOURNAL_FILE
    hub = _hub_identity(data)
    pending = Person.objects.filter(erased_at__isnull=False, journaled_at=None).order_by("pk")
    last, count = 0, 0
    while True:
        rows = list(
            pending.filter(pk__gt=last).values_list(
                "pk", "uid", "site__slug", "erased_at", "erasure_reason"
            )[:BATCH]
        )
        if not rows:
            return count
        lines = (
            JournaledErasure(uid, slug, at, _kind(reason), hub).line(data)
            for _, uid, slug, at, reason in rows
        )
        append(path, b"".join(lines))
        marked = [row[0] for row in rows]
        Person.objects.filter(pk__in=marked).update(journaled_at=Now())
        count += len(rows)
        last = marked[-1]


def forget_journaled() -> int:
    """Clear the journaled mark of every erased person: after an older copy of the journal
    was put in place (a new host), the erasures made since that copy hold the mark but no
    line. The replay then marks again those a line names, and the catch-up writes the rest
    (once: the replay erases a person named twice once). How many marks it cleared."""
    marked = Person.objects.filter(erased_at__isnull=False).exclude(journaled_at=None)
    return int(marked.update(journaled_at=None))


def _kind(reason: str) -> str:
    return ErasureKind.RETENTION if reason == RETENTION_REASON else ErasureKind.CAUGHT_UP
