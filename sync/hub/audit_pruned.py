"""A chain whose oldest entries retention deleted on the device: the record of the entries
the hub will never hold (``sync.hub.audit``).

Such a chain (``sync.store.retention``) names its checkpoint (``AuditCheckpoint``: the last
entry deleted). A batch that begins right after that checkpoint, its first entry's
``prev_hash`` the checkpoint's hash, with the checkpoint past the hub's newest entry, is
taken, and the entries the hub will never hold recorded among the breaks: a
``pruned_start`` when the hub holds none of the segment (a store registered again as a new
device, or a hub restored from a backup older than the device's first anchoring), a
``pruned_gap`` when it holds the chain up to an entry before the checkpoint and the site's
change log was renewed (``sync.hub.log_epoch``) after the hub took that entry: only a
rewound hub can have lost the entries between, and a restore is followed by a renewal.
Without one, the hub still holds what it took, and a chain that resumes past it is a
break (``unlinked``, at the entry it resumes from, which opens the next segment once
acknowledged): else a token could hide a rewrite of entries the hub holds behind a
checkpoint it names. Such a record refuses nothing and opens no segment, but it is open,
counted in ``/metrics`` and listed in the admin, until an operator who has looked into it
acknowledges it as a break is (a key holder could delete a prefix and claim it was
retention: nothing links the deleted entries to what the hub holds). One is open at a
time per device: while it is, a batch that would record another is refused with
``audit_pruned_open`` (nothing recorded; the reason names the open record, to find it
in the admin), no new registration code is issued (``start_anew``), and the chain that goes
on after the one taken is taken as any. A chain that does not follow its own checkpoint
is refused as a gap, as before (``sync.hub.audit_judge``).
"""

from __future__ import annotations

from datetime import datetime

from sync.hub.audit_breaks import break_at, open_pruned, record_words
from sync.hub.audit_head import Head
from sync.hub.audit_judge import new_chain_after_code, registration_start
from sync.hub.errors import HubError
from sync.hub.models import AnchoredAuditEntry, AuditBreak, Device, Site
from sync.hub.models.audit import PRUNED_GAP, PRUNED_START, UNLINKED
from sync.protocol import AUDIT_PRUNED_OPEN, AuditBatch, AuditCheckpoint, AuditLink


def pruned_record(
    device: Device, head: Head, batch: AuditBatch, checkpoint: AuditCheckpoint | None
) -> AuditBreak | None:
    """The record (not saved yet) of the entries the hub will never hold, when ``batch``
    begins right after the device's ``checkpoint`` and that lies past the hub's newest
    entry of the segment: the batch is then taken whole. A gap after entries the hub holds
    is taken only where the site's change log was renewed since the hub took its newest
    (``_renewed_since``); else the record is a break (``_unexplained_gap``). None: judged
    as any batch. Refused while a pruned record of the device is open (``AUDIT_PRUNED_OPEN``)."""
    first = batch.entries[0] if batch.entries else None
    if checkpoint is None or first is None or checkpoint.sequence <= head.sequence:
        return None
    if head.sequence == 0 and registration_start(device, batch):
        return None  # nothing before the registration is the hub's to hold
    if (first.sequence, first.prev_hash) != (checkpoint.sequence + 1, checkpoint.entry_hash):
        return None  # not the chain kept after the checkpoint it names: a gap, as before
    if head.sequence == 0 and head.segment > 0 and not new_chain_after_code(device, head, batch):
        return None  # from the entry an acknowledged break names, which it must bring
    renewed = _site_renewed(device)
    if head.sequence > 0 and not _renewed_since(device, head, renewed):
        return _unexplained_gap(device, head, first, checkpoint.sequence)
    _refuse_while_pruned(device)
    kind = PRUNED_START if head.sequence == 0 else PRUNED_GAP
    return AuditBreak(
        device=device, segment=head.segment, sequence=head.sequence + 1, kind=kind,
        reason=_pruned_reason(head.sequence, checkpoint.sequence, renewed),
        hub_hash=head.entry_hash, device_hash=checkpoint.entry_hash,
    )  # fmt: skip


def _site_renewed(device: Device) -> datetime | None:
    """When an admin last renewed the device's site's change log (``jaga hub
    renew-log-epoch``, after a restore of the hub's database); None: never. A renewal the
    hub made itself does not count: a device's pull sets it off (a tip the hub sealed, past
    its log), which shows only that the log no longer holds a change the hub handed out,
    and it would let that device's token have a rewrite filed as a pruned gap."""
    renewed: datetime | None = (
        Site.objects.filter(pk=device.site_id)
        .values_list("log_epoch_restored_at", flat=True)
        .first()
    )
    return renewed


def _renewed_since(device: Device, head: Head, renewed: datetime | None) -> bool:
    """Whether the site's change log was renewed after the hub took ``head``'s entry: what
    shows the hub's copy may have been rewound (a restored backup keeps each entry's
    ``received_at``; the renewal is stamped after the restore). Without it, the hub holds
    what it took, and a chain that does not go on from it was changed on the device."""
    if renewed is None:
        return False
    taken = AnchoredAuditEntry.objects.filter(
        device=device, segment=head.segment, sequence=head.sequence
    ).values_list("received_at", flat=True)
    return any(renewed > at for at in taken)


def _unexplained_gap(device: Device, head: Head, first: AuditLink, deleted: int) -> AuditBreak:
    """A chain that resumes past entries the hub holds, naming those between as deleted,
    with no renewal of the site's log to show the hub lost any: a break at the entry it
    resumes from (``first``), so that once acknowledged the chain goes on from there."""
    missing = _entries(head.sequence + 1, deleted)
    reason = (
        f"the device's audit chain does not go on from entry {head.sequence}, the newest "
        f"the hub holds: it resumes at entry {first.sequence}, saying {missing} "
        f"{_were(head.sequence + 1, deleted)} deleted on the device, and the site's change "
        f"log was not renewed since the hub took entry {head.sequence} (as `jaga hub "
        f"renew-log-epoch` does after a restore), so nothing shows the hub lost "
        f"{'it' if head.sequence + 1 == deleted else 'them'}: "
        "the chain was changed or shortened on the device, unless the hub was restored "
        "and its log not renewed"
    )
    return break_at(
        device, head, first.sequence, kind=UNLINKED, reason=reason,
        device_hash=first.entry_hash,
    )  # fmt: skip


def _refuse_while_pruned(device: Device) -> None:
    """At most one open pruned record per device: each asks an operator to look into it,
    and a token must not be able to ask for one a request."""
    open_record = open_pruned(device)
    if open_record is not None:
        raise HubError(
            409,
            AUDIT_PRUNED_OPEN,
            "the batch begins after entries the hub does not hold, and the record of those "
            f"missing before is still open: {record_words(open_record)} of "
            f"{open_record.device}; an operator must look into it and acknowledge it in the "
            "hub's admin (Audit breaks); its chain is then taken at the device's next sync",
        )


def _pruned_reason(held: int, deleted: int, renewed: datetime | None) -> str:
    """Why the entries after ``held`` (the hub's newest), up to ``deleted`` (the device's
    checkpoint), are missing, for the operator who looks into it (``renewed``: when the
    site's change log was last renewed)."""
    missing = _entries(held + 1, deleted)
    were = _were(held + 1, deleted)
    log = (
        f"the site's change log was renewed at {renewed:%Y-%m-%d %H:%M} UTC"
        if renewed is not None
        else "the site's change log was never renewed"
    )
    if held == 0:
        return (
            f"the device's audit chain begins at entry {deleted + 1} here: {missing} {were} "
            "deleted on the device, which says retention deleted them once a hub held them, "
            f"and the hub holds none of them for this device ({log}); a store registered "
            "again as a new device explains it, or a restore of the hub from a backup older "
            "than the device's first anchoring; if neither, they were deleted before a hub "
            "held them: look into it as into a break"
        )
    return (
        f"{missing} of the device's audit chain {'is' if held + 1 == deleted else 'are'} "
        f"missing here: the device says retention deleted them once a hub held them, and "
        f"the hub holds up to entry {held}; {log}, after it took entry {held}, as after a "
        "restore: a restore from a backup that lacked them explains it only if one was "
        "made; if not, they were deleted before the hub held them: look into it as into a "
        f"break; the chain goes on from entry {deleted + 1}"
    )


def _were(first: int, last: int) -> str:
    return "was" if first == last else "were"


def _entries(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first} to {last}"
