"""Idempotency keys on the hub, deleted as they age by decision retention
(``sync.hub.retention``, ``jaga hub purge-expired``).

An event's idempotency key (``AppliedEntry``) outlives it by a window: keys of access events
the hub took twice the window ago, whose event is gone, go in a pass of their own. Until then
a replayed push of a deleted event (an acknowledgement lost on the way, retried at the
device's next sync) is answered by its key and not stored again; a replay later than that
is stored again and kept a window from then. The hub never refuses or drops an event for its
date alone: a kiosk's clock can be wrong by years (a board without a clock battery), and its
decisions are then kept by when the hub took them.

The same pass deletes, as old, the keys of the other pushes wherever a replay without its
key (a lost acknowledgement retried at a boat's next sync weeks on, a store restored from a
backup, a hub restored from one: ``sync.store.resend``) is answered as the key would answer
it, acknowledged, and changes nothing, logs nothing for devices to pull (``KEYS_PURGED``):

- a face template's: templates never change and go only with their person's erasure, so a
  replay finds it (unchanged) or its person erased (superseded);
- a photo's: a device pushes a photo's metadata once, under a uid of its own
  (``sync.store``), so a replay carries what the hub holds and rewrites it as it is (a
  person's photo goes only with their erasure: superseded); photos are in no change log;
- a person's upserts and tombstones once the person is erased: erasure is final (the hub
  never deletes the row, nothing renews a consent), so an upsert is superseded and a
  tombstone finds them erased (unchanged).

The others stay for ever, as the records and change-log entries they made do:

- a live person's upserts, and a catch's (``fish_observation``: its edits, reviews and the
  pack's verdicts): a replay is settled field by field by its stamp (``sync.hub.apply.lww``),
  the device's clock clamped to the hub's plus ``JAGA_HUB_MAX_CLOCK_SKEW_S`` at the time it
  is applied. A device whose clock was further ahead than that had its edit stamped at the
  limit; its replay, later, gets a later stamp, up to the device's time, and would win the
  fields back from every edit made since (an officer's review, another device's edit),
  write the old values and log them for every device to pull. The hub cannot tell such a
  key from the others (it keeps no entry's time). A catch is never deleted, nor the
  change-log entry most of its edits add, so its keys add little to what it keeps anyway;
- a tombstone of a person not erased (``Outcome.EARLY_RETENTION``: a device clock ahead):
  replayed, it would log the person and their templates again for every device to pull;
  it goes once the purge has erased them.

A key goes, like an event's, two windows after the hub took it (a window of 0 keeps them all):
a device's lost acknowledgement is replayed at its next sync, days or weeks on for a boat
at sea, so each such replay is still answered by its key; one later than that changes
nothing either. Keys go in batches of ``BATCH`` of one entity, each its own transaction,
read from an index (migrations 0029 and 0032) from where the batch before stopped.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from sync.hub.models import AccessEvent, AppliedEntry, Person
from sync.hub.models.events import KEYS_AGED_OUT, count_purged

BATCH = 1000  # keys of one entity per transaction
# The idempotency keys retention deletes, by entity: those whose replay without them is
# answered the same and changes nothing, on the conditions ``due_keys`` adds (see the module).
KEYS_PURGED = ("access_event", *KEYS_AGED_OUT)


def due_keys(entity: str, keys_cutoff: datetime, cutoff: datetime) -> QuerySet[AppliedEntry]:
    """The keys of ``entity`` the hub took before ``keys_cutoff`` that may go (see the
    module): an access event's once its event is gone or due (before ``cutoff``), a person's
    once they are erased, a template's or a photo's as they are."""
    keys = AppliedEntry.objects.filter(entity=entity, received_at__lt=keys_cutoff)
    if entity == "access_event":
        held = AccessEvent.objects.filter(uid=OuterRef("entity_uid")).exclude(
            occurred_at__lt=cutoff, received_at__lt=cutoff
        )
        return keys.exclude(Exists(held))
    if entity == "person":
        erased = Person.objects.filter(uid=OuterRef("entity_uid"), erased_at__isnull=False)
        return keys.filter(Exists(erased))
    return keys


def purge_keys(due: QuerySet[AppliedEntry], run: int | None) -> int:
    """Delete the ``due`` keys batch by batch, counted into ``run`` (None: a dry run, which
    deletes none); how many it deleted (dry: would)."""
    if run is None:
        return int(due.count())
    total = 0
    after: tuple[datetime, int] | None = None
    while batch := _delete_keys(due, after, run):
        total += len(batch)
        after = batch[-1]
    return total


def _delete_keys(
    due: QuerySet[AppliedEntry], after: tuple[datetime, int] | None, run: int
) -> list[tuple[datetime, int]]:
    """Delete up to ``BATCH`` of the ``due`` keys, oldest first from ``after`` on (the keys
    the batch before passed over, not yet due, are not read again), in one transaction,
    counted into ``run`` in it; the (received_at, pk) of those it deleted."""
    if after is not None:
        at, pk = after
        due = due.filter(received_at__gte=at).filter(Q(received_at__gt=at) | Q(pk__gt=pk))
    with transaction.atomic():
        batch = list(due.order_by("received_at", "pk").values_list("received_at", "pk")[:BATCH])
        if batch:
            AppliedEntry.objects.filter(pk__in=[pk for _, pk in batch]).delete()
            count_purged(run, applied_entries=len(batch))
    return batch
