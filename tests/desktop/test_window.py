"""The window runs the sync service: starts it on a registered store only, Sync now and
Resume reach it, closing the window ends its thread without losing a record, and a sync
that pulls a hub reviewer's confirmation refreshes the catch panel's review list.

The hub here is the in-memory fake (``tests.sync.client.fakehub``); the store, the service,
its thread, the bridge and the widgets are the real ones. ``test_live_app`` does the same
against a real hub process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtWidgets import QApplication

import desktop.app
from desktop.app import MainWindow, open_window
from desktop.catch_controller import CatchController
from desktop.catch_store import REVIEW_LIMIT, CatchStore, Flagged
from desktop.settings import LOCKED_MESSAGE, AppSettings
from desktop.species import ClassifierBuilder, PackFinder, PackState, build_classifier
from desktop.sync_controller import SyncController
from inference.errors import PackError
from inference.pack.installed import ModelPack
from sync.client import Phase, SyncClient, SyncReport
from sync.client.config import resolve_config
from sync.client.state import read_values, save_registration
from sync.store import FishObservation, Passphrase, SpeciesScore, Store
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.observations import observation_payload
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import SYNC_THREAD, sync_threads, wait_until
from tests.sync.client.fakehub import FakeHub, SlowHub, registration
from tests.sync.client.units import SMALL, client_of, observations
from tests.sync.conftest import FAST

if TYPE_CHECKING:
    from inference.fish.classify import SpeciesClassifier


def fake_hub_client(path: Path, hub: FakeHub) -> contextlib.AbstractContextManager[SyncClient]:
    @contextlib.contextmanager
    def opened() -> Iterator[SyncClient]:
        with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
            # Registered as open_client reads it, from the store at each sync: a device
            # registered again while the window is open syncs with the new hub from then on.
            config = resolve_config({}, read_values(store.database), tuning=SMALL)
            yield SyncClient(store, hub.client(), config)

    return opened()


def window_on(
    path: Path,
    hub: FakeHub,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    build: ClassifierBuilder = build_classifier,
    find_pack: PackFinder = lambda: None,
) -> MainWindow:
    settings = AppSettings(
        path,
        None,
        {PASSPHRASE_ENV: PASSPHRASE} if env is None else env,
        sync_interval_s=3600,  # only the first sync and Sync now happen within a test
        store_config=FAST,
    )
    return open_window(
        settings,
        ModelPack(tmp_path / "no-model-pack"),
        open_client=lambda: fake_hub_client(path, hub),
        build=build,
        find_pack=find_pack,
    )


def controller(window: MainWindow) -> SyncController:
    assert window.sync is not None
    return window.sync


def idle_with(window: MainWindow, acknowledged: int) -> bool:
    snapshot = controller(window).last_snapshot
    if snapshot is None or snapshot.state.phase is not Phase.IDLE:
        return False
    report = snapshot.state.last_report
    return report is not None and report.push.acknowledged == acknowledged


def test_sync_now_syncs_at_once_instead_of_at_the_interval(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    hub = FakeHub()
    window = window_on(registered_store, hub, tmp_path)
    try:
        wait_until(lambda: idle_with(window, 0), "the first sync")
        first = controller(window).last_snapshot
        with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
            (uid,) = observations(store, 1, "sync-now")
        controller(window).panel.sync_now.click()
        wait_until(lambda: idle_with(window, 1), "the sync that Sync now asked for", 10)
        panel = controller(window).panel
        assert panel.phase.text() == "idle"
        assert "pushed 1 acknowledged" in panel.last_sync.text()
        assert panel.backlog.text() == "0 waiting, 0 quarantined"
        assert hub.stored == {("fish_observation", uid): 1}
        assert first is not None and controller(window).last_snapshot is not first
    finally:
        window.close()


def test_the_hub_line_follows_a_registration_made_while_the_window_is_open(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    window = window_on(registered_store, FakeHub(), tmp_path)
    panel = controller(window).panel
    try:
        wait_until(lambda: idle_with(window, 0), "the first sync")
        assert panel.hub.text().endswith(" at http://hub.test")
        with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
            again = registration("http://hub-2.test")
            save_registration(store.database, again, store.clock.now(), send_face_images=False)
        panel.sync_now.click()
        wait_until(lambda: panel.hub.text().endswith(" at http://hub-2.test"), "the new hub", 10)
        expected = f"device {again.device_id} of site {again.site} at {again.hub_url}"
        assert panel.hub.text() == expected
    finally:
        window.close()


def test_closing_the_window_stops_the_sync_thread(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    window = window_on(registered_store, FakeHub(), tmp_path)
    wait_until(lambda: idle_with(window, 0), "the first sync")
    assert sync_threads() == [SYNC_THREAD]
    window.close()
    assert sync_threads() == []
    assert controller(window).service is None


def test_closing_mid_sync_loses_nothing(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        uids = observations(store, 45, "in-flight")
    hub = SlowHub(delay_s=0.2)
    window = window_on(registered_store, hub, tmp_path)
    wait_until(hub.busy.is_set, "a request in flight")
    window.close()  # while pushing: the service stops after the round's step in progress
    assert sync_threads() == []
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        counts = {state.value: n for state, n in store.outbox.counts().items()}
        # Whatever the hub has not acknowledged is still waiting in the outbox: none lost.
        assert counts["acknowledged"] + counts["queued"] + counts["sent"] == 45
        assert counts["acknowledged"] == len(hub.ledger)
        client_of(store, hub).sync_once()  # the next sync delivers the rest, each once
        assert sorted(uid for _, uid in hub.stored) == sorted(uids)
        assert set(hub.stored.values()) == {1}


def test_closing_hides_the_window_first_and_shuts_down_once(
    qapp: QApplication, registered_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = window_on(registered_store, FakeHub(), tmp_path)
    wait_until(lambda: idle_with(window, 0), "the first sync")
    sync = controller(window)
    visible_while_stopping: list[bool] = []
    stop = sync.stop

    def noting_stop(*timeout_s: float) -> None:
        visible_while_stopping.append(window.isVisible())
        stop(*timeout_s)

    monkeypatch.setattr(sync, "stop", noting_stop)
    window.close()
    window.shutdown()  # as the application's aboutToQuit does after the window closed
    assert visible_while_stopping == [False]  # stopped once, the window already gone


def test_closing_leaves_a_species_pack_load_behind_and_ignores_its_late_result(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    """A pack load writes nothing, and may build a TensorRT engine for minutes: closing
    does not wait for it, and what it ends with is dropped."""
    building, release = threading.Event(), threading.Event()

    def slow_build(root: Path) -> SpeciesClassifier:
        building.set()
        release.wait(60)
        raise PackError("a load that ended after the window closed")

    window = window_on(
        registered_store, FakeHub(), tmp_path, build=slow_build, find_pack=lambda: tmp_path
    )
    species = controller(window).species
    try:
        wait_until(building.is_set, "the pack load")
        started = time.monotonic()
        window.close()
        assert time.monotonic() - started < 10  # not the 30 s a wait for the load allowed
        assert sync_threads() == []
    finally:
        release.set()
    wait_until(lambda: not species.loading, "the load's late result")
    assert species.state == PackState() and species.classifier is None


@dataclass(frozen=True)
class StuckStore(CatchStore):
    """The real catch store, whose review list read hangs until ``release`` is set."""

    reading: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def flagged(self, limit: int = REVIEW_LIMIT, *, site: bool = False) -> Flagged:
        self.reading.set()
        self.release.wait(60)
        return super().flagged(limit, site=site)


def test_closing_waits_for_jobs_that_hang_a_bounded_time_in_all(
    qapp: QApplication, registered_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch job and a sync request that both hang hold the closing window for the
    shutdown bound in all, not for a bound each."""
    monkeypatch.setattr(desktop.app, "SHUTDOWN_BOUND_S", 1.0, raising=False)
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        observations(store, 45, "in-flight")
    hub = SlowHub(delay_s=2.0)
    window = window_on(registered_store, hub, tmp_path)
    catch = catch_of(window)
    stuck = StuckStore(registered_store, Passphrase(PASSPHRASE), FAST)
    catch.review.store = stuck
    try:
        catch.panel.review.refresh.click()
        wait_until(lambda: stuck.reading.is_set() and hub.busy.is_set(), "both in flight")
        started = time.monotonic()
        window.close()
        took = time.monotonic() - started
    finally:
        stuck.release.set()
    assert took < 10, took  # each wait alone was allowed 30 s
    wait_until(lambda: not sync_threads(), "the sync thread, after its request", 60)
    catch.stop(10)


def test_a_store_without_registration_starts_no_service_until_registered(
    qapp: QApplication, store_path: Path, tmp_path: Path
) -> None:
    window = window_on(store_path, FakeHub(), tmp_path)
    try:
        panel = controller(window).panel
        wait_until(lambda: panel.phase.text().startswith("not registered"), "the store check")
        assert "jaga sync register --hub URL" in panel.phase.text()
        assert sync_threads() == [] and controller(window).service is None
        assert panel.resume.isEnabled() and not panel.sync_now.isEnabled()
        with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
            now = store.clock.now()
            save_registration(store.database, registration(), now, send_face_images=False)
        panel.resume.click()  # what `jaga sync register` in a terminal is followed by
        wait_until(lambda: idle_with(window, 0), "the first sync after registering")
        assert sync_threads() == [SYNC_THREAD]
    finally:
        window.close()


def test_a_store_without_a_key_says_how_to_unlock_it(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    window = window_on(registered_store, FakeHub(), tmp_path, env={})
    try:
        panel = controller(window).panel
        wait_until(lambda: panel.phase.text() == LOCKED_MESSAGE, "the store check")
        assert not panel.sync_now.isEnabled() and not panel.resume.isEnabled()
        assert controller(window).service is None and sync_threads() == []
    finally:
        window.close()


@dataclass(frozen=True)
class CountingStore(CatchStore):
    """The real catch store, noting each read of the review list: one per refresh job."""

    reads: list[str] = field(default_factory=list)

    def flagged(self, limit: int = REVIEW_LIMIT, *, site: bool = False) -> Flagged:
        self.reads.append(threading.current_thread().name)
        return super().flagged(limit, site=site)


def catch_of(window: MainWindow) -> CatchController:
    assert window.catch is not None
    return window.catch


def report_of(window: MainWindow) -> SyncReport | None:
    snapshot = controller(window).last_snapshot
    return snapshot.state.last_report if snapshot is not None else None


def idle_after(window: MainWindow, previous: SyncReport | None) -> bool:
    """The service is idle again with a report newer than ``previous``."""
    snapshot = controller(window).last_snapshot
    idle = snapshot is not None and snapshot.state.phase is Phase.IDLE
    return idle and report_of(window) not in (None, previous)


def flag_a_catch(store: Store) -> FishObservation:
    observation = FishObservation(
        observed_at=store.clock.now() - timedelta(minutes=5),
        predictions=(SpeciesScore("Lutjanus campechanus", 0.55),),
        needs_review=True,
        officer="officer-7",
    )
    store.observations.add_many([observation])
    return observation


def confirmed_on_the_hub(observation: FishObservation) -> dict[str, Any]:
    """The catch as the hub sends it back once a hub reviewer confirmed its species."""
    return {
        **observation_payload(observation),
        "confirmed_species": "Lutjanus synagris",
        "needs_review": False,
        "reviewed_by": "hub-reviewer",
        "reviewed_at": "2026-03-02T09:30:00.000000Z",
    }


def test_a_sync_that_pulls_a_confirmation_refreshes_the_review_list_once(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        flagged = flag_a_catch(store)
    hub = FakeHub()
    window = window_on(registered_store, hub, tmp_path)
    catch = catch_of(window)
    # Swapped in before the event loop runs, so before any sync report reaches the window.
    counting = CountingStore(registered_store, Passphrase(PASSPHRASE), FAST)
    catch.review.store = counting
    review = catch.panel.review
    try:
        wait_until(lambda: idle_with(window, 1), "the first sync, which pushes the catch")
        wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
        assert counting.reads == []  # a sync that only pushed leaves the list as it is
        pushed = report_of(window)

        hub.add_change("fish_observation", "upsert", confirmed_on_the_hub(flagged))
        controller(window).panel.sync_now.click()
        wait_until(lambda: idle_after(window, pushed), "the sync that pulls the confirmation")
        pulled = report_of(window)
        assert pulled is not None and pulled.pull.applied == 1
        wait_until(lambda: review.items.count() == 0, "the review list, without Refresh")
        assert review.summary.text() == "none: nothing waits for a review"
        assert len(counting.reads) == 1

        controller(window).panel.sync_now.click()
        wait_until(lambda: idle_after(window, pulled), "a sync with nothing to pull")
        nothing = report_of(window)
        assert nothing is not None and nothing.pull.applied == 0
    finally:
        window.close()  # waits for every catch job given: a refresh asked for has run
    assert len(counting.reads) == 1, counting.reads
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        confirmed = store.observations.get(flagged.observation_uid)
    assert (confirmed.confirmed_species, confirmed.reviewed_by) == (
        "Lutjanus synagris", "hub-reviewer",
    )  # fmt: skip


def test_a_sync_that_pulls_changes_keeps_the_officers_selection_and_typed_species(
    qapp: QApplication, registered_store: Path, tmp_path: Path
) -> None:
    """A background sync refreshes the review list while the officer is mid-review: the
    catch selected and the species typed for it stay, and Confirm stays on."""
    with Store.open(registered_store, Passphrase(PASSPHRASE), config=FAST) as store:
        selected, reviewed_on_the_hub = flag_a_catch(store), flag_a_catch(store)  # newest first
    hub = FakeHub()
    window = window_on(registered_store, hub, tmp_path)
    review = catch_of(window).panel.review
    try:
        wait_until(lambda: idle_with(window, 2), "the first sync, which pushes both catches")
        wait_until(lambda: review.items.count() == 2, "both catches in the review list")
        review.items.setCurrentRow(1)
        assert review.selected() == selected
        review.species.setEditText("Lutjanus syn")  # the officer is typing
        pushed = report_of(window)

        hub.add_change("fish_observation", "upsert", confirmed_on_the_hub(reviewed_on_the_hub))
        service = controller(window).service
        assert service is not None
        service.trigger()  # the periodic sync, as its timer would
        wait_until(lambda: idle_after(window, pushed), "the sync that pulls the confirmation")
        wait_until(lambda: review.items.count() == 1, "the refreshed review list")
        current = review.selected()
        assert current is not None and current.observation_uid == selected.observation_uid
        assert review.chosen_species() == "Lutjanus syn"
        assert review.confirm.isEnabled()
    finally:
        window.close()
