"""Erasure reasons on the hub, forgotten as they age by decision retention
(``sync.hub.retention``, ``jaga hub purge-expired``).

An erasure's reason, as an operator typed it on a device or the admin wrote it, may name
whoever asked ("asked by her lawyer ..."): the hub keeps it on the erased person's row (the
admin shows it) and in their tombstone in the change log (devices pull it) for the same
window after it took the erasure (the erasure's time and the row's ``updated_at``, the
hub's clock), then gives both ``REASON_NOT_KEPT`` instead, in batches of ``BATCH`` people
(``forget_reasons``). The tombstone stays, so a device that pulls it later still erases
the person; a device's replay of its tombstone is answered by its idempotency key as
before. The retention purge's own reason (``RETENTION_REASON``) and the one an erasure applied
again after a restore gets (``sync.hub.erasure_replay.REAPPLIED_REASON``) name no one and stay.
A window of 0 keeps the reasons for ever too. Saved anew, the rows make the next rewrite of
the tables due (``sync.hub.reclaim``), which takes the reason's old copies out of those two
tables' files.

It does not reach the anchored audit chains (``sync.hub.models.audit``): the erasing
device's ``person.erased`` entry holds the reason typed, and so does the one each device
that held the person writes when it pulls the tombstone (``sync.client.apply``), each
anchored on the hub on its device's clock. A hash-chained entry cannot be blanked without
breaking its chain, so they go by audit retention (``sync.hub.chain_retention``): only as
their segment's prefix once due, never while a break or pruned record of the device is
open, and never the segment's newest entry, which a device that writes nothing after it
(retired, or its segment left behind by a new registration) keeps for good. An entry
deleted stays in ``hub_anchoredauditentry``'s file as a dead row until PostgreSQL reuses
its space: ``ERASED_DATA_TABLES`` leaves that table out, as a ``VACUUM FULL`` of every
device's audit entries would lock out every device's audit push for as long as it ran.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from sync.hub.erasure_replay import REAPPLIED_REASON
from sync.hub.models import Person
from sync.protocol import RETENTION_REASON

# What an erasure gives for the reason typed once it is a window old (``forget_reasons``).
REASON_NOT_KEPT = "erased more than the decision window ago; the reason given is no longer kept"
_FORGET_TOMBSTONE_REASONS = (
    "UPDATE hub_change SET payload = jsonb_set(payload, '{reason}', to_jsonb(%s::text))"
    " WHERE entity = 'person' AND operation = 'tombstone' AND entity_uid = ANY(%s)"
)
BATCH = 1000  # people per transaction


def reasons_due(cutoff: datetime) -> QuerySet[Person]:
    """The people erased, and whose erasure the hub took (``updated_at``: nothing saves an
    erased person again), before ``cutoff``, who still have the reason typed."""
    return Person.objects.filter(erased_at__lt=cutoff, updated_at__lt=cutoff).exclude(
        erasure_reason__in=("", REASON_NOT_KEPT, RETENTION_REASON, REAPPLIED_REASON)
    )


def forget_reasons(cutoff: datetime, *, dry_run: bool) -> int:
    """How many people due (``reasons_due``) had their reasons forgotten (dry: would)."""
    if dry_run:
        return int(reasons_due(cutoff).count())
    total = 0
    while forgotten := _forget_batch(cutoff):
        total += forgotten
    return total


def _forget_batch(cutoff: datetime) -> int:
    """Give up to ``BATCH`` people due (``reasons_due``), and their tombstones in the change
    log, ``REASON_NOT_KEPT`` for the reason typed, in one transaction; how many. Saved now,
    they make the next rewrite of the tables due (``sync.hub.reclaim``), which takes the old
    rows out of the files."""
    with transaction.atomic():
        due = reasons_due(cutoff).select_for_update().order_by("pk")
        rows: list[tuple[int, UUID]] = list(due.values_list("pk", "uid")[:BATCH])
        if rows:
            Person.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                erasure_reason=REASON_NOT_KEPT, updated_at=timezone.now()
            )
            with connection.cursor() as cursor:
                cursor.execute(_FORGET_TOMBSTONE_REASONS, [REASON_NOT_KEPT, [u for _, u in rows]])
    return len(rows)
