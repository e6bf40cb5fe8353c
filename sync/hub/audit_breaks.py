"""The records of a device's audit chain: breaks, and the pruned records and new codes kept
among them (``sync.hub.models.audit``); recording them, refusing while one is open, and
acknowledging them.

A batch that does not extend the hub's chain (``sync.hub.audit_judge``) is a break:
recorded (one open break per device), counted in the hub's metrics, shown in the admin, and
this and every later batch of the device is refused with ``audit_chain_break`` until an
operator acknowledges it. A break names the entry where the device's chain parts from the
hub's, with that entry's hash on the device: what the operator looked into. Acknowledging it
starts a new segment, which must begin with exactly that entry (refused with ``audit_gap``
until a batch brings it, and as a new break if it comes with another hash) and goes on
contiguously from there, as segment 0 goes on from entry 1: no other chain, gap or head is
taken after an acknowledgement.

A pruned record (``sync.hub.audit_pruned``) refuses nothing and opens no segment, but it is
open, counted in ``/metrics`` and listed in the admin, until an operator acknowledges it as
a break is; while it is, no new registration code is issued (``start_anew``).
"""

from __future__ import annotations

from django.utils import timezone

from sync.hub.audit_head import Head, breaks, current_head, hub_hash_at
from sync.hub.errors import HubError, OpenAuditBreakError
from sync.hub.models import AnchoredAuditEntry, AuditBreak, AuditChainState, Device
from sync.hub.models.audit import DIVERGED, OPENS_NO_SEGMENT, REISSUED, REWOUND
from sync.protocol import AUDIT_CHAIN_BREAK, AuditBatch

ACKNOWLEDGE_HINT = (
    "an operator must look into it and acknowledge the break in the hub's admin (Audit breaks)"
)


def start_anew(device: Device, by: str) -> None:
    """A new registration code is issued (``sync.hub.auth.issue_code``): a store registering
    with it starts the device's chain anew, from entry 1, as a new segment (the same store
    coming back is judged against its old chain: ``sync.hub.audit_judge``; which of them came
    is kept on the record: ``note_segment_start``). Recorded as a
    ``reissued`` entry among the breaks, acknowledged at once by ``by``. Refused with
    ``OpenAuditBreakError`` while a break is open: a code must not close it unexamined, so an
    operator acknowledges it first, with a note, under its own permission. Nothing is
    recorded for a device the hub holds no chain of. Refused as well while a pruned record
    (``pruned_start``, ``pruned_gap``) is open, naming it: a store registering with the code
    from a checkpoint would be refused (``AUDIT_PRUNED_OPEN``) until that record of the store
    before it is acknowledged, and a code must not close it unexamined either."""
    if breaks(device).filter(acknowledged_at__isnull=True).exists():
        raise OpenAuditBreakError(
            "its audit chain has an open break; acknowledge it first (Audit breaks), "
            "with what you found"
        )
    pruned = open_pruned(device)
    if pruned is not None:
        raise OpenAuditBreakError(
            f"its audit chain has {record_words(pruned)} still open, which would refuse "
            "a store registering with the new code that begins after a checkpoint; "
            "acknowledge it first (Audit breaks), with what you found"
        )
    # The replacement numbers its batches from 1 (and a number a token holder pushed up
    # goes with the token).
    AuditChainState.objects.filter(device=device).update(batch_number=0)
    if not AnchoredAuditEntry.objects.filter(device=device).exists():
        return
    who = (by or "a new registration code")[:200]
    head = current_head(device)
    reason = "a new registration code was issued: a store registering with it starts anew"
    AuditBreak.objects.create(
        device=device, segment=head.segment, sequence=head.sequence, kind=REISSUED,
        reason=reason, hub_hash=head.entry_hash, device_hash="", acknowledged_at=timezone.now(),
        acknowledged_by=who,
    )  # fmt: skip


def acknowledge(audit_break: AuditBreak, by: str, note: str = "") -> bool:
    """Close an open break (False if it was closed already), keeping who did and what they
    found: the device's next batch starts a new segment."""
    closed: int = AuditBreak.objects.filter(pk=audit_break.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=by[:200], acknowledged_note=note
    )
    return closed == 1


def refuse_while_broken(device: Device) -> None:
    open_break = breaks(device).filter(acknowledged_at__isnull=True).first()
    if open_break is not None:
        raise HubError(409, AUDIT_CHAIN_BREAK, f"{open_break.reason}; {ACKNOWLEDGE_HINT}")


def open_pruned(device: Device) -> AuditBreak | None:
    """The device's open pruned record (at most one: ``sync.hub.audit_pruned``), if any."""
    record: AuditBreak | None = (
        AuditBreak.objects.filter(
            device=device, kind__in=OPENS_NO_SEGMENT, acknowledged_at__isnull=True
        )
        .select_related("device__site")
        .first()
    )
    return record


def record_words(record: AuditBreak) -> str:
    """A record as the operator finds it among the admin's Audit breaks: its kind, the
    entry, when found, and the segment (the chain before a new code is an earlier one)."""
    return (
        f"the {record.kind} record at entry {record.sequence} (segment {record.segment}, "
        f"found {record.detected_at:%Y-%m-%d %H:%M} UTC)"
    )


def rewound(device: Device, head: Head, batch: AuditBatch, held: int) -> AuditBreak:
    reason = (
        f"the device's audit chain ends at entry {batch.head_sequence}, before entry "
        f"{held} that the hub holds: its newest entries were removed, or {RESTORED_WHY}"
    )
    return break_at(
        device, head, batch.head_sequence, kind=REWOUND, reason=reason,
        device_hash=batch.head_hash, hub_hash=hub_hash_at(device, head, batch.head_sequence),
    )  # fmt: skip


RESTORED_WHY = "the store was restored from an older backup"


def diverged(
    device: Device,
    head: Head,
    sequence: int,
    hub_hash: str | None,
    device_hash: str,
    *,
    words: str = "differs from the one the hub holds",
) -> AuditBreak:
    reason = (
        f"audit entry {sequence} {words}: the device's chain was "
        f"rewritten or rewound (tampering, or {RESTORED_WHY})"
    )
    return break_at(
        device, head, sequence, kind=DIVERGED, reason=reason, device_hash=device_hash,
        hub_hash=hub_hash,
    )  # fmt: skip


def break_at(
    device: Device,
    head: Head,
    sequence: int,
    *,
    kind: str,
    reason: str,
    device_hash: str,
    hub_hash: str | None = None,
) -> AuditBreak:
    return AuditBreak(
        device=device,
        segment=head.segment,
        sequence=sequence,
        kind=kind,
        reason=reason,
        hub_hash=head.entry_hash if hub_hash is None else hub_hash,
        device_hash=device_hash,
    )
