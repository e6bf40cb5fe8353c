"""The background service: backs off while offline, pauses on auth, stops promptly."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from main import main
from sync import plural
from sync.client import (
    Backoff,
    Phase,
    ServiceState,
    SyncBusyError,
    SyncClient,
    SyncConfigError,
    SyncService,
    Tuning,
)
from sync.client.config import Registration, resolve_config
from sync.client.lock import sync_lock
from sync.client.service import Attempt
from sync.client.state import LastResult, Unfinished, put_values, read_values, save_registration
from sync.client.status import read_status
from sync.protocol import PROTOCOL_VERSION, PushResult
from sync.store import Passphrase, Store
from sync.store.clock import format_timestamp
from tests.sync.client.fakehub import TOKEN, FakeHub, Fault, SlowHub, registration
from tests.sync.client.recorder import Recorder
from tests.sync.client.units import SMALL, client_of, observations, states
from tests.sync.conftest import FAST

FAST_BACKOFF = Backoff(base_s=0.01, cap_s=0.05)


def factory(
    db_path: Path, hub: FakeHub, tuning: Tuning = SMALL
) -> Callable[[], contextlib.AbstractContextManager[SyncClient]]:
    @contextlib.contextmanager
    def open_client() -> Iterator[SyncClient]:
        with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
            yield client_of(store, hub, tuning)

    return open_client


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "jaga.db"
    with Store.create(path, Passphrase("pw"), config=FAST) as store:
        observations(store, 30)
    return path


def run(service: SyncService) -> contextlib.AbstractContextManager[SyncService]:
    @contextlib.contextmanager
    def running() -> Iterator[SyncService]:
        service.start()
        try:
            yield service
        finally:
            service.stop(timeout_s=10)

    return running()


def test_offline_it_backs_off_with_growing_delays_then_syncs(db_path: Path) -> None:
    hub, recorder = FakeHub(), Recorder()
    hub.faults.extend(Fault("push", drop=True) for _ in range(4))
    service = SyncService(
        factory(db_path, hub), interval_s=30, backoff=FAST_BACKOFF,
        rng=random.Random(1), on_state=recorder,
    )  # fmt: skip
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.IDLE and s.last_report is not None)
    backing = [s for s in recorder.states if s.phase == Phase.BACKING_OFF]
    assert [s.failures for s in backing] == [1, 2, 3, 4]
    assert all(s.retry_in_s is not None and s.retry_in_s <= 0.05 for s in backing)
    assert "ConnectError" in (backing[0].last_error or "")
    assert not any(s.held_back for s in backing)  # an outage is no hold-back
    assert len(hub.ledger) == 30 and recorder.states[-1].phase == Phase.STOPPED


def test_an_auth_failure_pauses_until_resumed(db_path: Path) -> None:
    hub, recorder = FakeHub(), Recorder()
    hub.faults.append(Fault("push", status=403, error="device_revoked"))
    service = SyncService(factory(db_path, hub), interval_s=30, on_state=recorder)
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.PAUSED)
        time.sleep(0.3)
        assert hub.requests == ["POST /api/v1/sites/north-gate/push"]  # no hammering
        assert TOKEN not in (service.state.last_error or "")
        service.resume()
        recorder.wait_for(lambda s: s.phase == Phase.IDLE and s.last_report is not None)
    assert len(hub.ledger) == 30


def test_a_hub_on_an_older_protocol_pauses_this_device_and_quarantines_nothing(
    db_path: Path,
) -> None:
    hub, recorder = FakeHub(), Recorder()
    hub.speaks = 3  # the hub is upgraded after its devices: the wrong order
    service = SyncService(factory(db_path, hub), interval_s=30, on_state=recorder)
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.PAUSED)
        time.sleep(0.3)
        assert hub.requests == ["POST /api/v1/sites/north-gate/push"]  # no hammering
        message = service.state.last_error or ""
        assert f"this hub speaks protocol 3, not {PROTOCOL_VERSION}" in message  # its words
        assert "upgrade whichever is older" in message and "nothing is lost" in message
        with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
            assert states(store) == {"queued": 30}  # none quarantined, none left "sent"
        hub.speaks = PROTOCOL_VERSION  # the hub is upgraded
        service.resume()
        recorder.wait_for(lambda s: s.phase == Phase.IDLE and s.last_report is not None)
    assert len(hub.ledger) == 30


def test_a_missing_registration_pauses_too(db_path: Path) -> None:
    recorder = Recorder()

    @contextlib.contextmanager
    def unregistered() -> Iterator[SyncClient]:
        raise SyncConfigError("no hub URL: run `jaga sync register --hub URL`")
        yield  # pragma: no cover

    with run(SyncService(unregistered, on_state=recorder)):
        recorder.wait_for(lambda s: s.phase == Phase.PAUSED)


def test_trigger_syncs_now_and_stop_is_prompt(db_path: Path) -> None:
    hub, recorder = FakeHub(), Recorder()
    service = SyncService(factory(db_path, hub), interval_s=3600, on_state=recorder)
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.IDLE)
        with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
            observations(store, 5, "later")
        service.trigger()
        recorder.wait_for(
            lambda s: s.last_report is not None and s.last_report.push.acknowledged == 5
        )
        started = time.monotonic()
    assert time.monotonic() - started < 5  # not the hour-long interval
    assert len(hub.ledger) == 35


def test_stop_ends_a_sync_after_the_batch_in_flight(db_path: Path) -> None:
    """Stopping (the window closing) does not wait for the rest of a long backlog: the sync
    ends after the request in flight, and what it did not push stays queued."""
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        observations(store, 70, "backlog")  # 100 in all: 5 batches of 20
    hub = SlowHub(delay_s=0.5)
    service = SyncService(factory(db_path, hub), interval_s=3600)
    service.start()
    assert hub.busy.wait(10), "no request reached the hub"
    service.stop(timeout_s=10)  # while the first batch is in flight
    pushes = [line for line in hub.requests if line.endswith("/push")]
    assert 1 <= len(pushes) <= 2, hub.requests  # not all 5, nor the pull after them
    assert not any(line.endswith("/changes") for line in hub.requests), hub.requests
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        counts = {state.value: n for state, n in store.outbox.counts().items()}
    assert counts["acknowledged"] == len(hub.ledger) == 20 * len(pushes)
    assert counts["queued"] == 100 - 20 * len(pushes)


def test_a_sync_a_stop_ended_shows_as_stopped_in_sync_status_not_as_ok(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The window closing ends a sync early: `jaga sync status` (and the report, and the
    attempt count) say it stopped with entries left, not that it worked, nor that it failed."""
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        observations(store, 70, "backlog")  # 100 in all: 5 batches of 20
    hub, recorder, attempts = SlowHub(delay_s=0.5), Recorder(), list[Attempt]()
    service = SyncService(
        factory(db_path, hub), interval_s=3600, on_state=recorder, on_attempt=attempts.append
    )
    service.start()
    assert hub.busy.wait(10), "no request reached the hub"
    service.stop(timeout_s=10)  # while the first batch is in flight
    left = 100 - len(hub.ledger)
    assert 0 < left < 100
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "pw")
    assert main(["sync", "status", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "(ok)" not in out and "failed" not in out, out
    assert f"(stopped before it finished: {plural.entries(left)} still queued)" in out, out
    assert "last success never" in out, out
    report = next(s.last_report for s in recorder.states if s.last_report is not None)
    assert "stopped before it finished" in report.summary()
    assert attempts == [Attempt.STOPPED]
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        last = read_status(store, {}).last
        assert (last.stopped_queued, last.error, last.succeeded_at) == (left, None, None)
        client_of(store, FakeHub()).sync_once()  # the next sync finishes: ok again
        last = read_status(store, {}).last
    assert not last.stopped and last.error is None
    assert last.succeeded_at == last.attempted_at is not None


def test_a_hub_that_answers_with_nothing_is_asked_again_after_the_interval_not_at_once(
    db_path: Path,
) -> None:
    """A sync that reached its batch limit goes on at once only if it moved something: a hub
    that answers every batch with nothing would otherwise be asked again in a loop."""
    hub, recorder, attempts = FakeHub(), Recorder(), list[Attempt]()
    empty = PushResult(acknowledged=[], rejected=[]).model_dump_json().encode()
    json_type = {"Content-Type": "application/json"}
    hub.faults.extend(Fault("push", body=empty, headers=json_type) for _ in range(5))
    slept: list[float] = []
    idle = threading.Event()

    def fake_sleep(wake: threading.Event, seconds: float) -> None:
        slept.append(seconds)
        idle.set()
        wake.wait(seconds)

    one_batch = replace(SMALL, max_batches_per_sync=1)  # 30 queued: a batch of 20 is the limit
    service = SyncService(
        factory(db_path, hub, one_batch), interval_s=3600, on_state=recorder, sleep=fake_sleep,
        on_attempt=attempts.append,
    )  # fmt: skip
    with run(service):
        assert idle.wait(10), [s.phase for s in recorder.states]
    assert slept == [3600] and attempts == [Attempt.PARTIAL]
    assert [line for line in hub.requests if line.endswith("/push")] == [
        "POST /api/v1/sites/north-gate/push"
    ]
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        assert read_status(store, {}).last.unfinished == Unfinished(30, False, 0)


def test_a_last_result_an_older_version_kept_reads_as_it_did(db_path: Path) -> None:
    """Versions before the stopped state kept no ``last.stopped``: their results read the same."""
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        now = store.clock.now()
        stamp = format_timestamp(now)
        older = {"last.attempted_at": stamp, "last.error": "", "last.succeeded_at": stamp}
        put_values(store.database, older, now)
        ok = read_status(store, {})
        put_values(store.database, {"last.error": "HubUnavailableError: down"}, now)
        failed = read_status(store, {})
    assert ok.last == LastResult(stamp, stamp, None)
    assert f"last sync    {stamp} (ok)" in ok.lines()
    assert f"last sync    {stamp} (failed: HubUnavailableError: down)" in failed.lines()


def test_a_store_registered_again_is_synced_on_its_new_registration(db_path: Path) -> None:
    hub, recorder, opened = FakeHub(), Recorder(), []

    @contextlib.contextmanager
    def open_client() -> Iterator[SyncClient]:  # resolves the registration as open_client does
        with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
            config = resolve_config({}, read_values(store.database), tuning=SMALL)
            opened.append(config.hub_url)
            yield SyncClient(store, hub.client(), config)

    def synced(count: int) -> Callable[[ServiceState], bool]:
        def ended(_: ServiceState) -> bool:
            idle = [s for s in recorder.states if s.phase is Phase.IDLE and s.last_report]
            return len(idle) >= count

        return ended

    register(db_path, registration())
    service = SyncService(open_client, interval_s=3600, on_state=recorder)
    with run(service):
        recorder.wait_for(synced(1))
        service.trigger()  # nothing changed: the same client syncs again
        recorder.wait_for(synced(2))
        register(db_path, registration("http://hub-2.test"))
        service.trigger()
        recorder.wait_for(synced(3))
    assert opened == ["http://hub.test", "http://hub-2.test"]


def register(db_path: Path, again: Registration) -> None:
    with Store.open(db_path, Passphrase("pw"), config=FAST) as store:
        save_registration(store.database, again, store.clock.now(), send_face_images=False)


def test_a_second_sync_of_the_same_store_is_refused_while_one_runs(db_path: Path) -> None:
    hub = FakeHub()
    with (
        sync_lock(db_path),
        Store.open(db_path, Passphrase("pw"), config=FAST) as store,
        pytest.raises(SyncBusyError),
    ):
        client_of(store, hub).sync_once()
    assert hub.requests == []


def test_with_a_fake_clock_the_delays_are_exactly_the_seeded_back_off(db_path: Path) -> None:
    hub, recorder = FakeHub(), Recorder()
    hub.faults.extend(Fault("push", status=503, error="database_unavailable") for _ in range(6))
    slept: list[float] = []
    backoff = Backoff(base_s=2.0, cap_s=300.0)

    def fake_sleep(wake: threading.Event, seconds: float) -> None:
        if seconds >= 3600:  # the regular interval: wait for real, until stopped
            wake.wait(seconds)
            return
        slept.append(seconds)  # a back-off: the fake clock jumps ahead at once

    service = SyncService(
        factory(db_path, hub), interval_s=3600, backoff=backoff, rng=random.Random(5),
        on_state=recorder, sleep=fake_sleep,
    )  # fmt: skip
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.IDLE and s.last_report is not None)
    expected_rng = random.Random(5)
    expected = [backoff.delay_s(n, expected_rng) for n in range(1, 7)]
    assert slept == expected
    assert all(
        backoff.ceiling_s(n) / 2 <= d <= backoff.ceiling_s(n) for n, d in enumerate(slept, 1)
    )


def test_a_retry_pack_trigger_tries_a_backing_off_pack_and_a_plain_one_does_not(
    db_path: Path, tmp_path: Path
) -> None:
    from sync.species_packs import archive_pack
    from tests.sync.client.test_packs import announce, downloads, serve
    from tests.sync.test_species_packs import make_pack

    hub, recorder = FakeHub(), Recorder()
    data = archive_pack(make_pack(tmp_path / "pack", seed=3))
    announce(hub, "v1", data)
    serve(hub, data[::-1])  # same size, wrong bytes: refused, then it waits a minute
    service = SyncService(factory(db_path, hub), interval_s=3600, on_state=recorder)

    def reports() -> int:
        return sum(state.last_report is not None for state in recorder.states)

    with run(service):
        recorder.wait_for(lambda s: s.last_report is not None)
        serve(hub, data)
        service.trigger()
        recorder.wait_for(lambda s: reports() == 2)
        assert downloads(hub) == 1  # the timer's kind of sync left the failing pack waiting
        service.trigger(retry_pack=True)
        recorder.wait_for(
            lambda s: s.last_report is not None and bool(s.last_report.new_species_pack)
        )
    assert downloads(hub) == 2


def test_a_sync_a_proxys_limit_failed_after_its_other_steps_still_hands_the_app_its_pack(
    db_path: Path, tmp_path: Path
) -> None:
    """Every push body refused by a proxy's bare 413: the entries wait, the sync fails and
    backs off, but the pack it installed after them reaches the app (``last_report``)."""
    from sync.species_packs import archive_pack
    from tests.sync.client.test_packs import announce, serve
    from tests.sync.test_species_packs import make_pack

    hub, recorder = FakeHub(), Recorder()
    data = archive_pack(make_pack(tmp_path / "pack", seed=4))
    announce(hub, "v1", data)
    serve(hub, data)
    page = b"<html>413 Request Entity Too Large</html>"
    hub.faults.extend(Fault("push", body=page, body_status=413) for _ in range(100))
    service = SyncService(
        factory(db_path, hub), interval_s=3600, backoff=Backoff(base_s=60, cap_s=60),
        on_state=recorder,
    )  # fmt: skip
    with run(service):
        recorder.wait_for(lambda s: s.phase == Phase.BACKING_OFF)
    failed = next(s for s in recorder.states if s.phase == Phase.BACKING_OFF)
    assert "ProxyBodyLimitError" in (failed.last_error or "") and failed.held_back
    assert failed.last_report is not None and failed.last_report.new_species_pack is not None
    assert failed.last_report.push.acknowledged == 0 and len(hub.ledger) == 0
    assert "a proxy refuses for their size" in failed.last_report.summary()


def test_a_retry_pack_trigger_tries_the_pack_while_the_device_is_catching_up(
    db_path: Path, tmp_path: Path
) -> None:
    """A sync whose pull stops at its page limit tries the pack all the same, with a hub that
    names the pack in its answers: a person's request to retry it is answered by the next
    sync, not once the log is caught up."""
    import hashlib

    from sync.protocol import SpeciesPackPublished
    from sync.species_packs import archive_pack
    from tests.sync.client.test_packs import announce, downloads, serve
    from tests.sync.test_species_packs import make_pack

    hub, recorder = FakeHub(), Recorder()
    data = archive_pack(make_pack(tmp_path / "pack", seed=3))
    announce(hub, "v1", data)
    hub.names_pack = SpeciesPackPublished.model_validate(
        {"version": "v1", "sha256": hashlib.sha256(data).hexdigest(), "byte_size": len(data)}
    )
    serve(hub, data[::-1])  # same size, wrong bytes: refused, then it waits a minute
    one_page = replace(SMALL, pull_limit=1, max_pages_per_sync=1)
    service = SyncService(factory(db_path, hub, one_page), interval_s=3600, on_state=recorder)
    with run(service):
        recorder.wait_for(lambda s: s.last_report is not None)
        assert downloads(hub) == 1
        serve(hub, data)
        announce(hub, "v1", data)  # two more changes: a log two syncs long
        announce(hub, "v1", data)
        service.trigger(retry_pack=True)
        recorder.wait_for(
            lambda s: s.last_report is not None and bool(s.last_report.new_species_pack)
        )
    assert downloads(hub) == 2
