"""Judge a batch against the newest segment the hub holds for its device: the links it
adds, or the break where it does not extend the chain (``sync.hub.audit``).

A batch (already checked by its wire model: every hash matches its entry's fields, and the
entries follow each other up to at most the device's head, its chain's newest entry) is
compared with the newest segment the hub holds for the device (``sync.hub.audit_head``):

* an entry at a sequence the hub holds must carry the same hash: it is held already (a
  batch sent again after its answer was lost), and is skipped;
* the first entry past the hub's newest must follow it (its ``prev_hash`` is the hub's
  newest hash): it and the rest are stored;
* the device's head, if the hub holds it, must carry the same hash (else the chain was
  rewritten there: ``diverged``, even before the hub's newest entry, since a restored
  backup would have appended ``store.restored`` after it), and must not lie before the
  hub's newest entry (its newest entries were removed: ``rewound``);
* a first entry further on leaves a gap: refused with ``audit_gap`` and the sequence to send
  from (a device whose note of what the hub holds is ahead of the hub, which is not a break);
  but for a chain whose oldest entries retention deleted on the device, which names its
  checkpoint (``sync.hub.audit_pruned``);
* a batch that begins with the entry of the device's registration (``REGISTERED_ACTION``,
  naming this device's id), to a hub that holds none of the device's segment (a device
  registered anew, or a new store after a new code), is taken from there, with no record:
  the device's anchoring begins at its registration, and what the store recorded before it
  (another hub's or another site's records) is not this hub's to hold. Its previous hash
  links it to that chain; the entries from it on are judged as any. To a hub that holds
  entries of the segment, one that does not go on from them is a break at that entry
  (``restarted``: a restored store's, ``sync.hub.audit_restart``);
* anything else is a break (``sync.hub.audit_breaks``). A segment an acknowledged break
  opened begins with exactly the entry it names; one a new registration code opened, with
  a new store's entry 1, or with the same store's chain going on from before the code.
"""

from __future__ import annotations

from sync.hub.audit_breaks import RESTORED_WHY, break_at, diverged, rewound
from sync.hub.audit_head import Head, held_hashes, held_link, opened_by, segment_head
from sync.hub.audit_restart import restarted
from sync.hub.errors import HubError
from sync.hub.models import AnchoredAuditEntry, AnchoredCheckpoint, AuditBreak, Device
from sync.hub.models.audit import REISSUED, UNLINKED
from sync.protocol import AUDIT_GAP, AuditBatch, AuditLink, registered_device

_REWRITTEN = f"the device's chain was rewritten or rewound before it (tampering, or {RESTORED_WHY})"


def new_entries(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The links past the head, once those the hub holds and the device's head are checked
    against it; or the break (not saved yet) where they do not extend it."""
    if head.sequence == 0 and head.segment > 0:
        return _segment_start(device, head, batch)
    if head.sequence == 0 and registration_start(device, batch):
        return list(batch.entries)
    restart = restarted(device, head, batch)  # a restored store's, where the hub holds some
    return _extension(device, head, batch) if restart is None else restart


def _extension(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The links past ``head`` (the segment holds entries, or begins at entry 1), checked as
    ``new_entries`` says."""
    # Entries before the segment's first were judged by the break that opened it (the
    # first's hash covers them), or were held and deleted by retention (the checkpoint's
    # hash, which the first held follows, covers them): left out, as entries held already
    # are, and never taken as a break or a rewrite.
    links = [link for link in batch.entries if link.sequence >= head.first]
    if links and links[0].sequence > head.sequence + 1:
        raise _gap(head.sequence, links[0].sequence)
    held = held_hashes(device, head, links, batch.head_sequence)
    for link in links:
        if link.sequence <= head.sequence and held.get(link.sequence) != link.entry_hash:
            return diverged(device, head, link.sequence, held.get(link.sequence), link.entry_hash)
    new = [link for link in links if link.sequence > head.sequence]
    if new and new[0].prev_hash != head.entry_hash:
        # Recorded at the entry where the chains part: the hub's newest, which the device's
        # next entry says hashes otherwise there.
        reason = (
            f"audit entry {new[0].sequence} does not follow entry {head.sequence} as the hub "
            f"holds it: {_REWRITTEN}"
        )
        return break_at(
            device, head, head.sequence, kind=UNLINKED, reason=reason,
            device_hash=new[0].prev_hash,
        )  # fmt: skip
    # A head the hub holds with another hash is a rewrite, even before the hub's newest: a
    # restored backup would have appended store.restored after it, not ended there.
    claimed = held.get(batch.head_sequence)
    if claimed is not None and claimed != batch.head_hash:
        return diverged(device, head, batch.head_sequence, claimed, batch.head_hash)
    if batch.head_sequence < head.sequence:
        return rewound(device, head, batch, head.sequence)
    return new


def _segment_start(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The first links of a segment an acknowledged break opened: from exactly the entry the
    break names, with the hash the operator saw there; or from entry 1 (a new store's
    creation) after a new registration code."""
    # The break found in the segment before, acknowledged: it opened this one (by segment,
    # not by when it was acknowledged, which another worker's clock may have put later).
    opened = opened_by(device, head)
    if opened.kind == REISSUED:
        return _after_reissue(device, head, batch)
    if batch.head_sequence < opened.sequence:
        return rewound(device, head, batch, opened.sequence)
    links = [link for link in batch.entries if link.sequence >= opened.sequence]
    if not links or links[0].sequence > opened.sequence:
        sent = links[0].sequence if links else batch.head_sequence + 1
        raise _gap(
            opened.sequence - 1, sent, why=f"the acknowledged break at entry {opened.sequence}"
        )
    if links[0].entry_hash != opened.device_hash:
        return diverged(
            device, head, opened.sequence, opened.device_hash, links[0].entry_hash,
            words="differs from the one the acknowledged break at it named",
        )  # fmt: skip
    return links


def registration_start(device: Device, batch: AuditBatch) -> bool:
    """Whether ``batch`` begins with the entry of this device's registration: the device's
    anchoring begins there (``sync.client.audit_start``), linked to the chain before it by
    its previous hash alone, and what came before (another hub's or site's records) is not
    this hub's. Taken only where the hub holds none of the device's current segment, as a
    chain from entry 1 is."""
    first = batch.entries[0] if batch.entries else None
    return first is not None and registered_device(first) == str(device.uid).lower()


def new_chain_after_code(device: Device, head: Head, batch: AuditBatch) -> bool:
    """Whether ``head``'s segment was opened by a new code, and ``batch`` does not extend
    the chain before it (else it goes on from that chain: ``_after_reissue``)."""
    if opened_by(device, head).kind != REISSUED:
        return False
    return not _extending(device, segment_head(device, head.segment - 1), batch)


def _after_reissue(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The first links after a new registration code: a new store's chain, from entry 1.
    An entry 1 the hub holds in an earlier segment is the same store come back (entry 1 is
    its creation): it is judged against the segment before the code, its old chain, and
    what extends that goes on in the new segment after a copy of that segment's newest
    entry, so the next batches go on from there; a rewrite is a break, as it would have
    been without the code. A batch not from entry 1 is taken only where it extends the old
    chain (the same store, sent on from where that chain's judge told it to)."""
    first = batch.entries[0] if batch.entries else None
    old = segment_head(device, head.segment - 1)
    if first is None or first.sequence != 1:
        # Only what extends the old chain (where the old chain's own judge sent the same
        # store); anything else is told to start from entry 1, with no break recorded.
        extending = _extending(device, old, batch)
        if extending:
            return [*held_link(device, old), *extending]
        if registration_start(device, batch):  # a new store, from its registration on
            return list(batch.entries)
        sent = first.sequence if first else batch.head_sequence + 1
        raise _gap(0, sent, why="a new registration code starts this device's chain anew")
    earlier = AnchoredAuditEntry.objects.filter(
        device=device, segment__lt=head.segment, sequence=1, entry_hash=first.entry_hash
    )
    # Entry 1 deleted by retention since (``sync.hub.retention``): its checkpoint kept it.
    deleted = AnchoredCheckpoint.objects.filter(
        device=device, segment__lt=head.segment, first_sequence=1, first_hash=first.entry_hash
    )
    if not earlier.exists() and not deleted.exists():
        return batch.entries
    checked = new_entries(device, old, batch)
    if isinstance(checked, AuditBreak):
        checked.segment = head.segment
        return checked
    return [*held_link(device, old), *checked]


def note_segment_start(device: Device, head: Head, first: AuditLink) -> None:
    """After a new code, keep on its record whether the segment it opened, now begun with
    ``first``, goes on from the chain before it (``first`` is an entry the hub held before:
    the same store) or is a new store's chain, which the admin flags."""
    AuditBreak.objects.filter(
        device=device, segment=head.segment - 1, kind=REISSUED, acknowledged_at__isnull=False
    ).update(
        continues_old_chain=AnchoredAuditEntry.objects.filter(
            device=device, segment__lt=head.segment, sequence=first.sequence,
            entry_hash=first.entry_hash,
        ).exists()
    )  # fmt: skip


def _extending(device: Device, old: Head, batch: AuditBatch) -> list[AuditLink]:
    """The batch's links past ``old`` if it extends that segment as judged there; else none."""
    try:
        checked = new_entries(device, old, batch)
    except HubError:
        return []
    return checked if isinstance(checked, list) else []


def _gap(held: int, sent: int, why: str = "") -> HubError:
    where = why or f"the hub holds this device's audit chain up to entry {held}"
    return HubError(
        409,
        AUDIT_GAP,
        f"{where}; send from entry {held + 1}, not {sent}",
        expected_offset=held,
    )
