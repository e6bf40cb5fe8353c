"""Push queued outbox entries to the hub in batches, and settle each batch's verdict.

An entry goes ``queued -> sent`` before its batch leaves and gets the hub's verdict after:
acknowledged; rejected ``retryable`` (a conflict that passes: back to the queue for the next
sync, until the hub has refused it ``Tuning.max_retryable_attempts`` times: then it is
quarantined, since a refusal that lasts that long needs an operator); or rejected for good and
quarantined with the reason (sent again only if an operator requeues it: ``jaga sync
requeue``). Any failure to hear the verdict puts the batch back in the queue with the same
idempotency keys, so the retry is acknowledged by the hub's ledger and nothing is stored
twice; if the process dies instead, the next sync finds the entries ``sent`` and requeues
them first. Each push also deletes one bounded batch of the acknowledged entries older
releases kept, which nothing reads (``Outbox.forget_acknowledged``).

A batch the hub refuses whole (its ``invalid_body`` or ``too_large``) is split in halves until
the one entry it refuses is found and quarantined with the hub's reason, so one bad entry
cannot block a queue. A bare 413 from a proxy in between (``ProxyBodyLimitError``) is split
too, since a smaller body may pass its limit, but never quarantines: it is no verdict on the
entry. An entry that still does not pass alone waits in the queue for the next sync, as a
retryable one does; the rest are pushed, and the sync runs its other steps, then fails as an
outage (``PushReport.held_back``; the service backs off) until the proxy's limit is raised:
``jaga sync status`` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from sync.client.config import SitePolicy, Tuning
from sync.client.errors import (
    HubAuthError,
    HubRefusedError,
    ProtocolMismatchError,
    ProxyBodyLimitError,
)
from sync.client.hub_identity import hub_of
from sync.client.stopping import Stopping, never
from sync.client.transport import HubTransport
from sync.protocol import (
    MAX_PUSH_BODY_BYTES,
    TOO_LARGE_CODES,
    OutboxEntry,
    PushBatch,
    PushResult,
    summarize,
)
from sync.store import OutboxEntry as StoredEntry
from sync.store import Store, Verdict
from sync.store.outbox import ERASED_PAYLOAD

_log = logging.getLogger(__name__)
# What a site allows when nothing says otherwise: only embeddings travel.
DEFAULT_POLICY = SitePolicy()
# Room under the hub's body limit for the batch envelope and JSON escaping of payloads.
_BATCH_BUDGET_BYTES = MAX_PUSH_BODY_BYTES * 3 // 4
_ENTRY_OVERHEAD_BYTES = 400
ERASED_REASON = "erased on this device before the hub acknowledged it; its tombstone follows"


@dataclass(frozen=True)
class PushReport:
    batches: int = 0
    acknowledged: int = 0
    rejected: int = 0
    requeued: int = 0
    recovered: int = 0
    # False when the per-sync batch limit (or a stop) left entries it could have sent.
    complete: bool = True
    # A proxy's body limit that even one entry alone did not pass: those entries wait for
    # the next sync, and the sync fails with this once its other steps are done.
    held_back: ProxyBodyLimitError | None = None

    def add(self, verdict: Verdict) -> PushReport:
        return replace(
            self,
            batches=self.batches + 1,
            acknowledged=self.acknowledged + len(verdict.acknowledged),
            rejected=self.rejected + len(verdict.rejected),
            requeued=self.requeued + len(verdict.requeued) + len(verdict.refused),
        )


class Pusher:
    def __init__(
        self,
        store: Store,
        transport: HubTransport,
        device_id: UUID,
        tuning: Tuning,
        policy: SitePolicy = DEFAULT_POLICY,
    ) -> None:
        self._store = store
        self._transport = transport
        self._device_id = device_id
        self._tuning = tuning
        self._policy = policy
        self._held_back: ProxyBodyLimitError | None = None  # in this push

    def push_all(self, stopping: Stopping = never) -> PushReport:
        """Push until the queue is empty (or the per-sync batch limit, or ``stopping()``:
        then the report is not ``complete``); raises on failure. Entries the hub refused
        as retryable, or left unanswered, wait for the next sync and leave it complete; so do
        entries a proxy's body limit refuses even alone (``PushReport.held_back``)."""
        self._held_back = None
        report = self._push_batches(stopping)
        return replace(report, held_back=self._held_back)

    def _push_batches(self, stopping: Stopping) -> PushReport:
        report = PushReport(recovered=self._store.outbox.recover_interrupted())
        self._store.outbox.forget_acknowledged()  # a batch of what older releases kept
        deferred: set[str] = set()  # requeued in this push: they wait for the next sync
        for _ in range(self._tuning.max_batches_per_sync):
            if stopping():
                return replace(report, complete=False)
            entries = self._next_batch(deferred)
            if not entries:
                return report
            verdict = self.push_batch(entries)
            deferred.update(verdict.requeued + verdict.refused)
            report = report.add(verdict)
        return replace(report, complete=not self._next_batch(deferred))

    def push_batch(self, entries: list[StoredEntry]) -> Verdict:
        """Send one batch and settle it; on any failure the batch goes back to the queue."""
        pulled = self._store.observations.pulled(
            e.entity_uid for e in entries if e.entity == "fish_observation"
        )
        wire, unsendable = _to_wire(entries, self._policy, pulled)
        keys = [entry.idempotency_key for entry in entries]
        self._store.outbox.note_withheld(_told_withheld(wire))
        self._store.outbox.mark_sent(keys)
        refusals = {entry.idempotency_key: entry.refusals for entry in entries}
        try:
            verdict = self._send(wire, refusals) if wire else Verdict()
        except BaseException:
            self._requeue_quietly(keys)
            raise
        verdict = verdict.merged(Verdict(rejected=tuple(unsendable)))
        # The hub pushed to, whatever the store is registered with now: its catches.
        self._store.outbox.settle(verdict, hub_of(self._store, self._transport.registration))
        return verdict

    def _next_batch(self, deferred: set[str]) -> list[StoredEntry]:
        limit = self._tuning.batch_entries + len(deferred)
        entries = self._store.outbox.queued(limit=limit)
        batch: list[StoredEntry] = []
        size = 0
        for entry in (e for e in entries if e.idempotency_key not in deferred):
            size += len(entry.payload_json) + _ENTRY_OVERHEAD_BYTES
            if batch and size > _BATCH_BUDGET_BYTES:
                break
            batch.append(entry)
            if len(batch) == self._tuning.batch_entries:
                break
        return batch

    def _send(self, wire: list[OutboxEntry], refusals: Mapping[str, int]) -> Verdict:
        try:
            result = self._transport.push(PushBatch(device_id=self._device_id, entries=wire))
        except ProxyBodyLimitError as error:
            if len(wire) == 1:  # no verdict on the entry: it waits, the others go on
                self._held_back = self._held_back or error
                return Verdict(requeued=(str(wire[0].idempotency_key),))
            return self._halves(wire, refusals)
        except HubRefusedError as error:
            if isinstance(error, HubAuthError | ProtocolMismatchError):
                raise
            # Split only where the hub itself said the body was bad or too large: a bare 400
            # from something in between says nothing of the entries, and splitting on it
            # would quarantine good ones one by one.
            if not _body_refused(error):
                raise
            if len(wire) == 1:
                key = str(wire[0].idempotency_key)
                return Verdict(rejected=((key, f"hub refused the entry: {error.reason}"),))
            return self._halves(wire, refusals)
        return interpret(wire, result, refusals=refusals, cap=self._tuning.max_retryable_attempts)

    def _halves(self, wire: list[OutboxEntry], refusals: Mapping[str, int]) -> Verdict:
        middle = len(wire) // 2
        return self._send(wire[:middle], refusals).merged(self._send(wire[middle:], refusals))

    def _requeue_quietly(self, keys: list[str]) -> None:
        try:
            self._store.outbox.settle(Verdict(requeued=tuple(keys)))
        except Exception:  # the original failure matters more; the next sync recovers these
            _log.warning("could not requeue %d entries; the next sync will", len(keys))


def _body_refused(error: HubRefusedError) -> bool:
    """Whether the hub refused the batch's body, which names one entry once split down."""
    if error.status == 413:
        return error.code in TOO_LARGE_CODES
    return (error.status, error.code) == (400, "invalid_body")


def interpret(
    wire: list[OutboxEntry], result: PushResult, *, refusals: Mapping[str, int], cap: int
) -> Verdict:
    """The hub's answer as a verdict over exactly the entries sent.

    ``refusals`` counts the hub's earlier retryable refusals of each entry. The ``cap``-th
    quarantines it; sends whose answer was lost never count (the hub may not have seen them,
    and a device offline for days must not quarantine its backlog on the first lock timeout).
    """
    sent = {str(entry.idempotency_key) for entry in wire}
    acknowledged = {str(key) for key in result.acknowledged} & sent
    rejected: list[tuple[str, str]] = []
    retry: set[str] = set()
    for rejection in result.rejected:
        key = str(rejection.key)
        if key not in sent or key in acknowledged:
            continue
        reason = rejection.reason or "rejected without a reason"
        count = refusals.get(key, 0) + 1
        if rejection.retryable and count >= cap:
            rejected.append((key, f"still refused after {count} attempts: {reason}"))
        elif rejection.retryable:  # the hub's verdict; the reason's words are for people
            retry.add(key)
        else:
            rejected.append((key, reason))
    answered = acknowledged | retry | {key for key, _ in rejected}
    if sent - answered:
        _log.warning("the hub's answer left out %d entries; they will be sent again",
                     len(sent - answered))  # fmt: skip
    order = [str(entry.idempotency_key) for entry in wire]
    return Verdict(
        acknowledged=tuple(key for key in order if key in acknowledged),
        rejected=tuple(rejected),
        requeued=tuple(key for key in order if key not in answered),
        refused=tuple(key for key in order if key in retry),
    )


def _to_wire(
    entries: list[StoredEntry], policy: SitePolicy, pulled: Set[str]
) -> tuple[list[OutboxEntry], list[tuple[str, str]]]:
    """Entries as they travel, and the ones that cannot (with the reason to quarantine);
    ``pulled``: the catches among them this device pulled from the hub."""
    wire: list[OutboxEntry] = []
    unsendable: list[tuple[str, str]] = []
    for entry in entries:
        if entry.payload_json == ERASED_PAYLOAD:
            unsendable.append((entry.idempotency_key, ERASED_REASON))
            continue
        try:
            wire.append(to_wire(entry, policy, pulled))
        except ValidationError as error:
            unsendable.append((entry.idempotency_key, f"not sendable: {summarize(error)}"))
    return wire, unsendable


def _told_withheld(wire: list[OutboxEntry]) -> dict[str, bool]:
    """Each photo upsert's key, and whether this send tells the hub its bytes stay here
    (what its first send decided, for one sent before)."""
    return {
        str(entry.idempotency_key): entry.payload.get("withheld") is True
        for entry in wire
        if (entry.entity, entry.operation) == ("photo", "upsert")
    }


def to_wire(
    entry: StoredEntry, policy: SitePolicy = DEFAULT_POLICY, pulled: Set[str] | None = None
) -> OutboxEntry:
    """``entry`` as it travels. ``pulled``: the catches this device pulled from the hub, of
    which it sends only reviews (None: not said)."""
    payload = entry.payload()
    if entry.entity == "photo" and entry.operation == "upsert":
        # Decided at the entry's first send and kept (``Outbox.note_withheld``): the hub
        # refuses a key that comes back with other content, so a retry (an answer lost, a
        # renewed hub's resend) says it again, whatever the policy says now. A later change
        # of the policy follows as a notice (``sync.client.withheld``) or as the upload.
        withheld = payload.pop("withheld", None)
        if withheld is None:
            withheld = _withheld_face_image(entry, payload, policy)
        if withheld:  # False travels as no field, as it did the first time
            payload["withheld"] = True
    if entry.entity == "fish_observation" and pulled is not None:
        # Said as it is sent, so an entry queued before protocol 6 says it too: a catch the
        # hub makes from a review has no author (``sync.hub.apply.records``).
        payload["recorded_here"] = entry.entity_uid not in pulled
    return OutboxEntry.model_validate(
        {
            "idempotency_key": entry.idempotency_key,
            "sequence": entry.sequence,
            "entity": entry.entity,
            "entity_uid": entry.entity_uid,
            "operation": entry.operation,
            "payload": payload,
            "occurred_at": entry.created_at,
        }
    )


def _withheld_face_image(entry: StoredEntry, payload: dict[str, Any], policy: SitePolicy) -> bool:
    """A face image the site's policy keeps on the device (``uploads.pending_uploads`` never
    uploads it): the hub is told, so it does not wait for its bytes. Said as the entry is
    first sent, since the policy is the registration's, not the store's."""
    return (
        entry.entity == "photo"
        and entry.operation == "upsert"
        and payload.get("person_uid") is not None
        and not policy.send_face_images
    )
