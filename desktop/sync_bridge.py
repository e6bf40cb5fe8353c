"""From the sync service's thread to the GUI thread: one Qt signal carrying immutable values.

``SyncService`` calls ``on_state`` on its own thread; ``SyncBridge.publish`` is that callback.
It never touches a widget: it adds what the window needs and the state does not carry (when
it happened, when the shown report arrived, the outbox backlog, the hub the service's client
is registered with) and emits ``snapshot``, which Qt queues to the receivers' thread.

The registration is read from the client the service opened for this sync, not from the
window's first look at the store: ``jaga sync register`` run while the window is open changes
the hub from the next sync on, and the panel must name the hub actually synced with.

The backlog is counted here, on the service thread, with the store the service already has
open: the GUI thread holds no store (opening one derives its key with scrypt, and a store
belongs to the thread that opened it), and a count after each change of state is what the
panel needs. ``Outbox.counts`` is one ``GROUP BY`` over the outbox's ``(state, sequence)``
index, run a few times per sync round, never per frame; the entries held for another hub,
and those held as of no known hub, are counted apart, as ``jaga sync status`` counts them
(``sync.store.outbox_hub``). The audit chain's anchoring is read
there too, as ``jaga sync status`` reads it (``read_audit_status``: the client's few named
values and the chain's newest entry), and whether this device's clock reads behind the hub
time it has seen (one named value) or the date of its jaga release.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal

from sync.client.client import SyncClient
from sync.client.config import SyncConfig
from sync.client.failed_uploads import count_failed_uploads
from sync.client.service import ClientFactory, ServiceState
from sync.client.status import AuditStatus, read_audit_status, read_clock_warning
from sync.errors import StoreError
from sync.store import OutboxState
from sync.store.outbox_hub import held_for_no_known_hub, held_for_other_hubs

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backlog:
    waiting: int  # queued or sent, not acknowledged yet
    quarantined: int  # rejected by the hub, kept with the reason
    # Unsent, held for a hub this device was registered with before (``sync.store.outbox_hub``):
    # not in the counts above, which no sync here sends, but not gone either.
    held: int = 0
    # Unsent, held as of no known hub (``held_for_no_known_hub``): sent to no hub, that one's
    # included, so never counted with ``held``.
    held_unknown: int = 0
    # Photos whose upload the hub refused for good, their bytes only on this device
    # (``sync.client.failed_uploads``): not outbox entries, but waiting on someone all the same.
    failed_uploads: int = 0

    @classmethod
    def of(
        cls,
        counts: Mapping[str, int],
        held: int = 0,
        held_unknown: int = 0,
        failed_uploads: int = 0,
    ) -> Backlog:
        """From outbox counts by state name (``Outbox.counts``, ``SyncStatus.outbox``), the
        entries held for another hub (``SyncStatus.held``), those held as of no known hub
        (``SyncStatus.held_unknown``) and the failed uploads (``SyncStatus.failed_uploads``)."""

        def count(state: OutboxState) -> int:
            return counts.get(state.value, 0)

        waiting = count(OutboxState.QUEUED) + count(OutboxState.SENT)
        return cls(waiting, count(OutboxState.REJECTED), held, held_unknown, failed_uploads)


@dataclass(frozen=True)
class ClockRead:
    warning: str | None  # why this device's clock looks wrong; None: it does not


@dataclass(frozen=True)
class SyncSnapshot:
    state: ServiceState
    at: datetime  # when the service published the state
    report_at: datetime | None  # when ``state.last_report`` arrived (it is carried forward)
    backlog: Backlog | None  # None when the store was not open to count it
    registration: SyncConfig | None = None  # the open client's; None between syncs
    audit: AuditStatus | None = None  # the audit chain's anchoring; None as for ``backlog``
    clock: ClockRead | None = None  # whether the clock looks wrong; None as for ``backlog``


def now_utc() -> datetime:
    return datetime.now(UTC)


class SyncBridge(QObject):
    snapshot = Signal(object)  # SyncSnapshot

    def __init__(
        self, open_client: ClientFactory, *, clock: Callable[[], datetime] = now_utc
    ) -> None:
        super().__init__()
        self._open_client = open_client
        self._clock = clock
        # Touched on the service thread only (the factory and publish both run there).
        self._client: SyncClient | None = None
        self._report: object = None
        self._report_at: datetime | None = None

    @contextlib.contextmanager
    def client(self) -> Iterator[SyncClient]:
        """The service's client factory: the real one, remembered while it is open."""
        with self._open_client() as client:
            self._client = client
            try:
                yield client
            finally:
                self._client = None

    def publish(self, state: ServiceState) -> None:
        """``SyncService``'s ``on_state``: called on the service thread."""
        at = self._clock()
        if state.last_report is not self._report:
            self._report, self._report_at = state.last_report, at
        report_at = self._report_at if state.last_report is not None else None
        registration = self._client.config if self._client is not None else None
        snapshot = SyncSnapshot(
            state, at, report_at, self._backlog(), registration, self._audit(), self._clock_read()
        )
        self.snapshot.emit(snapshot)

    def _backlog(self) -> Backlog | None:
        if self._client is None:
            return None
        store = self._client.store
        try:
            counts = store.outbox.counts()
            with store.database.read() as connection:
                held = held_for_other_hubs(connection), held_for_no_known_hub(connection)
            failed = count_failed_uploads(store)
        except StoreError as error:  # a locked or failing store must not hide the state
            _log.warning("could not count the outbox: %s", error)
            return None
        return Backlog.of({state.value: n for state, n in counts.items()}, *held, failed)

    def _audit(self) -> AuditStatus | None:
        if self._client is None:
            return None
        try:
            return read_audit_status(self._client.store, str(self._client.config.device_id))
        except StoreError as error:  # as for the backlog: the state still goes out
            _log.warning("could not read the audit chain's anchoring: %s", error)
            return None

    def _clock_read(self) -> ClockRead | None:
        if self._client is None:
            return None
        try:
            return ClockRead(read_clock_warning(self._client.store))
        except StoreError as error:  # as for the backlog
            _log.warning("could not read the hub time seen: %s", error)
            return None
