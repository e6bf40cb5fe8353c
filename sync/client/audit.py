"""Anchor this device's audit chain at the hub: the entries after the last one it holds.

The store's chain (``sync.store.audit``) cannot show by itself that its newest entries were
removed, or that it was rewritten from an edit on: whoever holds the key can compute every
hash again. So each sync also sends the hub the entries it does not hold yet, in bounded
batches (``POST /api/v1/sites/{site}/audit``), and the hub checks that they extend what it
holds for this device (``sync.hub.audit``). The hub's receipt (the newest entry it holds)
is kept in the store, per device id (``sync.client.audit_state``); the next sync sends from
the entry after it. Each batch carries a number higher than the one before
(``audit.batch_number``, kept before it is sent), so the hub can tell a batch held up past a
later one (stale) from a chain rewound; told its number is behind (a restored backup brought
an older one back) or too far ahead (the hub started its count again for a new registration
code), the device numbers on from the hub's and sends again, once.

Anchoring never holds the records back and never fails or pauses a sync (not even a token
refused at the audit endpoint alone, or a store error): what goes wrong is kept in
``audit.problem`` (with ``audit.break_open`` set for an audit break) and shown by ``jaga
sync status``, the app's sync panel and the sync's summary, and the next sync tries again
(one request while it persists):

* a hub that refused the chain (``audit_chain_break``: it does not extend what the hub
  holds, after tampering or a restore of an older backup) refuses it until an operator has
  looked into it and acknowledged the break in the hub's admin; the sync after that
  anchors the chain as it now stands, as a new segment;
* a hub without the endpoint (404: older than this client) does not anchor at all;
* an entry this device cannot send (its hash does not match it, or it exceeds the wire's
  bounds) stops anchoring there: ``jaga audit verify`` says more. The chain's head is
  still reported to the hub, which shows how far behind it is (its admin, ``/metrics``);
* a link that fails midway leaves the rest for the next sync.

A device's anchoring begins at its registration (``sync.client.audit_start``): with no
receipt yet, it sends from the registration's own entry, never what the store recorded
before it (another hub's or another site's records); a hub that asks for an entry before
that (one older than this device) is not sent it, and the problem says why. A device
registered before registration entries existed has no such start: where the store holds a
receipt or start of another device id (it was registered before, as that device), its first
anchoring appends its registration entry and begins there (``sync.store.audit_begins``);
else (registered once) it sends from entry 1, its own chain.

A store whose oldest entries retention deleted (``sync.store.retention``) cannot send them
again. When a batch begins right after its checkpoint (the last entry deleted), it names
that checkpoint (``AUDIT_CHECKPOINT_HEADER``), and a hub that holds less of the chain than
that takes it from there, recording the entries it will never hold for its admin (a store
registered again as a new device; a hub restored from a backup older than what it had
anchored). A hub older than that header answers ``audit_gap`` for ever: the problem then
says that retention deleted those entries here (``sync.client.audit_problems``).

Batches are bounded in entries and in the bytes of their encoded body, as the hub counts
them; one refused as too large (413: the hub's, or a proxy's limit) is sent again as a batch
half its size, down to one entry. One entry refused so stops anchoring there (the problem
names it as too large for the way to the hub); the head is still reported, with no entries.
When a proxy's limit (``ProxyBodyLimitError``, not the hub's own 413) refused that entry, it
and every entry after it wait until the limit is raised, as outbox entries and photos do:
``AnchorReport.held_back``, and the sync is held back (``sync.client.client``), not a success.

A restored backup brings back the receipt it held (``sync.client.audit_state``), and the
hub refuses the restored chain where it holds other entries, as above. A backup that holds
no start for the device begins at the registration entry the restore appends
(``sync.store.audit_begins``): a hub that holds entries of the device records a
``restarted`` break there (``sync.hub.audit_restart``), refused as above until acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from pydantic import ValidationError

from sync.client.audit_problems import refusal_words
from sync.client.audit_state import (
    BATCH_NUMBER_NAME,
    BREAK_NAME,
    PROBLEM_NAME,
    Anchored,
    anchored_at_name,
    anchored_name,
    ask_again,
)
from sync.client.config import Tuning
from sync.client.errors import HubRefusedError, ProxyBodyLimitError, SyncClientError
from sync.client.state import put_values
from sync.client.stopping import Stopping, never
from sync.client.transport import HubTransport
from sync.errors import StoreError
from sync.protocol import (
    AUDIT_CHAIN_BREAK,
    AUDIT_STALE,
    MAX_AUDIT_BODY_BYTES,
    AuditBatch,
    AuditCheckpoint,
    AuditLink,
    AuditReceipt,
    summarize,
)
from sync.store import Store
from sync.store.audit_begins import begin_after_earlier_device
from sync.store.clock import format_timestamp

# Importers of these from here before they moved (status, hub notes, log epoch, tests) still do.
__all__ = [
    "BATCH_NUMBER_NAME",
    "BREAK_NAME",
    "PROBLEM_NAME",
    "AnchorReport",
    "Anchored",
    "AuditAnchor",
    "anchored_at_name",
    "anchored_name",
    "ask_again",
]

_BATCH_BUDGET_BYTES = MAX_AUDIT_BODY_BYTES * 3 // 4  # the rest: the batch's own fields
_TOO_LARGE = 413
_FIELDS = ("sequence", "at", "actor", "action", "subject", "details", "prev_hash", "entry_hash")


@dataclass(frozen=True)
class AnchorReport:
    """What one sync did about the audit chain."""

    stored: int = 0  # entries the hub stored this time
    anchored: int = 0  # the newest entry the hub holds
    behind: int = 0  # entries of this device's chain the hub does not hold yet
    problem: str | None = None  # why anchoring stopped (None: it went as far as it could)
    complete: bool = True  # False when the per-sync limit or a stop left entries to send
    # An entry a proxy's body limit refuses even alone: it and those after it wait for it
    held_back: ProxyBodyLimitError | None = None


class AuditAnchor:
    def __init__(
        self, store: Store, transport: HubTransport, device_id: UUID, tuning: Tuning
    ) -> None:
        self._store = store
        self._transport = transport
        self._device_id = device_id
        self._tuning = tuning

    def anchor_all(self, stopping: Stopping = never) -> AnchorReport:
        """Send batches until the hub holds the whole chain, a batch limit, a stop, or a
        problem (kept in the store, when it can be). Raises nothing: the sync's records went
        through before it, and a token refused here alone (a proxy that does not let the
        audit endpoint through, say) or a store that cannot keep the receipt must not fail
        or pause that sync; the next sync tries again."""
        try:
            return self._anchor_all(stopping)
        except StoreError as error:
            return AnchorReport(problem=f"not anchored this time: {error}", complete=True)

    def _anchor_all(self, stopping: Stopping) -> AnchorReport:
        # Registered anew before registrations noted a start: not the earlier device's chain.
        begin_after_earlier_device(self._store, str(self._device_id), operator="sync")
        start, anchored = self._start_and_anchored()
        stored, problem, complete, broken = 0, None, True, False
        held_back: ProxyBodyLimitError | None = None
        limit = self._tuning.batch_entries
        for _ in range(self._tuning.max_batches_per_sync):
            if stopping():
                complete = False
                break
            links, problem = self._next_batch(anchored.sequence, limit)
            head = Anchored(*self._store.audit.head())  # after the links: it is not before them
            if not links and head == anchored:
                break
            # With an entry it cannot send, the head still goes (no links): the hub then
            # knows how far behind it is, and shows it.
            if head.sequence == 0:
                problem = "this device's audit chain is empty: jaga audit verify"
                break
            # With no links, the chain's head is not the one the hub was last told of (its
            # newest entries removed, say): the hub is told, and judges.
            try:
                receipt = self._send(links, head)
            except HubRefusedError as error:
                if error.status == _TOO_LARGE and len(links) > 1:
                    # Too large for the way to the hub (a proxy's limit, say): smaller.
                    limit = len(links) // 2
                    continue
                if error.status == _TOO_LARGE and links:  # one entry: the hub is told the head
                    problem = (
                        f"audit entry {links[0].sequence} is too large for the way to the hub "
                        f"(413: {error.reason}): not anchored past entry {anchored.sequence}"
                    )
                    anchored = self._tell_head(head, anchored)
                    held_back = _proxy_limit(error)  # None: the hub's own 413
                    break
                problem = refusal_words(
                    error, anchored, self._store.audit.checkpoint().sequence, start
                )
                broken = error.code == AUDIT_CHAIN_BREAK
                if problem is None:  # a gap: the hub holds less than noted; send from there
                    anchored = Anchored(error.expected_offset or 0)
                    continue
                break
            except SyncClientError as error:
                problem = f"not anchored this time: {error}"
                break
            except ValidationError as error:  # the chain changed under this sync
                problem = f"not anchored this time: {summarize(error)}"
                break
            moved = Anchored(receipt.sequence, receipt.entry_hash) != anchored
            anchored = Anchored(receipt.sequence, receipt.entry_hash)
            stored += receipt.stored
            self._keep(anchored, problem=None, received=True)
            if not links and not moved:
                break
        else:
            complete = self._store.audit.count_after(anchored.sequence) == 0
        self._keep(anchored, problem, broken=broken)
        behind = self._store.audit.count_after(anchored.sequence)
        return AnchorReport(stored, anchored.sequence, behind, problem, complete, held_back)

    def _send(self, links: list[AuditLink], head: Anchored) -> AuditReceipt:
        checkpoint = self._checkpoint_before(links)
        try:
            return self._transport.anchor_audit(self._batch(links, head), checkpoint)
        except ProxyBodyLimitError as error:
            # No verdict of the hub, yet to anchoring the same as its 413: a smaller batch may
            # pass, and nothing is dropped for it. The head alone not passing is an outage.
            if not links:
                raise
            raise HubRefusedError(_TOO_LARGE, "too_large", str(error)) from error
        except HubRefusedError as error:
            if error.code != AUDIT_STALE or error.expected_offset is None:
                raise
            # Numbered behind the hub (a restored backup), or too far past it (the hub's
            # number started again with a new code): number on from it, send once more.
            self._put({BATCH_NUMBER_NAME: str(error.expected_offset)})
            return self._transport.anchor_audit(self._batch(links, head), checkpoint)

    def _checkpoint_before(self, links: list[AuditLink]) -> AuditCheckpoint | None:
        """The store's checkpoint when ``links`` begin right after it (the oldest entries kept,
        retention having deleted those before): the hub may hold less than that and then
        needs it, to take the chain from there (``sync.hub.audit``)."""
        kept = self._store.audit.checkpoint()
        if not links or kept.sequence == 0 or links[0].sequence != kept.sequence + 1:
            return None
        return AuditCheckpoint(sequence=kept.sequence, entry_hash=kept.entry_hash)

    def _tell_head(self, head: Anchored, anchored: Anchored) -> Anchored:
        """Send the chain's head alone, so the hub shows how far behind it is; the newest
        entry it holds (``anchored`` if this fails too: the problem already kept says why)."""
        try:
            receipt = self._send([], head)
        except (SyncClientError, ValidationError):
            return anchored
        return Anchored(receipt.sequence, receipt.entry_hash)

    def _batch(self, links: list[AuditLink], head: Anchored) -> AuditBatch:
        return AuditBatch(
            device_id=self._device_id,
            head_sequence=head.sequence,
            head_hash=head.entry_hash,
            entries=links,
            batch_number=self._next_number(),
        )

    def _values(self) -> dict[str, str]:
        return dict(self._store.database.query("SELECT name, value FROM sync_state"))

    def _start_and_anchored(self) -> tuple[Anchored, Anchored]:
        """The entry before the one this device's anchoring begins with (nothing before it
        is sent: ``sync.client.audit_start``), and the newest the hub holds (that entry,
        until the hub has said)."""
        values = self._values()
        start = Anchored.before_start(values, self._device_id)
        anchored = Anchored.from_values(values, self._device_id)
        return start, anchored if anchored.sequence else start

    def _next_number(self) -> int:
        """The next batch's number, kept before it is sent: each is higher than the last."""
        kept = self._values().get(BATCH_NUMBER_NAME, "")
        number = (int(kept) if kept.isdigit() else 0) + 1
        self._put({BATCH_NUMBER_NAME: str(number)})
        return number

    def _keep(
        self,
        anchored: Anchored,
        problem: str | None,
        *,
        broken: bool = False,
        received: bool = False,
    ) -> None:
        """Keep the newest entry the hub holds and the problem (``broken``: an audit break);
        ``received``: the hub has just said so, which is when the chain was last anchored."""
        values = {
            anchored_name(self._device_id): anchored.stored(),
            PROBLEM_NAME: problem or "",
            BREAK_NAME: "1" if broken else "",
        }
        if received:
            values[anchored_at_name(self._device_id)] = format_timestamp(self._store.clock.now())
        self._put(values)

    def _put(self, values: Mapping[str, str]) -> None:
        put_values(self._store.database, values, self._store.clock.now())

    def _next_batch(self, after: int, limit: int) -> tuple[list[AuditLink], str | None]:
        """The next links to send (at most ``limit``, in at most ``_BATCH_BUDGET_BYTES`` of
        the encoded body, as the hub counts it), each checked as the hub will; the problem
        with the first one that cannot be sent (the batch ends before it)."""
        links: list[AuditLink] = []
        size = 0
        for row in self._store.audit.links(after, limit):
            try:
                link = AuditLink.model_validate(dict(zip(_FIELDS, row, strict=True)))
            except ValidationError as error:
                return links, f"audit entry {row[0]} cannot be sent: {summarize(error)}"
            if links and not _follows(links[-1], link):
                break  # the hub names what is wrong with it, when it comes first
            size += len(link.model_dump_json().encode()) + 1  # and its comma
            if links and size > _BATCH_BUDGET_BYTES:
                break
            links.append(link)
        return links, None


def _proxy_limit(error: HubRefusedError) -> ProxyBodyLimitError | None:
    """The proxy's limit a 413 came from (``_send`` made it one); None for the hub's own."""
    cause = error.__cause__
    return cause if isinstance(cause, ProxyBodyLimitError) else None


def _follows(before: AuditLink, link: AuditLink) -> bool:
    return link.sequence == before.sequence + 1 and link.prev_hash == before.entry_hash
