"""Anchored audit chains on the hub, their oldest entries deleted as they age by decision
retention (``sync.hub.retention``, ``jaga hub purge-expired``).

The anchored audit chains (``sync.hub.models.audit``) hold an entry with every decision,
naming the person: by the same rule, each segment of a device's chain loses its oldest
entries, only as a prefix and never its newest, in batches of ``BATCH`` each under the
device's lock (the anchor's), leaving the segment's ``AnchoredCheckpoint`` (the last entry
deleted, from which the rest verifies; the database's triggers let nothing else go, and the
checkpoint only forward) and counting the device's entries down with them
(``AuditChainState.entries``). Nothing of a device's chain goes while a break or pruned
record of it is open: the operator who looks into it may need the entries. Left open, that
record would keep the device's decisions past the window for ever, so each run names such
devices (the record's kind, since when: ``held_chains``; only those of which it would delete
something were the record acknowledged, by the same rule) in its report and log, and records
how many, which ``/metrics`` gives (``jaga_hub_decision_purge_held_chains``, as of the last
run that counted them, though it stopped after), until the records are acknowledged in
the admin. As the prefix stops at the first entry not yet due, one entry's time must not
hold back the rest: an entry whose time (the device's) lies more than ``AHEAD_TOLERATED``
(a day) past when the hub took it (a device clock that jumped ahead), or that the hub
cannot read, is judged by when the hub took it alone, and the run logs how many it judged
so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sync.hub.models import (
    AnchoredAuditEntry,
    AnchoredCheckpoint,
    AuditBreak,
    AuditChainState,
    Device,
)
from sync.hub.models.audit import open_records_holding
from sync.hub.models.events import count_purged

_log = logging.getLogger(__name__)
BATCH = 1000  # entries of one segment per transaction, under the device's lock
# An audit entry dated further past its receipt is judged by its receipt (``_entry_time``).
AHEAD_TOLERATED = timedelta(days=1)


@dataclass(frozen=True)
class HeldChain:
    """A device's anchored chain that retention leaves whole, older than its window, while
    a record of it is open (``kind``: its oldest open record's, ``since``: when the hub
    found that)."""

    device_uid: UUID
    device_name: str
    site: str
    kind: str
    since: datetime


def held_chains(cutoff: datetime) -> list[HeldChain]:
    """The devices whose chain retention leaves whole while a break or pruned record of it
    is open, though it would delete entries of it due at ``cutoff`` were the records
    acknowledged (not a segment's newest, nor one whose own time lies within the window),
    each with its oldest open record; by site, then device."""
    rows = (
        open_records_holding(cutoff)
        .order_by("device__site__slug", "device__name", "device_id", "detected_at")
        .values_list("device_id", "device__uid", "device__name", "device__site__slug", "kind",
                     "detected_at")
    )  # fmt: skip
    held: dict[int, HeldChain] = {}
    for device_id, uid, name, site, kind, since in rows:
        if device_id not in held and _any_due(device_id, cutoff):
            held[device_id] = HeldChain(uid, name, site, kind, since)
    return list(held.values())


def prune_chains(cutoff: datetime, run: int | None, by_site: dict[str, int]) -> None:
    """Delete each device's segments' oldest entries due at ``cutoff`` (see the module),
    counted into ``run`` (None: a dry run, which deletes none) and, per site slug, into
    ``by_site`` as each batch goes (a run stopped midway reports what it deleted)."""
    for device_id, slug in _chains():
        for segment in _segments(device_id):
            while deleted := _prune_segment(device_id, segment, cutoff, run):
                by_site[slug] = by_site.get(slug, 0) + deleted
                if run is None:
                    break


def log_held(held: list[HeldChain]) -> None:
    if held:
        _log.warning(
            "decision retention: kept whole, past the window, the anchored audit chains of %d"
            " devices while a record of each is open (look into it, then acknowledge it in"
            " the admin's Audit breaks): %s",
            len(held),
            "; ".join(
                f"device {chain.device_name} ({chain.device_uid}, site {chain.site}):"
                f" {chain.kind} since {chain.since.isoformat()}"
                for chain in held
            ),
        )


def _chains() -> list[tuple[int, str]]:
    """The devices the hub holds audit entries of, with their sites' slugs."""
    states = AuditChainState.objects.filter(entries__gt=0).order_by("device_id")
    return list(states.values_list("device_id", "device__site__slug"))


def _segments(device_id: int) -> list[int]:
    held = AnchoredAuditEntry.objects.filter(device_id=device_id).order_by("segment")
    return list(held.values_list("segment", flat=True).distinct())


def _any_due(device_id: int, cutoff: datetime) -> bool:
    """Whether any segment of a device's chain has an entry due at ``cutoff`` that
    ``_prune_segment`` would delete were no record of the chain open: its oldest, if due."""
    return any(_due_prefix(device_id, segment, cutoff, 1)[0] for segment in _segments(device_id))


def _due_prefix(
    device_id: int, segment: int, cutoff: datetime, limit: int | None
) -> tuple[list[tuple[int, str]], int]:
    """The oldest entries of a device's segment (up to ``limit``; None: all) that happened
    (the device's clock, ``at``, unless ``_entry_time`` sets it aside) and reached the hub
    before ``cutoff``, never its newest, as (sequence, hash); and how many of them are
    judged by when the hub took them alone."""
    held = AnchoredAuditEntry.objects.filter(device_id=device_id, segment=segment)
    newest = held.order_by("-sequence").values_list("sequence", flat=True).first()
    if newest is None:
        return [], 0
    rows = held.filter(sequence__lt=newest).order_by("sequence")
    if limit is not None:
        rows = rows[:limit]
    prefix: list[tuple[int, str]] = []
    by_receipt = 0
    for sequence, entry_hash, at, received_at in rows.values_list(
        "sequence", "entry_hash", "at", "received_at"
    ).iterator():
        moment = _entry_time(at, received_at)
        if received_at >= cutoff or (moment or received_at) >= cutoff:
            break
        prefix.append((sequence, entry_hash))
        by_receipt += moment is None
    return prefix, by_receipt


def _prune_segment(device_id: int, segment: int, cutoff: datetime, run: int | None) -> int:
    """Delete up to ``BATCH`` of the oldest entries of a device's segment due at ``cutoff``
    (``_due_prefix``), moving the segment's checkpoint to the last one, in one transaction
    under the device's lock (the anchor's, ``sync.hub.audit``), counted into ``run`` in it;
    how many it deleted (``run`` None, a dry run: how many the whole segment would lose,
    deleting none). Nothing while any record of the device's chain is open (a break, a
    pruned start or gap): an operator may need the entries to look into it."""
    with transaction.atomic():
        Device.objects.select_for_update().filter(pk=device_id).first()
        if AuditBreak.objects.filter(device_id=device_id, acknowledged_at__isnull=True).exists():
            return 0
        prefix, by_receipt = _due_prefix(device_id, segment, cutoff, None if run is None else BATCH)
        if by_receipt:
            _log.warning(
                "decision retention: %s %d anchored audit entries of device %d, segment %d,"
                " by when the hub took them: their time is unreadable or more than %g hours"
                " past it",
                "would judge" if run is None else "judged", by_receipt, device_id, segment,
                AHEAD_TOLERATED / timedelta(hours=1),
            )  # fmt: skip
        if not prefix or run is None:
            return len(prefix)
        last_sequence, last_hash = prefix[-1]
        moved = AnchoredCheckpoint.objects.filter(device_id=device_id, segment=segment).update(
            sequence=last_sequence, entry_hash=last_hash, moved_at=timezone.now()
        )
        if not moved:
            first_sequence, first_hash = prefix[0]
            AnchoredCheckpoint.objects.create(
                device_id=device_id, segment=segment, sequence=last_sequence,
                entry_hash=last_hash, first_sequence=first_sequence, first_hash=first_hash,
                moved_at=timezone.now(),
            )  # fmt: skip
        held = AnchoredAuditEntry.objects.filter(device_id=device_id, segment=segment)
        deleted, _ = held.filter(sequence__lte=last_sequence).delete()
        # Counted here, under the lock, as the anchor counts what it stores: /metrics reads it.
        AuditChainState.objects.filter(device_id=device_id).update(entries=F("entries") - deleted)
        count_purged(run, audit_entries=deleted)
    return int(deleted)


def _entry_time(at: str, received_at: datetime) -> datetime | None:
    """An entry's time (the device's ISO 8601 text) to judge its age by; None where it is
    to be judged by when the hub took it instead: a time the hub cannot read (or without
    its offset), or one more than ``AHEAD_TOLERATED`` past its receipt (the device's clock
    was ahead: nothing is sent before it happened)."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None or moment > received_at + AHEAD_TOLERATED:
        return None
    return moment
