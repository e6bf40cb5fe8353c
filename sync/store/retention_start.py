"""Decision retention at a kiosk's start, beside its first frames.

Retention runs at the end of each sync (``sync.store.retention``); a kiosk that is never
registered, or whose hub is never reached, never gets there, and so never deletes what
retention would: above all the kiosk journals set aside under an old key
(``sync.store.kiosk_waiting``), whose decisions name people. So the kiosk applies it at its
start too, when it is due (at most once a day, as a sync does), for the device the store
is registered as (None: not registered, and no audit entry is deleted).

It runs on a thread of its own, with a connection of its own to the store (a connection
belongs to the thread that opened it), so that the first frame does not wait for it (a run
takes up to ``RUN_SECONDS``); its batches are the short write transactions a sync's are,
which the kiosk's writes go between. The thread holds the store's in-use lock
(``sync.store.in_use``) while it runs, so that a restore or key change waits for it even once
the kiosk has closed the store, and the kiosk waits for it as it closes
(:func:`finish_retention`); it is a daemon: a process killed leaves the run's last
transaction rolled back, and the next start carries on. A failure is logged, never the
kiosk's.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sync.errors import StoreError
from sync.store.audit import AuditLog
from sync.store.clock import Clock
from sync.store.database import Database, StoreConfig
from sync.store.in_use import InUse
from sync.store.registration import registered_as
from sync.store.retention import RUN_SECONDS, Retention, RetentionReport
from sync.store.store import Store

_log = logging.getLogger(__name__)


def start_retention_if_due(store: Store) -> threading.Thread | None:
    """Start decision retention on its own thread if it is due; the thread, or None when it
    is not due (or cannot be asked: logged, the next start tries again)."""
    try:
        if not store.retention.due():
            return None
        identity = registered_as(store)
    except StoreError as error:
        _log.warning("decision retention not applied at the start: %s", error)
        return None
    run = _Run(
        store.path,
        store.key,
        # a sync's patience for the lock, not the kiosk's short one (its writes are one row)
        dataclasses.replace(store.database.config, busy_timeout_s=StoreConfig().busy_timeout_s),
        store.database.tracks_purges,
        store.clock,
        None if identity is None else identity.device_id,
    )
    thread = threading.Thread(target=run, name="jaga-retention", daemon=True)
    thread.start()
    return thread


def finish_retention(thread: threading.Thread | None) -> None:
    """Wait for the run :func:`start_retention_if_due` began, as the kiosk closes: a run
    ends within ``RUN_SECONDS`` (and a lock wait), and one left running would outlive the
    kiosk that began it (logging after its streams closed). Logged if it still runs then."""
    if thread is None:
        return
    thread.join(RUN_SECONDS + StoreConfig().busy_timeout_s)
    if thread.is_alive():
        _log.warning("decision retention begun at the start still runs as the kiosk closes")


@dataclass(frozen=True)
class _Run:
    """What the thread needs of the store, taken on the kiosk's thread: it touches nothing
    of the kiosk's ``Store`` (whose connection is that thread's)."""

    path: Path
    key: bytes
    config: StoreConfig
    tracks_purges: bool
    clock: Clock
    device_id: str | None

    def __call__(self) -> None:
        try:
            report = self._apply()
        except StoreError as error:
            _log.warning("decision retention not applied at the start: %s", error)
        except Exception:  # a thread's failure is seen nowhere else
            _log.exception("decision retention failed at the start")
        else:
            _log.info("decision retention at the start: %s", report)

    def _apply(self) -> RetentionReport:
        held = InUse.shared(self.path)
        try:
            database = Database.open(self.path, self.key, self.config, create=False)
            try:
                database.tracks_purges = self.tracks_purges
                audit = AuditLog(database, self.clock)
                return Retention(database, self.clock, audit).apply(self.device_id)
            finally:
                database.close()
        finally:
            held.release()
