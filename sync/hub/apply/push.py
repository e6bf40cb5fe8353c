"""Apply a pushed batch: every entry once, in order, each acknowledged or rejected.

The batch runs in one transaction with the device's row and then its site's change log
locked, so two pushes from the same device (a retry racing its original) apply one after
the other and the second finds its keys in the ledger, and pushes of one site never
deadlock over each other's records. Each entry runs in its own savepoint: a rejected entry leaves
nothing behind while the entries around it are kept. If the hub dies mid-batch nothing
commits, and the device's retry with the same keys applies the batch whole.

A rejection says whether sending the entry again can succeed (``Rejection.retryable``): yes
for a conflict that passes (a unique key another push took a moment ago, a lock the entry
waited for past the database's ``lock_timeout``, a serialization failure or deadlock) and
for a record it depends on that has not arrived; no for anything about the entry itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import DataError, IntegrityError, OperationalError, transaction
from django.utils import timezone

from sync.hub.apply.changes import lock_sites
from sync.hub.apply.context import EntryContext, EntryRejectedError
from sync.hub.apply.lww import stamp_for
from sync.hub.apply.people import apply_person, apply_template, apply_tombstone
from sync.hub.apply.photos import apply_photo
from sync.hub.apply.records import apply_access_event, apply_observation
from sync.hub.auth import usable
from sync.hub.metrics import count_entry
from sync.hub.models import AppliedEntry, Device
from sync.protocol import (
    KEY_REUSED_REASON,
    UID_FIELDS,
    OutboxEntry,
    PayloadError,
    PushBatch,
    PushResult,
    Rejection,
    parse_payload,
)

Handler = Callable[[EntryContext, Any], str]
_RACE_REASON = "conflicts with a record another device stored at the same moment; retry"
# PostgreSQL's codes for a conflict that passes; lock_not_available is what a lock_timeout
# set on the hub's role or database raises.
_TRANSIENT_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock with another push",
    "55P03": "a record it needs was locked past the lock timeout",
}
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("person", "upsert"): apply_person,
    ("person", "tombstone"): apply_tombstone,
    ("face_template", "upsert"): apply_template,
    ("photo", "upsert"): apply_photo,
    ("fish_observation", "upsert"): apply_observation,
    ("access_event", "upsert"): apply_access_event,
}


def apply_batch(device: Device, batch: PushBatch) -> PushResult:
    acknowledged = []
    rejected = []
    with transaction.atomic():
        now = (
            Device.objects.select_for_update(of=("self",)).select_related("site").get(pk=device.pk)
        )
        lock_sites(now.site_id)
        # Revoked, or given a new code (a lost or stolen device), while this push waited for
        # the locks: the token it came with is dead, and nothing applies.
        device = usable(now if now.token_hash == device.token_hash else None)
        for entry in batch.entries:
            rejection = _apply_entry(device, entry)
            if rejection is None:
                acknowledged.append(entry.idempotency_key)
            else:
                rejected.append(rejection)
        device.last_seen_at = timezone.now()
        device.last_sequence = max([device.last_sequence, *(e.sequence for e in batch.entries)])
        device.save(update_fields=["last_seen_at", "last_sequence"])
    return PushResult(acknowledged=acknowledged, rejected=rejected)


def _apply_entry(device: Device, entry: OutboxEntry) -> Rejection | None:
    """None when the entry is (or already was) applied; else its rejection."""
    rejection, outcome = _settle_entry(device, entry)
    count_entry(entry.entity, outcome)  # once the batch commits
    return rejection


def _settle_entry(device: Device, entry: OutboxEntry) -> tuple[Rejection | None, str]:
    """The entry's rejection (or None) and how it ended, for the metrics."""
    key = entry.idempotency_key
    content = _content_digest(entry)
    replay = AppliedEntry.objects.select_related("device").filter(key=key).first()
    if replay is not None:
        reason = _replay_verdict(device, replay, content)
        if reason is None:
            return None, "duplicate"
        return _rejection(key, reason, retryable=False), "refused"
    try:
        with transaction.atomic():
            outcome = _dispatch(device, entry)
            AppliedEntry.objects.create(
                key=key,
                device=device,
                sequence=entry.sequence,
                entity=entry.entity,
                entity_uid=entry.entity_uid,
                operation=entry.operation,
                content_sha256=content,
                outcome=outcome,
            )
    except EntryRejectedError as rejection:
        return _refused(key, str(rejection), retryable=rejection.retryable)
    except IntegrityError:
        # Another device's push took this key (or uid) between our check and our insert.
        return _refused(key, _RACE_REASON, retryable=True)
    except OperationalError as error:
        conflict = _conflict(error)
        if conflict is None:
            raise  # the database itself failed: nothing commits, the device sends it all again
        return _refused(key, f"{conflict}; retry", retryable=True)
    return None, outcome


def _dispatch(device: Device, entry: OutboxEntry) -> str:
    try:
        return _dispatch_parsed(device, entry)
    except DataError as error:
        # A value the schema let through does not fit a column: the same entry never will,
        # and a 500 would hold the device's whole queue behind it.
        raise EntryRejectedError(f"a value does not fit the hub's records: {error}") from None


def _dispatch_parsed(device: Device, entry: OutboxEntry) -> str:
    handler = _HANDLERS.get((entry.entity, entry.operation))
    if handler is None:
        raise EntryRejectedError(f"the hub does not accept {entry.entity}/{entry.operation}")
    try:
        payload = parse_payload(entry.entity, entry.operation, entry.payload)
    except PayloadError as error:
        raise EntryRejectedError(str(error)) from None
    uid = getattr(payload, UID_FIELDS[entry.entity])
    if uid != entry.entity_uid:
        raise EntryRejectedError(f"entity_uid {entry.entity_uid} differs from the payload's {uid}")
    context = EntryContext(device, entry, stamp_for(entry.occurred_at, str(device.uid)))
    return handler(context, payload)


def _replay_verdict(device: Device, replay: AppliedEntry, content: str) -> str | None:
    """None for a true duplicate: the same content from this device, or from another device
    of its site (a store restored onto replacement hardware pushes again what the old device
    pushed after the backup; acknowledging it tells that device nothing it does not hold)."""
    if replay.device_id != device.pk and replay.device.site_id != device.site_id:
        return "idempotency key already used by another site's device"
    if replay.content_sha256 != content:
        return KEY_REUSED_REASON
    return None


def _rejection(key: UUID, reason: str, *, retryable: bool) -> Rejection:
    return Rejection(key=key, reason=_clean(reason), retryable=retryable)


def _refused(key: UUID, reason: str, *, retryable: bool) -> tuple[Rejection, str]:
    return _rejection(key, reason, retryable=retryable), "retry_later" if retryable else "refused"


def _conflict(error: OperationalError) -> str | None:
    """What the entry conflicted with, when the error is a conflict with another transaction
    (the savepoint's rollback has undone the entry); None for any other database failure."""
    return _TRANSIENT_SQLSTATES.get(getattr(error.__cause__, "sqlstate", None) or "")


def _clean(reason: str) -> str:
    """Reasons may quote what the device sent: printable, and short enough for the wire."""
    return "".join(c if c.isprintable() else "?" for c in reason)[:1000]


def _content_digest(entry: OutboxEntry) -> str:
    """What one key may carry. Not a catch's ``recorded_here``: the pusher's word of itself,
    said as the entry is sent, which a send before the device's upgrade to protocol 6 did
    not say and its send again (``sync.store.resend``) does."""
    content = entry.model_dump(mode="json", exclude={"idempotency_key", "sequence"})
    if entry.entity == "fish_observation":
        content["payload"] = {k: v for k, v in entry.payload.items() if k != "recorded_here"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
