"""Notice a hub whose change log was rewound (its database restored from a backup).

The hub names its site's log epoch in every pull answer (``PullResult.log_epoch``, to a
pull that sends ``LOG_EPOCH_HEADER`` with the epoch this device kept: ``log_epoch.SITE``)
and renews it after a restore (``sync.hub.log_epoch``): by its admin's command, or by
itself when this device shows it a tip it sealed that its log no longer holds (the last
change this device applied, and the hub's seal of it, ``LOG_SEAL_HEADER``, kept from the
answer that brought it: ``known_tip``). The first epoch a device sees (a device new, or
upgraded from a release before epochs) is only kept. Another one means the
log this device pulled was rewound: changes written since the restore have cursors it
already passed, and what it pushed after the backup was taken is gone from the hub. So, in
one store transaction, it keeps the new epoch, queues again what it sent, and the catches
it pulled (``sync.store.resend``), and moves its cursor to 0: the site is pulled again
from the start (``sync.client.full_pull``, noted ``renewed``). The page that named the new
epoch is not applied, and the sync pushes before it pulls from 0 (``SyncClient.sync_once``),
so the hub settles this device's versions against what it holds before they come back.

Such a re-pull is not a replay: a change at or below the old cursor may be one written
after the restore, so every change applies as in any pull (the hub's version of a record
replaces this device's, which it already settled by last-writer-wins against the versions
queued again; but a catch reviewed on the hub after the backup, which this device pulled,
keeps its review and sends it back: ``sync.client.apply``; an erasure wins, and one
pulled here before is tombstoned again by this device, so the restored log cannot bring
the person back). The audit chain is sent again from the entry the restored hub holds
(``sync.client.audit_state.ask_again``). Photos' bytes go again with their metadata
(``sync.store.resend``). ``jaga sync status`` shows when the log was renewed, how many
entries were queued again and how far the re-pull is.
"""

from __future__ import annotations

import logging
from uuid import UUID

from sync.client.audit import ask_again
from sync.client.full_pull import FullPull
from sync.client.site_state import (
    cursor_name,
    full_pull_name,
    log_epoch_name,
    log_seal_name,
    log_tip_name,
)
from sync.protocol import NO_LOG_EPOCH
from sync.store import Store
from sync.store.clock import format_timestamp
from sync.store.resend import queue_again, queue_decisions_again
from sync.store.state_rows import get_value, put_value

_log = logging.getLogger(__name__)


def known_epoch(store: Store, site: str) -> str:
    """The epoch of ``site``'s log this device kept, or ``NO_LOG_EPOCH``."""
    with store.database.read() as connection:
        return get_value(connection, log_epoch_name(site)) or NO_LOG_EPOCH


def known_tip(store: Store, site: str, cursor: int) -> tuple[str | None, str | None]:
    """The fingerprint of the change this device applied at ``cursor`` of ``site``'s log,
    for the hub to compare with its own (``LOG_TIP_HEADER``), and the hub's seal of it
    (``LOG_SEAL_HEADER``), without which the hub takes the tip as no evidence: None for
    either when it kept none there (cursor 0, moved by code before it kept one, a hub that
    gave no seal: the tip is sent without one, for a hub upgraded since to seal it)."""
    with store.database.read() as connection:
        kept = get_value(connection, log_tip_name(site)) or ""
        sealed = get_value(connection, log_seal_name(site)) or ""
    at, _, fingerprint = kept.partition(":")
    if not (cursor and fingerprint and at == str(cursor)):
        return None, None
    sealed_at, _, seal = sealed.partition(":")
    return fingerprint, (seal if seal and sealed_at == at else None)


def sealed_cursor(store: Store, site: str) -> int | None:
    """The cursor of the tip this device kept for ``site``'s log with what the hub said of
    its seal (an empty seal: it gave none), if it kept one."""
    with store.database.read() as connection:
        kept = get_value(connection, log_seal_name(site))
    return int(kept.partition(":")[0]) if kept else None


def note_epoch(
    store: Store, site: str, epoch: UUID, cursor: int, device: UUID | None
) -> FullPull | None:
    """Keep ``epoch``, named by the hub in answer to a pull from ``cursor``; when this device
    (``device``, as the hub names it) kept another one, queue again what it sent, ask the hub
    again how much of its audit chain it holds (``sync.client.audit_state.ask_again``) and pull
    the site again from the start: returns that full pull (None when nothing was owed)."""
    with store.database.write() as connection:
        kept = get_value(connection, log_epoch_name(site))
        if kept == str(epoch):
            return None
        now = store.clock.now()
        put_value(connection, log_epoch_name(site), str(epoch), now)
        if kept is None:
            return None  # the first this device sees: nothing to compare with
        requeued = queue_again(connection, store.outbox, store.clock, site)
        full = FullPull(cursor, format_timestamp(now), "", renewed=True, requeued=requeued.total)
        put_value(connection, full_pull_name(site), full.stored(), now)
        put_value(connection, cursor_name(site), "0", now)
        if device is not None:
            ask_again(connection, device, now)
    queue_decisions_again(store, site)  # in transactions of their own: see resend
    _log.warning(
        "the hub renewed site %s's change log (a restore from a backup, or a device's pull"
        " that did not match its log):"
        " queued again %d entries this device had sent or pulled, pulling the site again from"
        " the start (cursor %d before)",
        site, requeued.total, cursor,
    )  # fmt: skip
    return full
