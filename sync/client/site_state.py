"""What a device keeps of each site it pulls, by the site's slug, and the one place that
forgets it when the device is registered to another site or hub.

A device pulls only its registered site's log. What it kept of another site's pulls (the
cursor, the log tip and seal the hub checks its log against, the log's epoch, a full pull's
progress, the code that pulled the cursor, the pulled changes set aside) describes a log
it no longer reads: kept, a device registered back to that site later would skip the
changes it set aside, or resume a full pull from a stale note. Forgotten, it pulls that
site from the start, as a new device would.

Every such value is named by one of ``PULLED_STATE_NAMES``: a new one belongs there, so
that no registration path can leave it behind (``forget_sites`` is the only one that
forgets). One value keyed by a site is not pulled state and stays: the note of access
decisions to queue again for a hub restored from a backup (``sync.store.resend``), which
the hub lost and which exist only on this device; a device registered back to that site
queues them then. ``jaga sync register`` with the same hub queues the registered site's
note before it registers (``sync.client.site_records.queue_noted_decisions``), so the register
check counts them as records still to push; a note of another site (one left by an earlier
registration) is counted as such too. It is forgotten only when the hub is another one:
that hub's site of the same slug is another site, and the old hub's decisions are not its
to hold (so the command neither queues nor counts them then, and says they stay unsent).
"""

from __future__ import annotations

from typing import Any

from sync.store.purge_mark import owe_purge
from sync.store.resend import decisions_name


def cursor_name(site: str) -> str:
    # Per site: a device moved to another site must not skip that site's history.
    return f"pull_cursor.{site}"


def log_tip_name(site: str) -> str:
    """The cursor and fingerprint of the last change applied from ``site``'s log, which the
    hub checks its log against (``LOG_TIP_HEADER``, ``sync.client.log_epoch``)."""
    return f"log_tip.{site}"


def log_seal_name(site: str) -> str:
    """The cursor of the tip and the hub's seal of it (``LOG_SEAL_HEADER``), empty when the
    hub gave none (until a quiet pull's answer seals it: ``sync.client.apply.reseal_tip``):
    the tip is evidence of a rewound log only with it."""
    return f"log_seal.{site}"


def log_epoch_name(site: str) -> str:
    """The epoch of ``site``'s log the hub last named (``sync.client.log_epoch``)."""
    return f"log_epoch.{site}"


def pulled_with_name(site: str) -> str:
    """The protocol and store schema that moved ``site``'s cursor (``sync.client.full_pull``)."""
    return f"pulled_with.{site}"


def full_pull_name(site: str) -> str:
    """A full pull of ``site`` under way, or the last one (``sync.client.full_pull``)."""
    return f"full_pull.{site}"


PULLED_STATE_NAMES = (
    cursor_name,
    log_tip_name,
    log_seal_name,
    log_epoch_name,
    full_pull_name,
    pulled_with_name,
)
"""Every ``sync_state`` value a device keeps of a site's pulls (see the module)."""


def forget_sites(connection: Any, *, keep: str | None) -> int:
    """Inside the caller's write transaction, forget what was pulled of every site but
    ``keep`` (None: of every site, as when the hub is another one, whose site of the same
    slug is another site); returns how many pulled changes set aside it deleted. They hold
    names and face vectors, so a purge is then owed (the caller runs it after commit). Of
    another hub, the notes of decisions to queue again go too (see the module)."""
    names = PULLED_STATE_NAMES if keep is not None else (*PULLED_STATE_NAMES, decisions_name)
    for name in names:
        prefix = name("")
        connection.execute(
            "DELETE FROM sync_state WHERE substr(name, 1, ?) = ? AND name IS NOT ?",
            (len(prefix), prefix, None if keep is None else name(keep)),
        )
    deleted = connection.execute("DELETE FROM deferred_changes WHERE site IS NOT ?", (keep,))
    dropped = int(deleted.rowcount)
    if dropped:
        owe_purge(connection)
    return dropped
