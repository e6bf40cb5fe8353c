"""Anchor a device's audit chain: keep each batch that extends it, refuse and record one
that rewrites or rewinds it (``sync.hub.models.audit``).

A batch (already checked by its wire model: every hash matches its entry's fields, and the
entries follow each other up to at most the device's head, its chain's newest entry) is
compared with the newest segment the hub holds for the device:

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
  but for a chain whose oldest entries retention deleted on the device
  (``sync.store.retention``), which names its checkpoint (``AuditCheckpoint``: the last
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
  is refused as a gap, as before;
* a batch that begins with the entry of the device's registration (``REGISTERED_ACTION``,
  naming this device's id), to a hub that holds none of the device's segment (a device
  registered anew, or a new store after a new code), is taken from there, with no record:
  the device's anchoring begins at its registration, and what the store recorded before it
  (another hub's or another site's records) is not this hub's to hold. Its previous hash
  links it to that chain; the entries from it on are judged as any. To a hub that holds
  entries of the segment, one that does not go on from them is a break at that entry
  (``restarted``: a restored store's, ``sync.hub.audit_restart``);
* anything else is a break: recorded (one open break per device), counted in the hub's
  metrics, shown in the admin, and this and every later batch of the device is refused with
  ``audit_chain_break`` until an operator acknowledges it. A break names the entry where the
  device's chain parts from the hub's, with that entry's hash on the device: what the
  operator looked into. Acknowledging it starts a new segment, which must begin with exactly
  that entry (refused with ``audit_gap`` until a batch brings it, and as a new break if it
  comes with another hash) and goes on contiguously from there, as segment 0 goes on from
  entry 1: no other chain, gap or head is taken after an acknowledgement.

A batch that would take the entries a device added in the last 24 hours past the hub's
daily limit (``JAGA_HUB_AUDIT_DAILY_BYTES``, in the bytes of the entries' JSON;
``sync.hub.audit_limit``) is refused whole with ``audit_quota``, nothing of it stored, and
the refusal counted in the device's ``AuditChainState`` (the admin and ``/metrics``): a
stolen token cannot grow the table without bound, and an honest device that outgrew the
limit goes on once its earlier bytes are a day old (how far behind it is shows meanwhile).
Breaks are found whatever the limit: only what would be stored counts.

Decision retention (``sync.hub.retention``) deletes each segment's oldest entries once the
hub held them for its window, never the segment's newest, and keeps the segment's
``AnchoredCheckpoint`` (the last entry deleted, and the entry the segment began with). The
segment then begins at the entry after the checkpoint (``Head.first``): what a batch sends
before it is left out, as entries held already are, neither a break nor a rewrite; a device
head before it is still a chain rewound; a break there shows the checkpoint's hash as the
hub's; and a store coming back after a new code is still known by its entry 1, through the
checkpoint where retention deleted it.

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

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sync.hub.audit_limit import over_daily_limit
from sync.hub.audit_restart import restarted
from sync.hub.auth import usable
from sync.hub.errors import HubError, OpenAuditBreakError
from sync.hub.models import (
    AnchoredAuditEntry,
    AnchoredCheckpoint,
    AuditBreak,
    AuditChainState,
    Device,
    Site,
)
from sync.hub.models.audit import (
    DIVERGED,
    OPENS_NO_SEGMENT,
    PRUNED_GAP,
    PRUNED_START,
    REISSUED,
    REWOUND,
    UNLINKED,
)
from sync.protocol import (
    AUDIT_CHAIN_BREAK,
    AUDIT_GAP,
    AUDIT_PRUNED_OPEN,
    AUDIT_QUOTA,
    AUDIT_STALE,
    AuditBatch,
    AuditCheckpoint,
    AuditLink,
    AuditReceipt,
    registered_device,
)
from sync.protocol.audit_messages import GENESIS_HASH

ACKNOWLEDGE_HINT = (
    "an operator must look into it and acknowledge the break in the hub's admin (Audit breaks)"
)


@dataclass(frozen=True)
class Head:
    """The newest entry the hub holds in a device's current segment (0: none yet), and the
    entry the segment begins with (0 while it holds none)."""

    segment: int
    sequence: int
    entry_hash: str
    first: int = 0


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
        _refuse_while_broken(device)
        head = current_head(device)
        pruned = _pruned(device, head, batch, checkpoint)
        checked: list[AuditLink] | AuditBreak
        if pruned is None:
            checked = _new_entries(device, head, batch)
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
                _note_segment_start(device, head, checked[0])
        _note_heads(state, batch, anchored)
    if isinstance(checked, AuditBreak):
        raise HubError(409, AUDIT_CHAIN_BREAK, f"{checked.reason}; {ACKNOWLEDGE_HINT}")
    if over:  # counted in the device's state, committed
        raise HubError(409, AUDIT_QUOTA, over)
    if not checked:  # all held already
        return AuditReceipt(sequence=head.sequence, entry_hash=head.entry_hash, stored=0)
    last = checked[-1]
    return AuditReceipt(sequence=last.sequence, entry_hash=last.entry_hash, stored=len(checked))


def current_head(device: Device) -> Head:
    segment = _breaks(device).filter(acknowledged_at__isnull=False).count()
    return _segment_head(device, segment)


def _breaks(device: Device) -> QuerySet[AuditBreak]:
    """The device's records that open a segment once acknowledged (and refuse its batches
    while open): all but the pruned starts and gaps, which only ask to be looked into."""
    return AuditBreak.objects.filter(device=device).exclude(kind__in=OPENS_NO_SEGMENT)


def _segment_head(device: Device, segment: int) -> Head:
    held = AnchoredAuditEntry.objects.filter(device=device, segment=segment)
    newest = held.order_by("-sequence").values_list("sequence", "entry_hash").first()
    if newest is None:
        return Head(segment, 0, GENESIS_HASH)
    sequence, entry_hash = newest
    first = held.order_by("sequence").values_list("sequence", flat=True).first()
    return Head(segment, sequence, entry_hash, first or 0)


def start_anew(device: Device, by: str) -> None:
    """A new registration code is issued (``sync.hub.auth.issue_code``): a store registering
    with it starts the device's chain anew, from entry 1, as a new segment (the same store
    coming back is judged against its old chain: ``_after_reissue``; which of them came is
    kept on the record: ``_note_segment_start``). Recorded as a
    ``reissued`` entry among the breaks, acknowledged at once by ``by``. Refused with
    ``OpenAuditBreakError`` while a break is open: a code must not close it unexamined, so an
    operator acknowledges it first, with a note, under its own permission. Nothing is
    recorded for a device the hub holds no chain of. Refused as well while a pruned record
    (``pruned_start``, ``pruned_gap``) is open, naming it: a store registering with the code
    from a checkpoint would be refused (``AUDIT_PRUNED_OPEN``) until that record of the store
    before it is acknowledged, and a code must not close it unexamined either."""
    if _breaks(device).filter(acknowledged_at__isnull=True).exists():
        raise OpenAuditBreakError(
            "its audit chain has an open break; acknowledge it first (Audit breaks), "
            "with what you found"
        )
    pruned = _open_pruned(device)
    if pruned is not None:
        raise OpenAuditBreakError(
            f"its audit chain has {_record_words(pruned)} still open, which would refuse "
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


def _refuse_while_broken(device: Device) -> None:
    open_break = _breaks(device).filter(acknowledged_at__isnull=True).first()
    if open_break is not None:
        raise HubError(409, AUDIT_CHAIN_BREAK, f"{open_break.reason}; {ACKNOWLEDGE_HINT}")


def _new_entries(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The links past the head, once those the hub holds and the device's head are checked
    against it; or the break (not saved yet) where they do not extend it."""
    if head.sequence == 0 and head.segment > 0:
        return _segment_start(device, head, batch)
    if head.sequence == 0 and _registration_start(device, batch):
        return list(batch.entries)
    restart = restarted(device, head, batch)  # a restored store's, where the hub holds some
    return _extension(device, head, batch) if restart is None else restart


def _extension(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The links past ``head`` (the segment holds entries, or begins at entry 1), checked as
    ``_new_entries`` says."""
    # Entries before the segment's first were judged by the break that opened it (the
    # first's hash covers them), or were held and deleted by retention (the checkpoint's
    # hash, which the first held follows, covers them): left out, as entries held already
    # are, and never taken as a break or a rewrite.
    links = [link for link in batch.entries if link.sequence >= head.first]
    if links and links[0].sequence > head.sequence + 1:
        raise _gap(head.sequence, links[0].sequence)
    held = _held_hashes(device, head, links, batch.head_sequence)
    for link in links:
        if link.sequence <= head.sequence and held.get(link.sequence) != link.entry_hash:
            return _diverged(device, head, link.sequence, held.get(link.sequence), link.entry_hash)
    new = [link for link in links if link.sequence > head.sequence]
    if new and new[0].prev_hash != head.entry_hash:
        # Recorded at the entry where the chains part: the hub's newest, which the device's
        # next entry says hashes otherwise there.
        reason = (
            f"audit entry {new[0].sequence} does not follow entry {head.sequence} as the hub "
            f"holds it: {_REWRITTEN}"
        )
        return _break(
            device, head, head.sequence, kind=UNLINKED, reason=reason,
            device_hash=new[0].prev_hash,
        )  # fmt: skip
    # A head the hub holds with another hash is a rewrite, even before the hub's newest: a
    # restored backup would have appended store.restored after it, not ended there.
    claimed = held.get(batch.head_sequence)
    if claimed is not None and claimed != batch.head_hash:
        return _diverged(device, head, batch.head_sequence, claimed, batch.head_hash)
    if batch.head_sequence < head.sequence:
        return _rewound(device, head, batch, head.sequence)
    return new


def _segment_start(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The first links of a segment an acknowledged break opened: from exactly the entry the
    break names, with the hash the operator saw there; or from entry 1 (a new store's
    creation) after a new registration code."""
    # The break found in the segment before, acknowledged: it opened this one (by segment,
    # not by when it was acknowledged, which another worker's clock may have put later).
    opened = _opened_by(device, head)
    if opened.kind == REISSUED:
        return _after_reissue(device, head, batch)
    if batch.head_sequence < opened.sequence:
        return _rewound(device, head, batch, opened.sequence)
    links = [link for link in batch.entries if link.sequence >= opened.sequence]
    if not links or links[0].sequence > opened.sequence:
        sent = links[0].sequence if links else batch.head_sequence + 1
        raise _gap(
            opened.sequence - 1, sent, why=f"the acknowledged break at entry {opened.sequence}"
        )
    if links[0].entry_hash != opened.device_hash:
        return _diverged(
            device, head, opened.sequence, opened.device_hash, links[0].entry_hash,
            words="differs from the one the acknowledged break at it named",
        )  # fmt: skip
    return links


def _registration_start(device: Device, batch: AuditBatch) -> bool:
    """Whether ``batch`` begins with the entry of this device's registration: the device's
    anchoring begins there (``sync.client.audit_start``), linked to the chain before it by
    its previous hash alone, and what came before (another hub's or site's records) is not
    this hub's. Taken only where the hub holds none of the device's current segment, as a
    chain from entry 1 is."""
    first = batch.entries[0] if batch.entries else None
    return first is not None and registered_device(first) == str(device.uid).lower()


def _opened_by(device: Device, head: Head) -> AuditBreak:
    """The acknowledged break or new code that opened ``head``'s segment (not the first)."""
    acknowledged = _breaks(device).filter(acknowledged_at__isnull=False)
    opened: AuditBreak = acknowledged.get(segment=head.segment - 1)
    return opened


def _pruned(
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
    if head.sequence == 0 and _registration_start(device, batch):
        return None  # nothing before the registration is the hub's to hold
    if (first.sequence, first.prev_hash) != (checkpoint.sequence + 1, checkpoint.entry_hash):
        return None  # not the chain kept after the checkpoint it names: a gap, as before
    if head.sequence == 0 and head.segment > 0 and not _new_chain_after_code(device, head, batch):
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
    return _break(
        device, head, first.sequence, kind=UNLINKED, reason=reason,
        device_hash=first.entry_hash,
    )  # fmt: skip


def _refuse_while_pruned(device: Device) -> None:
    """At most one open pruned record per device: each asks an operator to look into it,
    and a token must not be able to ask for one a request."""
    open_record = _open_pruned(device)
    if open_record is not None:
        raise HubError(
            409,
            AUDIT_PRUNED_OPEN,
            "the batch begins after entries the hub does not hold, and the record of those "
            f"missing before is still open: {_record_words(open_record)} of "
            f"{open_record.device}; an operator must look into it and acknowledge it in the "
            "hub's admin (Audit breaks); its chain is then taken at the device's next sync",
        )


def _open_pruned(device: Device) -> AuditBreak | None:
    """The device's open pruned record (at most one: ``_refuse_while_pruned``), if any."""
    record: AuditBreak | None = (
        AuditBreak.objects.filter(
            device=device, kind__in=OPENS_NO_SEGMENT, acknowledged_at__isnull=True
        )
        .select_related("device__site")
        .first()
    )
    return record


def _record_words(record: AuditBreak) -> str:
    """A record as the operator finds it among the admin's Audit breaks: its kind, the
    entry, when found, and the segment (the chain before a new code is an earlier one)."""
    return (
        f"the {record.kind} record at entry {record.sequence} (segment {record.segment}, "
        f"found {record.detected_at:%Y-%m-%d %H:%M} UTC)"
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


def _new_chain_after_code(device: Device, head: Head, batch: AuditBatch) -> bool:
    """Whether ``head``'s segment was opened by a new code, and ``batch`` does not extend
    the chain before it (else it goes on from that chain: ``_after_reissue``)."""
    if _opened_by(device, head).kind != REISSUED:
        return False
    return not _extending(device, _segment_head(device, head.segment - 1), batch)


def _after_reissue(device: Device, head: Head, batch: AuditBatch) -> list[AuditLink] | AuditBreak:
    """The first links after a new registration code: a new store's chain, from entry 1.
    An entry 1 the hub holds in an earlier segment is the same store come back (entry 1 is
    its creation): it is judged against the segment before the code, its old chain, and
    what extends that goes on in the new segment after a copy of that segment's newest
    entry, so the next batches go on from there; a rewrite is a break, as it would have
    been without the code. A batch not from entry 1 is taken only where it extends the old
    chain (the same store, sent on from where that chain's judge told it to)."""
    first = batch.entries[0] if batch.entries else None
    old = _segment_head(device, head.segment - 1)
    if first is None or first.sequence != 1:
        # Only what extends the old chain (where the old chain's own judge sent the same
        # store); anything else is told to start from entry 1, with no break recorded.
        extending = _extending(device, old, batch)
        if extending:
            return [*_held_link(device, old), *extending]
        if _registration_start(device, batch):  # a new store, from its registration on
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
    checked = _new_entries(device, old, batch)
    if isinstance(checked, AuditBreak):
        checked.segment = head.segment
        return checked
    return [*_held_link(device, old), *checked]


def _note_segment_start(device: Device, head: Head, first: AuditLink) -> None:
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
        checked = _new_entries(device, old, batch)
    except HubError:
        return []
    return checked if isinstance(checked, list) else []


def _held_link(device: Device, head: Head) -> list[AuditLink]:
    """The newest entry of ``head``'s segment as a link (none if it holds none)."""
    rows = AnchoredAuditEntry.objects.filter(
        device=device, segment=head.segment, sequence=head.sequence
    )
    return [AuditLink.model_validate(row) for row in rows.values(*_LINK_FIELDS)]


_LINK_FIELDS = (
    "sequence",
    "at",
    "actor",
    "action",
    "subject",
    "details",
    "prev_hash",
    "entry_hash",
)


def _gap(held: int, sent: int, why: str = "") -> HubError:
    where = why or f"the hub holds this device's audit chain up to entry {held}"
    return HubError(
        409,
        AUDIT_GAP,
        f"{where}; send from entry {held + 1}, not {sent}",
        expected_offset=held,
    )


def _rewound(device: Device, head: Head, batch: AuditBatch, held: int) -> AuditBreak:
    reason = (
        f"the device's audit chain ends at entry {batch.head_sequence}, before entry "
        f"{held} that the hub holds: its newest entries were removed, or {_RESTORED}"
    )
    return _break(
        device, head, batch.head_sequence, kind=REWOUND, reason=reason,
        device_hash=batch.head_hash, hub_hash=_hub_hash_at(device, head, batch.head_sequence),
    )  # fmt: skip


def _hub_hash_at(device: Device, head: Head, sequence: int) -> str:
    """The hash the hub holds at ``sequence`` (its newest segment up to ``head``'s holding
    it; empty if none does): what a break there is compared with."""
    rows = AnchoredAuditEntry.objects.filter(
        device=device, segment__lte=head.segment, sequence=sequence
    )
    held = rows.order_by("-segment").values_list("entry_hash", flat=True).first()
    if held is None:  # deleted by retention, and the last deleted: its checkpoint kept it
        checkpoints = AnchoredCheckpoint.objects.filter(
            device=device, segment__lte=head.segment, sequence=sequence
        )
        held = checkpoints.order_by("-segment").values_list("entry_hash", flat=True).first()
    return held or ""


_RESTORED = "the store was restored from an older backup"
_REWRITTEN = f"the device's chain was rewritten or rewound before it (tampering, or {_RESTORED})"


def _held_hashes(
    device: Device, head: Head, links: list[AuditLink], head_sequence: int
) -> dict[int, str]:
    """The hashes the hub holds at the sequences named (the links and the device's head)."""
    sequences = [link.sequence for link in links if link.sequence <= head.sequence]
    if head_sequence <= head.sequence:
        sequences.append(head_sequence)
    if not sequences:
        return {}
    # Only those named: a range from the lowest to the highest would read every entry
    # between entry 1 and the head, under the device's lock, for a batch of two.
    rows = AnchoredAuditEntry.objects.filter(
        device=device, segment=head.segment, sequence__in=sequences
    )
    return dict(rows.values_list("sequence", "entry_hash"))


def _diverged(
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
        f"rewritten or rewound (tampering, or {_RESTORED})"
    )
    return _break(
        device, head, sequence, kind=DIVERGED, reason=reason, device_hash=device_hash,
        hub_hash=hub_hash,
    )  # fmt: skip


def _break(
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
