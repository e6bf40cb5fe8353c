"""Anchor a device's audit chain: keep each batch that extends it, refuse and record one
that rewrites or rewinds it (``sync.hub.models.audit``).

The entry point (``anchor``) and its answer. The story is told where it is done: where the
hub stands in the chain, its segments and what retention leaves of them
(``sync.hub.audit_head``); how a batch is judged against it (``sync.hub.audit_judge``); a
chain whose oldest entries retention deleted on the device (``sync.hub.audit_pruned``); a
restored store's chain that begins anew at its registration (``sync.hub.audit_restart``);
breaks, recorded, refused while open and acknowledged (``sync.hub.audit_breaks``).

A batch that would take the entries a device added in the last 24 hours past the hub's
daily limit (``JAGA_HUB_AUDIT_DAILY_BYTES``, in the bytes of the entries' JSON;
``sync.hub.audit_limit``) is refused whole with ``audit_quota``, nothing of it stored, and
the refusal counted in the device's ``AuditChainState`` (the admin and ``/metrics``): a
stolen token cannot grow the table without bound, and an honest device that outgrew the
limit goes on once its earlier bytes are a day old (how far behind it is shows meanwhile).
Breaks are found whatever the limit: only what would be stored counts.

A batch numbered before the highest the hub took of the device (``AuditChainState``) is
refused as stale (``audit_stale``) before any of this: a batch held up in a queue past a
later one carries a head the chain has grown beyond, which would read as a chain rewound.
So is one numbered absurdly far past it (``_NUMBER_LEAP``), which would use the numbers
up; either way the refusal names the hub's number, which the device goes on from. A new
registration code numbers the device's batches from the start again. A batch with the
number of the last one taken is judged as any: sent again as it was (its answer lost), it
is held already, since the hub's newest entry came with it and lies at or before its head;
a device numbers each batch, kept before it is sent, one sync at a time, so another batch
with that number ending before the hub's newest entry is a chain rewound.

The batch runs in one transaction with the device's row locked, so two batches of one
device (a retry racing its original) are checked one after the other.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from sync.hub.audit_breaks import ACKNOWLEDGE_HINT, refuse_while_broken
from sync.hub.audit_head import current_head
from sync.hub.audit_judge import new_entries, note_segment_start
from sync.hub.audit_limit import over_daily_limit
from sync.hub.audit_pruned import pruned_record
from sync.hub.auth import usable
from sync.hub.errors import HubError
from sync.hub.models import AnchoredAuditEntry, AuditBreak, AuditChainState, Device
from sync.hub.models.audit import OPENS_NO_SEGMENT
from sync.protocol import (
    AUDIT_CHAIN_BREAK,
    AUDIT_QUOTA,
    AUDIT_STALE,
    AuditBatch,
    AuditCheckpoint,
    AuditLink,
    AuditReceipt,
)


def anchor(
    device: Device, batch: AuditBatch, checkpoint: AuditCheckpoint | None = None
) -> AuditReceipt:
    """Store what ``batch`` adds to the device's chain, or raise ``HubError`` (409).
    ``checkpoint``: where the device's kept chain begins, when retention deleted its oldest
    entries (``AUDIT_CHECKPOINT_HEADER``)."""
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        device = usable(locked if locked.token_hash == device.token_hash else None)
        state = _refuse_stale(device, batch.batch_number)
        refuse_while_broken(device)
        head = current_head(device)
        pruned = pruned_record(device, head, batch, checkpoint)
        checked: list[AuditLink] | AuditBreak
        if pruned is None:
            checked = new_entries(device, head, batch)
        elif pruned.kind in OPENS_NO_SEGMENT:
            checked = list(batch.entries)
        else:  # a gap in entries the hub holds, with nothing to show it lost them: a break
            checked, pruned = pruned, None
        anchored = head.sequence
        over = ""
        if isinstance(checked, AuditBreak):
            checked.save()  # kept: the refusal below comes after the commit
        elif checked and not (over := over_daily_limit(state, checked)):
            AnchoredAuditEntry.objects.bulk_create(
                AnchoredAuditEntry(device=device, segment=head.segment, **link.model_dump())
                for link in checked
            )
            if pruned is not None:
                pruned.save()
            state.entries += len(checked)  # counted here, under the lock: /metrics reads it
            anchored = checked[-1].sequence
            if head.sequence == 0 and head.segment > 0:
                note_segment_start(device, head, checked[0])
        _note_heads(state, batch, anchored)
    if isinstance(checked, AuditBreak):
        raise HubError(409, AUDIT_CHAIN_BREAK, f"{checked.reason}; {ACKNOWLEDGE_HINT}")
    if over:  # counted in the device's state, committed
        raise HubError(409, AUDIT_QUOTA, over)
    if not checked:  # all held already
        return AuditReceipt(sequence=head.sequence, entry_hash=head.entry_hash, stored=0)
    last = checked[-1]
    return AuditReceipt(sequence=last.sequence, entry_hash=last.entry_hash, stored=len(checked))


# How far past the last number taken a batch's may leap. The device adds one a batch, so it
# leaps only by the batches the hub did not take (refused while a break was open, lost on
# the way): a million is years of syncs. A token holder's batch could otherwise take the
# largest number there is, and the device's next one would fail its own bounds; at this
# leap, using up the numbers takes some 10^13 batches. A device past it (or a new store
# numbering from 1 before the hub's number) is told the number to go on from, and does.
_NUMBER_LEAP = 1_000_000


def _refuse_stale(device: Device, number: int) -> AuditChainState:
    """Refuse a batch numbered before one the hub took: it waited past a later batch, and
    its head is one the chain has grown beyond, not a chain rewound. Refuse one numbered
    more than ``_NUMBER_LEAP`` past it the same way: the device numbers from the hub's."""
    state: AuditChainState = AuditChainState.objects.get_or_create(device=device)[0]
    if number < state.batch_number:
        why = "is older than batch {last}, which the hub already took: stale"
    elif number > state.batch_number + _NUMBER_LEAP:
        why = "is too far past batch {last}, the last the hub took: number on from it"
    else:
        state.batch_number = number
        return state
    last = state.batch_number
    reason = f"audit batch {number} {why.format(last=last)}, not taken"
    raise HubError(409, AUDIT_STALE, reason, expected_offset=last)


def _note_heads(state: AuditChainState, batch: AuditBatch, anchored: int) -> None:
    """Keep the batch's number, the head the device reported and the hub's newest entry
    (even with a break: the head is what the device said)."""
    state.reported_sequence = batch.head_sequence
    state.reported_at = timezone.now()
    state.anchored_sequence = anchored
    state.save()
