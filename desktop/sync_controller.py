"""Runs the background sync for the window: check the store, start the service, stop it.

The order of things: the store is checked on a worker (``check_store``); only a registered
store gets a ``SyncService``, whose client factory is ``open_client`` on the same store and
key, wrapped by the ``SyncBridge``. States come back through the bridge's queued signal and
are shown by the panel; a report that names a new species pack hands it to
``SpeciesPacks``, and a pack a sync installed is noted in the store once it is in use (sync
keeps that one, ``sync.client.packs``). ``stop`` (the window closing) ends the service
thread and waits for the store checks, within one time limit; a sync cut short is safe,
since the client commits each step or rolls it back.
A report that applied changes pulled from the hub (a reviewer's confirmation, an erasure) is
announced once by ``changes_pulled``: the window refreshes what shows the store's records.
Given ``SyncMetrics`` (the window's, with ``JAGA_METRICS_PORT`` set), the service and the
client report attempts and requests to them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop.settings import AppSettings, key_source
from desktop.species import PackFinder, PackState, SpeciesPacks, startup_species_pack
from desktop.store_check import CheckResult, StoreCheck, check_store, note_pack_in_use
from desktop.sync_bridge import SyncBridge, SyncSnapshot
from desktop.sync_panel import SyncPanel
from desktop.workers import BackgroundJobs, Deadline, error_info
from sync.client.backoff import Backoff
from sync.client.client import open_client
from sync.client.metrics import SyncMetrics
from sync.client.service import ClientFactory, SyncService

_log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 30.0  # a request in flight ends within the client's read timeout (30 s)


class SyncController(QObject):
    changes_pulled = Signal()  # once per sync report that applied changes from the hub

    def __init__(
        self,
        settings: AppSettings,
        panel: SyncPanel,
        species: SpeciesPacks,
        *,
        open_client: ClientFactory | None = None,
        backoff: Backoff | None = None,
        find_pack: PackFinder = startup_species_pack,
        metrics: SyncMetrics | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.panel = panel
        self.species = species
        self.service: SyncService | None = None
        self.metrics = metrics  # the window's: it outlives this controller's service
        self._bridge: SyncBridge | None = None  # lives as long as the service that calls it
        self.last_snapshot: SyncSnapshot | None = None
        self._open_client = open_client
        self._backoff = backoff
        self._find_pack = find_pack
        self._checks = BackgroundJobs(threads=1, parent=self)
        self._handled_report: object = None
        self._stopped = False
        self._first_pack_asked = False
        self._installed_packs_asked = False  # the packs listed by a check that read the store
        self._noted_pack: Path | None = None  # the pack in use last noted in the store
        panel.sync_now.clicked.connect(self.sync_now)
        panel.resume.clicked.connect(self.resume)
        species.changed.connect(panel.show_pack)
        species.changed.connect(self._note_pack)

    def start(self) -> None:
        self._check()

    @Slot()
    def sync_now(self) -> None:
        if self.service is not None:
            self.service.trigger(retry_pack=True)  # a person asked: nothing waits

    @Slot()
    def resume(self) -> None:
        """Leave a pause; before a service runs, check the store again (registered now?)."""
        if self.service is not None:
            self.service.resume()
        else:
            self._check()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the service thread and wait for the store checks, ``timeout_s`` in all
        (idempotent). A species pack load is not waited for: it writes nothing."""
        self._stopped = True
        deadline = Deadline.after(timeout_s)
        service, self.service = self.service, None
        if service is not None:
            try:
                service.stop(deadline.remaining_s())
            except TimeoutError:  # a request still in flight: its step commits or rolls back
                _log.warning("the sync thread did not stop within %.0f s", timeout_s)
        self._checks.wait(deadline.remaining_s())

    def _check(self) -> None:
        self.panel.show_checking()
        self._checks.submit(
            functools.partial(check_store, self.settings), self._checked, self._check_failed
        )

    def _checked(self, check: object) -> None:
        if self._stopped or not isinstance(check, StoreCheck):
            return
        self.panel.show_check(check)
        self._load_packs(check)
        if check.registered and self.service is None:
            self._start_service()

    def _check_failed(self, error: object) -> None:
        _log.error("checking the store failed", exc_info=error_info(error))
        message = f"store check failed: {type(error).__name__}: {error}"
        self.panel.show_check(StoreCheck(CheckResult.UNAVAILABLE, message))
        self._load_packs(None)

    def _load_packs(self, check: StoreCheck | None) -> None:
        """The first check loads a pack. A store that could not be read then (not mounted
        yet, say) lists its installed packs at a later check: those are offered then, and
        the newest that verifies replaces the default pack."""
        opened = check is not None and check.opened
        installed = check.species_packs if check is not None else ()
        if not self._first_pack_asked:
            self._first_pack_asked = True
            self._installed_packs_asked = opened
            self._load_first_pack(installed)
        elif opened and not self._installed_packs_asked:
            self._installed_packs_asked = True
            if installed:
                self.species.load_first(lambda: installed)

    def _load_first_pack(self, installed: tuple[Path, ...]) -> None:
        """The packs a sync installed, newest first, then the one found (the default pack);
        the first that verifies is used."""
        find = self._find_pack

        def candidates() -> Iterator[Path]:
            yield from installed
            found = find()  # read only if every installed pack was refused
            if found is not None:
                yield found

        self.species.load_first(candidates)

    @Slot(object)
    def _note_pack(self, state: PackState) -> None:
        """A pack is in use: if a sync installed it, the store notes it (on a worker), so
        that sync keeps it however many newer packs this device then refuses."""
        if self._stopped or state.root is None or state.root == self._noted_pack:
            return
        self._noted_pack = state.root
        self._checks.submit(
            functools.partial(note_pack_in_use, self.settings, state.root),
            lambda _noted: None,
            self._note_failed,
        )

    def _note_failed(self, error: object) -> None:
        self._noted_pack = None  # noted at the next change, if any
        _log.warning("noting the species pack in use failed", exc_info=error_info(error))

    def _start_service(self) -> None:
        bridge = SyncBridge(self._open_client or self._store_client())
        bridge.snapshot.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.service = SyncService(
            bridge.client,
            interval_s=self.settings.sync_interval_s,
            backoff=self._backoff,
            on_state=bridge.publish,
            on_attempt=self.metrics.record_attempt if self.metrics else None,
        )
        self._bridge = bridge
        self.service.start()

    def _store_client(self) -> ClientFactory:
        source = key_source(self.settings)
        if source is None:  # check_store found one moments ago; the settings are frozen
            raise RuntimeError("the store's key source vanished after the check")
        return functools.partial(
            open_client,
            self.settings.store_path,
            source,
            env=self.settings.env,
            store_config=self.settings.store_config,
            observer=self.metrics.observe_request if self.metrics else None,
        )

    @Slot(object)
    def _show(self, snapshot: SyncSnapshot) -> None:
        self.last_snapshot = snapshot
        self.panel.show_snapshot(snapshot)
        report = snapshot.state.last_report
        if report is None or report is self._handled_report:
            return  # the same report is carried forward by later states: act on it once
        self._handled_report = report
        if self._stopped:
            return
        if report.new_species_pack is not None:
            self.species.load(report.new_species_pack)
        # Only a pull changes records here (an erasure counts as applied too); a push only
        # marks as delivered what the window already shows.
        if report.pull.applied:
            self.changes_pulled.emit()
