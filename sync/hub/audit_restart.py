"""A device's chain that begins anew at its registration's entry: a break recorded there.

A store restored from a backup that holds no audit start for the device it stays registered
as (made before ``jaga sync register``, or by another device of the site) appends the
device's registration entry (``REGISTERED_ACTION``, ``sync.store.audit_begins``) and its
anchoring begins there (``sync.client.audit_start``): the device sends that entry and what
follows it, never what the restored chain holds before it. Where the hub holds entries of the
device's current segment, such a chain does not go on from them: what the hub took after the
backup is not in it, and its registration entry lies before the segment's first entry, at an
entry the hub holds with another hash, or past the hub's newest. Judged as any batch it was a
break at an entry after the registration's (which was then never anchored), or at the hub's
newest entry (which the device never sends: it lies before its start), or a gap the device
was told to fill from before its start: refused for good, and nothing recorded.

So it is a break (``RESTARTED``) at the registration's entry, with that entry's hash on the
device: recorded, counted and refused as any break (``sync.hub.audit_breaks``) until an operator
acknowledges it; the next segment then begins with exactly that entry, which the device sends
first. A batch that begins with a registration entry the hub holds with the same hash (sent
again), or that follows the hub's newest entry, is judged as any batch.
"""

from __future__ import annotations

from sync.hub.audit_head import Head
from sync.hub.models import AnchoredAuditEntry, AnchoredCheckpoint, AuditBreak, Device
from sync.hub.models.audit import RESTARTED
from sync.protocol import AuditBatch, AuditLink, registered_device


def restarted(device: Device, head: Head, batch: AuditBatch) -> AuditBreak | None:
    """The break (not saved yet) where ``batch`` begins with this device's registration
    entry and does not go on from ``head``, the hub's newest entry of a segment that holds
    some; None: judged as any batch."""
    first = batch.entries[0] if batch.entries else None
    if head.sequence == 0 or first is None:
        return None  # a segment the hub holds none of takes a registration's start as it is
    if registered_device(first) != str(device.uid).lower() or _goes_on(device, head, first):
        return None
    return AuditBreak(
        device=device, segment=head.segment, sequence=first.sequence, kind=RESTARTED,
        reason=_reason(device, head, first),
        hub_hash=_held_hash(device, head.segment, first.sequence) or "",
        device_hash=first.entry_hash,
    )  # fmt: skip


def _goes_on(device: Device, head: Head, first: AuditLink) -> bool:
    """Whether ``first`` continues the segment: it follows the newest entry, or is one the
    segment holds with the same hash (a batch sent again)."""
    if first.sequence == head.sequence + 1:
        return first.prev_hash == head.entry_hash
    if first.sequence > head.sequence or first.sequence < _began(device, head):
        return False
    held = _held_hash(device, head.segment, first.sequence)
    # Deleted by retention, its hash not kept: the entries after it tell; judged as any batch.
    return held is None or held == first.entry_hash


def _began(device: Device, head: Head) -> int:
    """The entry the segment began with, before retention deleted any (its checkpoint's)."""
    kept = AnchoredCheckpoint.objects.filter(device=device, segment=head.segment)
    began = kept.values_list("first_sequence", flat=True).first()
    return head.first if began is None else int(began)


def _held_hash(device: Device, segment: int, sequence: int) -> str | None:
    """The hash the hub holds (or its checkpoint kept) for ``sequence`` in ``segment``."""
    held = AnchoredAuditEntry.objects.filter(device=device, segment=segment, sequence=sequence)
    digest = held.values_list("entry_hash", flat=True).first()
    if digest is not None:
        return str(digest)
    for checkpoint in AnchoredCheckpoint.objects.filter(device=device, segment=segment):
        if checkpoint.sequence == sequence:
            return str(checkpoint.entry_hash)
        if checkpoint.first_sequence == sequence:
            return str(checkpoint.first_hash)
    return None


def _reason(device: Device, head: Head, first: AuditLink) -> str:
    began = _began(device, head)
    if first.sequence > head.sequence:
        where = f"past entry {head.sequence}, the newest the hub holds, which it does not follow"
    elif first.sequence < began:
        where = f"before entry {began}, where the hub's copy of this segment begins"
    else:
        where = "where the hub holds another entry"
    return (
        f"the device's audit chain begins anew at entry {first.sequence}, a registration entry "
        f"of this device, {where}: the entries the hub holds of it up to entry "
        f"{head.sequence} are not in that chain. A restore of a backup that holds no audit "
        "start for this device (made before it registered, or by another device) appends "
        "such an entry; if none was made, look into it as into tampering"
    )
