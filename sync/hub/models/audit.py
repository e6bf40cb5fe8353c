"""Each device's audit chain, anchored off the device, and the breaks the hub found in it.

``AnchoredAuditEntry`` rows are append-only: database triggers (migration 0008) refuse
UPDATE and TRUNCATE, so what a device once showed the hub stays, and DELETE but of a
segment's prefix up to its ``AnchoredCheckpoint`` (migration 0030): decision retention
(``sync.hub.retention``) deletes the oldest entries once the hub held them for its window,
and the rest of the segment still verifies from the checkpoint. Each keeps the entry's
fields exactly as the device hashed them (``details`` as its JSON text, not ``jsonb``, which
would reorder it), so anyone can compute every hash again from the rows.

A device's chain is kept in segments. It starts in segment 0 with its store's creation;
``AuditBreak`` records a batch that did not extend the segment (an entry the hub holds,
sent with another hash; or the next entry not following the hub's newest one): the chain
was rewritten or rewound, by tampering or by restoring an older backup. While a break is
open the device's batches are refused. An operator who has looked into it acknowledges it
in the admin, and a new segment starts: from exactly the entry the break names
(``sequence``), which must hash as it did on the device when the break was found
(``device_hash``), and contiguous from there; the old segment and the break stay, so no
rewrite is ever taken without a record of it. A restored store whose chain begins anew at
the device's registration entry (``sync.store.audit_begins``) is such a break, ``restarted``,
at that entry (``sync.hub.audit_restart``).

A new registration code (a replacement device, with a store and so a chain of its own)
also starts a new segment, from entry 1: the hub records it as a ``reissued`` entry among
the breaks, acknowledged at once by whoever issued the code. No code is issued while a
break is open (it is acknowledged first, with a note); the same store registering again
(entry 1 as the hub holds it) is judged against the segment before the code, and its new
segment goes on after a copy of that segment's newest entry. The ``reissued`` record says
which came (``continues_old_chain``): a new store's chain is taken, but flagged in the admin
as not continuing the old one, whose segment stays.

A device whose oldest entries retention deleted (``sync.store.retention``) may send a chain
that begins after entries the hub never held or no longer holds: a store registered again
as a new device (``pruned_start``: the hub holds none of the segment), or a hub restored
from a backup older than what it had anchored (``pruned_gap``: taken only where the site's
change log was renewed after the hub took its newest entry of the device, as it is after a
restore; else a break, ``unlinked``, at the entry the chain resumes from). The device names
the last entry it deleted, which its first kept entry follows; the hub takes the chain in
the same segment and records the entries it will never hold among the breaks, open until an
operator acknowledges them, one open at a time per device. Such a record refuses nothing
and opens no segment (``OPENS_NO_SEGMENT``): only who acknowledged it, and their note, are
added to it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet

from sync.hub.models.sites import Device

DIVERGED = "diverged"  # an entry the hub holds came with another hash
UNLINKED = "unlinked"  # the next entry does not follow the hub's newest
REWOUND = "rewound"  # the device's chain ends before the hub's newest entry
REISSUED = "reissued"  # not a break: a new registration code starts the chain anew
PRUNED_START = "pruned_start"  # not a break: the chain begins after entries deleted on it
PRUNED_GAP = "pruned_gap"  # not a break: entries the hub held, missing since its log's renewal
RESTARTED = "restarted"  # the chain begins anew at the device's registration entry (a restore)
OPENS_NO_SEGMENT = (PRUNED_START, PRUNED_GAP)  # open or acknowledged, the segment goes on
BREAK_KINDS = (
    (DIVERGED, "an entry the hub holds came with another hash"),
    (UNLINKED, "the next entry does not follow the hub's newest"),
    (REWOUND, "the device's chain ends before the hub's newest entry"),
    (REISSUED, "a new registration code was issued: the chain starts anew"),
    (PRUNED_START, "the chain begins after entries retention deleted on the device"),
    (PRUNED_GAP, "entries deleted on the device are missing here since the hub's log renewal"),
    (RESTARTED, "the chain begins anew at the device's registration entry"),
)


class AnchoredAuditEntry(models.Model):
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="+")
    segment = models.IntegerField(default=0)
    sequence = models.BigIntegerField()
    at = models.CharField(max_length=32)
    actor = models.TextField()
    action = models.CharField(max_length=64)
    subject = models.TextField()
    details = models.TextField()
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("device", "segment", "sequence")
        verbose_name = "anchored audit entry"
        verbose_name_plural = "anchored audit entries"
        constraints = (
            models.UniqueConstraint(
                fields=["device", "segment", "sequence"], name="audit_entry_sequence"
            ),
        )

    def __str__(self) -> str:
        return f"{self.device_id} #{self.sequence} {self.action}"


class AnchoredCheckpoint(models.Model):
    """Where a segment of a device's anchored chain now begins, after decision retention
    deleted its oldest entries (``sync.hub.retention``): the last entry deleted
    (``sequence``, ``entry_hash``: the next entry held follows that hash), and the entry the
    segment began with (``first_sequence``, ``first_hash``: entry 1 is a store's creation,
    which tells the same store coming back after a new code, ``sync.hub.audit``).

    Database triggers (migration 0030) keep SQL to that, as the device's schema 12 does
    (``sync.store.schema.v12``): a checkpoint is made only at the segment's first entry held
    and names an entry held with that hash, before the segment's newest (always kept); it
    only moves forward, to such an entry, never to another device, segment or first entry;
    it is never deleted; and an entry is deleted only at or before its segment's checkpoint."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="+")
    segment = models.IntegerField()
    sequence = models.BigIntegerField()
    entry_hash = models.CharField(max_length=64)
    first_sequence = models.BigIntegerField()
    first_hash = models.CharField(max_length=64)
    moved_at = models.DateTimeField()

    class Meta:
        ordering = ("device", "segment")
        constraints = (
            models.UniqueConstraint(fields=["device", "segment"], name="audit_checkpoint_segment"),
        )

    def __str__(self) -> str:
        return f"{self.device_id} segment {self.segment} from entry {self.sequence + 1}"


class AuditChainState(models.Model):
    """What the hub knows of a device's chain beyond the entries it holds: the highest batch
    number it took (an older batch is stale, not a break), the head the device last reported
    and the newest entry the hub holds of the current segment then. A device whose chain
    grows past what it can send (an entry too large, say) still reports its head, so how
    far behind the hub is shows (``behind``: the admin and ``/metrics``); one that stops
    reporting shows by ``reported_at`` lagging the device's last sync. ``entries`` counts the
    device's rows in ``AnchoredAuditEntry`` (every segment), kept in the transaction that
    stores them, so ``/metrics`` reads it instead of counting the table. ``recent_bytes`` is
    what the device added in each hour of the last day (hour since the epoch -> bytes),
    against the hub's limit over any 24 hours (``sync.hub.audit_limit``); the batches
    refused over it are counted (``over_limit``, the last at ``over_limit_at``)."""

    device = models.OneToOneField(
        Device, on_delete=models.PROTECT, primary_key=True, related_name="audit_state"
    )
    batch_number = models.BigIntegerField(default=0)
    reported_sequence = models.BigIntegerField(default=0)
    reported_at = models.DateTimeField(null=True)
    anchored_sequence = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0, verbose_name="entries held")
    recent_bytes = models.JSONField(default=dict, verbose_name="bytes added in the last day")
    over_limit = models.BigIntegerField(default=0, verbose_name="batches over the daily limit")
    over_limit_at = models.DateTimeField(null=True, verbose_name="last over the daily limit")

    @property
    def behind(self) -> int:
        """Entries of the device's reported chain the hub does not hold."""
        return max(int(self.reported_sequence) - int(self.anchored_sequence), 0)

    class Meta:
        verbose_name = "audit chain state"

    def __str__(self) -> str:
        return f"audit chain of {self.device}"


class AuditBreak(models.Model):
    """A batch of a device's chain that did not extend what the hub held: ``sequence`` is
    the entry where the device's chain parts from the hub's (or, rewound, its newest), with
    its hash there on the device (``device_hash``) and at the hub (``hub_hash``). It was
    found in ``segment``; acknowledged, it opens the segment after (one break is open at a
    time, and no code is issued while one is, so each segment is opened by one break)."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="audit_breaks")
    segment = models.IntegerField(editable=False)
    sequence = models.BigIntegerField(editable=False)
    kind = models.CharField(max_length=16, choices=BREAK_KINDS, editable=False)
    reason = models.CharField(max_length=1000, editable=False)
    hub_hash = models.CharField(max_length=64, editable=False)
    device_hash = models.CharField(max_length=64, editable=False)
    detected_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, editable=False)
    acknowledged_by = models.CharField(max_length=200, blank=True, editable=False)
    acknowledged_note = models.TextField(blank=True, editable=False)  # what they found
    # A new code's record only: whether the chain that came next goes on from the one
    # before the code (the same store registering again) or is a new store's (None: none
    # came yet). A new store's chain is taken, but does not continue the old one.
    continues_old_chain = models.BooleanField(null=True, editable=False)

    class Meta:
        ordering = ("-detected_at",)
        permissions = (
            (
                "acknowledge_auditbreak",
                "Can acknowledge an audit break (the device's chain goes on as a new segment)",
            ),
        )
        constraints = (
            models.UniqueConstraint(
                fields=["device"],
                condition=models.Q(acknowledged_at__isnull=True)
                & ~models.Q(kind__in=OPENS_NO_SEGMENT),
                name="audit_break_one_open",
            ),
        )

    def __str__(self) -> str:
        return f"audit break of {self.device} at entry {self.sequence}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


def open_records_holding(cutoff: datetime) -> QuerySet[AuditBreak]:
    """The open records (breaks, pruned starts or gaps) of devices whose chain holds entries
    the hub took before ``cutoff``: decision retention leaves such a chain whole, older than
    its window, until an operator acknowledges them, if any of those entries is due
    (``sync.hub.chain_retention.held_chains`` asks)."""
    old = AnchoredAuditEntry.objects.filter(device_id=OuterRef("device_id"), received_at__lt=cutoff)
    return AuditBreak.objects.filter(acknowledged_at__isnull=True).filter(Exists(old))
