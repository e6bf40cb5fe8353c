"""Access events, the idempotency ledger and the per-site change log.

``AccessEvent`` is append-only: a database trigger (migration 0002) refuses UPDATE, so not
even a bug in the hub can rewrite an audit record. An event that names an erased person
keeps their uid (which leads to no name once the person is blanked); a ``verified`` one
dated after the erasure (``verified_after_erasure``) says a kiosk still let them in, and is
counted (``jaga_hub_access_after_erasure``) and listed in the admin. ``AppliedEntry``
remembers every outbox key the hub accepted, so a replayed push is acknowledged without
being applied twice. Access events go once the hub has held them for its window, their keys
a window later, and as old the keys of templates, photos and erased people's entries, whose
replay without them changes nothing; a catch's and a live person's stay
(``sync.hub.retention``, recorded in ``DecisionPurge``). ``Change`` is what devices pull,
ordered by a cursor that only grows within a site.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Greatest

from sync import plural
from sync.hub.models.people import Person
from sync.hub.models.sites import Device, Site

VERIFIED = "verified"  # the decision that lets a person in (inference.face.decision.Status)
# The entities besides access events whose idempotency keys retention deletes as they age
# (``sync.hub.key_retention.KEYS_PURGED``); the keys of a catch stay for ever.
KEYS_AGED_OUT = ("face_template", "person", "photo")


class AccessEvent(models.Model):
    uid = models.UUIDField(unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, related_name="+")
    device_name = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    decision = models.CharField(max_length=200)
    person_uid = models.UUIDField(null=True)
    similarity = models.FloatField(null=True)
    liveness = models.FloatField(null=True)
    received_at = models.DateTimeField(auto_now_add=True)
    # Why the kiosk's clock was judged wrong when it decided (protocol 7): ``occurred_at`` is
    # not to be trusted. Empty: judged right, or a device too old to say. A default in the
    # database too: a hub worker of the release before, still running mid-upgrade, inserts
    # events without the column.
    clock_suspect = models.TextField(blank=True, default="", db_default="")

    class Meta:
        ordering = ("-occurred_at",)
        indexes = (
            models.Index(fields=["site", "occurred_at"], name="access_site_time"),
            # An event is due for retention once both its times are past the cutoff
            # (``sync.hub.retention``): this finds those alone, however many events dated
            # long ago (a kiosk clock years behind) the hub took only lately (0033).
            models.Index(F("site"), Greatest("occurred_at", "received_at"), name="access_site_due"),
        )

    def __str__(self) -> str:
        return f"{self.decision} at {self.occurred_at:%Y-%m-%d %H:%M:%S} ({self.device_name})"


def verified_after_erasure() -> QuerySet[AccessEvent]:
    """``verified`` events dated after the erasure of the person they name: a kiosk that
    still held the person (offline, or not synced since) let them in."""
    erased = Person.objects.filter(
        uid=OuterRef("person_uid"), erased_at__lt=OuterRef("occurred_at")
    )
    return AccessEvent.objects.filter(decision=VERIFIED).filter(Exists(erased))


def decisions_kept_since(now: datetime, keep_days: int | None = None) -> datetime | None:
    """The oldest time the hub keeps access events from: ``keep_days`` (by default the
    hub's ``JAGA_HUB_DECISION_KEEP_DAYS``) before ``now``; None when it keeps them for ever
    (0)."""
    days = settings.JAGA_HUB_DECISION_KEEP_DAYS if keep_days is None else keep_days
    return now - timedelta(days=days) if days > 0 else None


class AppliedEntry(models.Model):
    key = models.UUIDField(unique=True)
    # PROTECT: forgetting a device's keys would let its replayed pushes apply twice.
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="+")
    sequence = models.BigIntegerField()
    entity = models.CharField(max_length=64)
    entity_uid = models.UUIDField()
    operation = models.CharField(max_length=32)
    content_sha256 = models.CharField(max_length=64)
    outcome = models.CharField(max_length=32)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = (
            # Decision retention deletes access events' keys by age (sync.hub.retention).
            models.Index(
                fields=["received_at"],
                condition=models.Q(entity="access_event"),
                name="applied_access_event_at",
            ),
            # And the keys of the other pushes retention deletes, entity by entity.
            models.Index(
                fields=["entity", "received_at"],
                condition=models.Q(entity__in=KEYS_AGED_OUT),
                name="applied_entity_at",
            ),
        )


class DecisionPurge(models.Model):
    """One run of decision retention (``sync.hub.retention.purge_decisions``): the window it
    kept, the cutoff it deleted before, how many access events, idempotency keys and
    anchored audit entries it deleted, and how many devices' chains it kept whole while a
    break or pruned record of each was open, made as it starts and counted up with each batch
    (``complete`` False: it stopped on an error or SIGTERM, or, without ``finished_at``, was
    killed or is still running; the next run carries on). ``refused``, not empty: it erased
    and deleted nothing, as the hub's clock looked ``clock_ahead`` ahead
    (``sync.hub.clock_check``); such a record is not a run. ``cutoff`` is None for a run of a
    hub that keeps decisions for ever (``keep_days`` 0): recorded all the same, as the run the
    next one's clock is compared with. ``boot_id`` and ``boot_seconds``: the host's boot and
    its boot time (``CLOCK_BOOTTIME``) as the run started, for the next run on the same boot
    to tell a clock that jumped from time that passed (empty and None: not known)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    keep_days = models.IntegerField()
    cutoff = models.DateTimeField(null=True)
    access_events = models.BigIntegerField()
    applied_entries = models.BigIntegerField()
    audit_entries = models.BigIntegerField(default=0)
    # Devices whose chain it kept whole past the window while a record of it was open;
    # None until the run counted them (it stopped before, or was refused).
    held_chains = models.IntegerField(null=True)
    complete = models.BooleanField(default=True)
    refused = models.TextField(blank=True, default="")
    clock_ahead = models.DurationField(null=True)
    boot_id = models.CharField(max_length=64, blank=True, default="")
    boot_seconds = models.FloatField(null=True)

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        events = plural.counted(self.access_events, "event")
        return f"decision purge of {self.started_at:%Y-%m-%d %H:%M}: {events}"


def count_purged(run: int, **deleted: int) -> None:
    """Add what a batch deleted to ``run``'s counts (a ``DecisionPurge``), in the batch's own
    transaction: a run killed midway has recorded what it deleted."""
    DecisionPurge.objects.filter(pk=run).update(
        **{kind: F(kind) + count for kind, count in deleted.items()}
    )


class Change(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="changes")
    cursor = models.BigIntegerField()
    entity = models.CharField(max_length=64)
    entity_uid = models.UUIDField()
    operation = models.CharField(max_length=32)
    payload = models.JSONField()
    origin_device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("site", "cursor")
        constraints = (models.UniqueConstraint(fields=["site", "cursor"], name="change_cursor"),)


class ErasedChange(models.Model):
    """A change an erasure deleted (``sync.hub.apply.erase.erase``): its cursor and its
    fingerprint (``sync.protocol.change_fingerprint``; no personal data), so a device's tip
    at that cursor still tells the change it applied from another (``sync.hub.log_epoch``).
    Empty: deleted by a release that kept none (migration 0026 names every gap then)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    cursor = models.BigIntegerField()
    fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["site", "cursor"], name="erased_change_cursor"),
        )
