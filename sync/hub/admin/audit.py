"""Audit breaks, anchored audit entries and how far each device's chain is anchored:
read-only, but for acknowledging a break.

A break means a device's audit chain no longer extends what the hub held: someone removed or
rewrote its newest entries, or the store was restored from an older backup (its chain then
has ``store.restored`` where the hub holds other entries; a ``restarted`` break, at the
device's registration entry, when the backup held no audit start for the device, which the
restore then appended). Find out which before
acknowledging it (one break at a time, with a note, under its own permission); the
device's next sync then starts a new segment of its chain here, from the entry the break
names and only with the hash shown as the device's. The break and the entries the hub held
before it stay. A new registration code is listed among them too (``reissued``), with
whether the chain that came after it continues the old one: a new store's does not.

A chain the hub took after entries retention deleted on the device is listed too, open until
acknowledged the same way: ``pruned_start`` (it begins after entries the hub never held for
this device: a store registered again as a new device, or the hub restored from a backup
older than its first anchoring) and ``pruned_gap`` (entries after the newest the hub holds,
deleted on the device, taken only where the site's change log was renewed since the hub took
that newest entry, as after a restore; without a renewal such a chain is an ``unlinked``
break at the entry it resumes from). Neither refuses the chain, and acknowledging one starts
no segment; but nothing links the missing entries to what the hub holds (someone with the
store's key could have deleted them), so check that a move or a restore explains it. A
device has one open at a time: until it is acknowledged, a chain that would need another is
refused.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages

from sync.hub.admin.staff import SiteScopedAdmin
from sync.hub.audit_breaks import acknowledge
from sync.hub.models import AnchoredAuditEntry, AnchoredCheckpoint, AuditBreak, AuditChainState
from sync.hub.models.audit import REISSUED


class NoAddOrDelete(SiteScopedAdmin):
    """A device's audit records: listed for the staff user's sites only."""

    site_field = "device__site"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class AcknowledgeForm(forms.ModelForm):
    note = forms.CharField(
        widget=forms.Textarea,
        max_length=2000,
        help_text="What you found (a restored backup, tampering reported to ...): kept with "
        "the break. Saving acknowledges it: after a break, the device's chain goes on from "
        "the entry it names, as a new segment; a pruned start or gap (a chain the hub took "
        "after entries deleted on the device) is only closed.",
    )

    class Meta:
        model = AuditBreak
        fields = ()


_CHAIN_AFTER = {
    None: "none sent yet",
    True: "the same store: goes on from the chain before the code",
    False: "a new chain: does not continue the one before the code",
}


@admin.register(AuditBreak)
class AuditBreakAdmin(NoAddOrDelete):
    """Every field read-only. An open break is acknowledged one at a time, on its own page,
    with a note, by someone with the ``acknowledge_auditbreak`` permission (not the generic
    change permission)."""

    list_display = (
        "device", "sequence", "kind", "chain_after", "detected_at", "acknowledged_at", "reason"
    )  # fmt: skip
    list_filter = (
        ("device__site", admin.RelatedOnlyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
    )
    form = AcknowledgeForm
    readonly_fields = (
        "device",
        "segment",
        "sequence",
        "kind",
        "reason",
        "hub_hash",
        "device_hash",
        "detected_at",
        "acknowledged_at",
        "acknowledged_by",
        "acknowledged_note",
        "chain_after",
    )

    @admin.display(description="chain after the code")
    def chain_after(self, obj: AuditBreak) -> str:
        """For a new code's record: whether the chain that came next continues the old one
        (a replacement's new store does not: look into it as into a break)."""
        if obj.kind != REISSUED:
            return ""
        return _CHAIN_AFTER[obj.continues_old_chain]

    def has_change_permission(self, request: Any, obj: AuditBreak | None = None) -> bool:
        allowed = bool(request.user.has_perm("hub.acknowledge_auditbreak"))
        return allowed and (obj is None or obj.is_open)

    def get_exclude(self, request: Any, obj: AuditBreak | None = None) -> Any:
        return () if obj is not None and obj.is_open else ("note",)

    def save_model(self, request: Any, obj: AuditBreak, form: Any, change: bool) -> None:
        if acknowledge(obj, str(request.user), form.cleaned_data["note"]):
            messages.success(request, f"Acknowledged: {obj}.")


@admin.register(AnchoredAuditEntry)
class AnchoredAuditEntryAdmin(NoAddOrDelete):
    list_display = ("device", "segment", "sequence", "at", "action", "actor", "subject")
    list_filter = (("device__site", admin.RelatedOnlyFieldListFilter), "action")
    search_fields = ("device__name", "actor", "subject")  # an investigation starts from who

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(AuditChainState)
class AuditChainStateAdmin(NoAddOrDelete):
    """How far each device's chain is anchored: the head it last reported, and how many of
    its entries the hub does not hold (a device stuck on an entry it cannot send shows
    here); a ``reported at`` well before the device's last sync means it stopped sending
    its chain. Batches refused over the daily limit are counted: a device sending that much
    may be misused (a stolen token), or need a higher ``JAGA_HUB_AUDIT_DAILY_BYTES``.
    ``deleted by retention``: where each segment now begins, once decision retention
    deleted its oldest entries (``sync.hub.retention``), and the hash the next entry follows.
    """

    list_display = (
        "device",
        "anchored_sequence",
        "reported_sequence",
        "behind",
        "entries",
        "deleted_by_retention",
        "over_limit",
        "over_limit_at",
        "reported_at",
        "device_last_seen",
    )
    list_filter = (("device__site", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("device__site",)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="entries behind")
    def behind(self, obj: AuditChainState) -> int:
        return obj.behind

    @admin.display(description="deleted by retention")
    def deleted_by_retention(self, obj: AuditChainState) -> str:
        checkpoints = AnchoredCheckpoint.objects.filter(device_id=obj.device_id)
        return "; ".join(
            f"segment {c.segment}: entries {c.first_sequence} to {c.sequence}"
            f" (the next follows {c.entry_hash[:12]}…)"
            for c in checkpoints.order_by("segment")
        )

    @admin.display(description="device last seen")
    def device_last_seen(self, obj: AuditChainState) -> Any:
        return obj.device.last_seen_at
