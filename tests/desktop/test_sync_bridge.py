"""The bridge: states published on the service thread arrive on the GUI thread, with the
outbox backlog counted beside the service's own store."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Slot
from PySide6.QtWidgets import QApplication

from desktop.sync_bridge import Backlog, SyncBridge, SyncSnapshot
from sync.client import Phase, ServiceState, SyncClient, SyncService, open_client
from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import SYNC_THREAD, wait_until
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of, observations
from tests.sync.conftest import FAST


class Receiver(QObject):
    """Records each snapshot and the thread its slot ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[SyncSnapshot] = []
        self.on_gui_thread: list[bool] = []

    @Slot(object)
    def take(self, snapshot: SyncSnapshot) -> None:
        app = QApplication.instance()
        gui = app is not None and QThread.currentThread() is app.thread()
        self.on_gui_thread.append(gui and threading.current_thread() is threading.main_thread())
        self.snapshots.append(snapshot)

    def phases(self) -> list[Phase]:
        return [s.state.phase for s in self.snapshots]


def run_until(
    client_factory: Callable[[], contextlib.AbstractContextManager[SyncClient]],
    phase: Phase,
    what: str,
) -> tuple[Receiver, list[str]]:
    """Run a service through a bridge until it publishes ``phase``, then stop it; returns what
    reached the GUI thread and the names of the threads that published."""
    bridge, receiver, publishers = SyncBridge(client_factory), Receiver(), list[str]()
    bridge.snapshot.connect(receiver.take)

    def publish(state: ServiceState) -> None:
        publishers.append(threading.current_thread().name)
        bridge.publish(state)

    service = SyncService(bridge.client, interval_s=3600, on_state=publish)
    service.start()
    try:
        wait_until(lambda: phase in receiver.phases(), what)
    finally:
        service.stop(timeout_s=10)
    return receiver, publishers


def test_states_from_the_service_thread_arrive_on_the_gui_thread(
    qapp: QApplication, store_path: Path
) -> None:
    # A real store without a registration: opening the client fails, the service pauses.
    factory = functools.partial(
        open_client, store_path, Passphrase(PASSPHRASE), env={}, store_config=FAST
    )
    receiver, publishers = run_until(factory, Phase.PAUSED, "the paused state")
    wait_until(lambda: Phase.STOPPED in receiver.phases(), "the stopped state")
    assert set(publishers) == {SYNC_THREAD}
    assert receiver.on_gui_thread and all(receiver.on_gui_thread)
    paused = receiver.snapshots[receiver.phases().index(Phase.PAUSED)]
    assert "jaga sync register" in (paused.state.last_error or "")
    assert paused.backlog is None  # no store was open to count with


def test_the_backlog_is_counted_with_the_services_store(
    qapp: QApplication, registered_store: Path
) -> None:
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        observations(store, 25)
    hub = FakeHub()

    @contextlib.contextmanager
    def fake_hub_client() -> Iterator[SyncClient]:
        with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
            yield client_of(store, hub)

    receiver, _ = run_until(fake_hub_client, Phase.IDLE, "the first sync")
    syncing = receiver.snapshots[receiver.phases().index(Phase.SYNCING)]
    idle = receiver.snapshots[receiver.phases().index(Phase.IDLE)]
    assert syncing.backlog == Backlog(25, 0)
    assert idle.backlog == Backlog(0, 0)
    assert idle.state.last_report is not None and idle.state.last_report.push.acknowledged == 25
    assert idle.report_at == idle.at  # the report arrived with this state
    assert all(receiver.on_gui_thread)
