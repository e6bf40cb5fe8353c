"""Where the hub stands in a device's audit chain: the segments it holds, and the newest
entry of the current one (``Head``), which a batch is judged against (``sync.hub.audit``).

A device's chain is held in segments: segment 0 from entry 1, and one more for each break
an operator acknowledged or new registration code issued (``sync.hub.audit_breaks``), each
opened by that record. The current segment is the one after the last acknowledged.

Decision retention (``sync.hub.retention``) deletes each segment's oldest entries once the
hub held them for its window, never the segment's newest, and keeps the segment's
``AnchoredCheckpoint`` (the last entry deleted, and the entry the segment began with). The
segment then begins at the entry after the checkpoint (``Head.first``): what a batch sends
before it is left out, as entries held already are, neither a break nor a rewrite; a device
head before it is still a chain rewound; a break there shows the checkpoint's hash as the
hub's; and a store coming back after a new code is still known by its entry 1, through the
checkpoint where retention deleted it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from sync.hub.models import AnchoredAuditEntry, AnchoredCheckpoint, AuditBreak, Device
from sync.hub.models.audit import OPENS_NO_SEGMENT
from sync.protocol import AuditLink
from sync.protocol.audit_messages import GENESIS_HASH


@dataclass(frozen=True)
class Head:
    """The newest entry the hub holds in a device's current segment (0: none yet), and the
    entry the segment begins with (0 while it holds none)."""

    segment: int
    sequence: int
    entry_hash: str
    first: int = 0


def current_head(device: Device) -> Head:
    segment = breaks(device).filter(acknowledged_at__isnull=False).count()
    return segment_head(device, segment)


def breaks(device: Device) -> QuerySet[AuditBreak]:
    """The device's records that open a segment once acknowledged (and refuse its batches
    while open): all but the pruned starts and gaps, which only ask to be looked into."""
    return AuditBreak.objects.filter(device=device).exclude(kind__in=OPENS_NO_SEGMENT)


def segment_head(device: Device, segment: int) -> Head:
    held = AnchoredAuditEntry.objects.filter(device=device, segment=segment)
    newest = held.order_by("-sequence").values_list("sequence", "entry_hash").first()
    if newest is None:
        return Head(segment, 0, GENESIS_HASH)
    sequence, entry_hash = newest
    first = held.order_by("sequence").values_list("sequence", flat=True).first()
    return Head(segment, sequence, entry_hash, first or 0)


def opened_by(device: Device, head: Head) -> AuditBreak:
    """The acknowledged break or new code that opened ``head``'s segment (not the first)."""
    acknowledged = breaks(device).filter(acknowledged_at__isnull=False)
    opened: AuditBreak = acknowledged.get(segment=head.segment - 1)
    return opened


def held_link(device: Device, head: Head) -> list[AuditLink]:
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


def hub_hash_at(device: Device, head: Head, sequence: int) -> str:
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


def held_hashes(
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
