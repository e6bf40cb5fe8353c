"""A proxy between device and hub whose body-size limit is below one record or one photo
chunk (a bare 413). What does not pass waits; everything else still syncs: the other
entries, the pull, the other photos (a photo's chunks shrink until they pass), the audit
chain; the sync is kept as one that ran, naming what waits and the limit, but not as a
success (the last success stays the last sync that held nothing back), and still raises it
(the app backs off, ``jaga sync now`` exits non-zero). (Found by the review_r3 and review_s18b
probes, trimmed to fast tests.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sync.client.config import Tuning
from sync.client.errors import ProxyBodyLimitError
from sync.client.metrics import read_sample
from sync.client.report import SyncReport
from sync.client.status import read_status
from sync.store import FishObservation, OutboxState, SpeciesScore, Store
from sync.store.clock import parse_timestamp
from tests.sync.client.devices import (
    FAST_TUNING,
    add_observations,
    add_photo_observation,
    new_device,
)
from tests.sync.client.faultproxy import FaultProxy
from tests.sync.client.hubcheck import drained, hub_photo_sha256


def _big_observation(store: Store) -> None:
    """One entry of about 4.7 kB: notes at their 4,000-character maximum."""
    big = FishObservation(
        observed_at=store.clock.now() - timedelta(hours=1),
        predictions=(SpeciesScore("Gadus morhua", 0.7),), needs_review=True, officer="o",
        position=None, vessel="v", count=1, length_cm=10.0, notes="x" * 4000,
    )  # fmt: skip
    store.observations.add_many([big])


def _asked(proxy: FaultProxy, path: str) -> bool:
    return any(path in line for line in proxy.request_lines)


def _assert_kept_as_ran_with_held_back(store: Store, what: str, success: str | None) -> None:
    """The sync ran: its outcome says what waits and why, and it is no failure (it was kept
    as one: "last success never" on a kiosk that synced all else). Nor is it a success: the
    last success stays ``success``, the last sync that held nothing back, so an alert on its
    age fires until the proxy's limit is raised (it was moved even when nothing passed)."""
    status = read_status(store, {})
    last = status.last
    assert last.error is None, last
    assert last.succeeded_at == success and last.attempted_at != success, last
    assert last.held_back is not None and what in last.held_back, last
    assert "client_max_body_size" in last.outcome() and last.outcome().startswith("ran; held")
    said = f"{success} (the last sync that held nothing back)" if success else "never"
    assert f"last success {said}" in status.lines(), status.lines()


def test_one_entry_over_a_proxys_limit_waits_and_the_rest_of_the_sync_runs(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    other = new_device(tmp_path, proxy.url, site_slug, name="boat-2")
    tuning = replace(FAST_TUNING, batch_entries=4)
    with device.open() as store, other.open() as store2, httpx.Client() as http:
        add_observations(store2, 3, "other")  # for the first device to pull
        assert other.client(store2, http, tuning=tuning).sync_once().push.acknowledged == 3
        _big_observation(store)  # queued first
        add_observations(store, 10, "behind")
        before = store.observations.count()
        proxy.body_limit = 3000
        client = device.client(store, http, tuning=tuning)
        with pytest.raises(ProxyBodyLimitError):
            client.sync_once()
        counts = store.outbox.counts()
        assert counts[OutboxState.ACKNOWLEDGED] == 10, counts
        assert counts[OutboxState.QUEUED] == 1 and counts[OutboxState.REJECTED] == 0, counts
        assert store.observations.count() == before + 3  # it pulled
        assert _asked(proxy, "/audit")  # and anchored the audit chain
        shown = "\n".join(read_status(store, {}).lines())
        assert "refuses request bodies of" in shown and "client_max_body_size" in shown, shown
        _assert_kept_as_ran_with_held_back(store, "outbox entries", None)
        proxy.body_limit = None
        assert client.sync_once().push.acknowledged == 1
        assert drained(store)
        last = read_status(store, {}).last
        assert last.succeeded_at == last.attempted_at and last.held_back is None, last


def test_a_photo_over_a_proxys_limit_goes_in_smaller_chunks_or_waits(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """Default chunks (256 KiB). Below the smallest chunk, the photos wait and the audit
    chain still goes; under a 100 kB limit, the chunks shrink until they pass."""
    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        big = add_photo_observation(store, 200_000, 1, "big")
        small = add_photo_observation(store, 20_000, 2, "small")
        client = device.client(store, http, tuning=Tuning())
        proxy.body_limit = 10_000  # below the smallest chunk
        with pytest.raises(ProxyBodyLimitError):
            client.sync_once()
        assert _asked(proxy, "/audit")
        assert "uploads      2 pending" in "\n".join(read_status(store, {}).lines())
        _assert_kept_as_ran_with_held_back(store, "photos", None)
        proxy.body_limit = 100_000
        report = client.sync_once()
        assert report.uploads.completed == 2 and report.uploads.failed == 0, report.summary()
        assert hub_photo_sha256(big) is not None and hub_photo_sha256(small) is not None


def test_a_sync_that_held_every_entry_back_leaves_the_last_success_where_it_was(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A limit below every push body: nothing acknowledged, the audit chain not anchored,
    yet the sync was kept as the last success, and no gauge but the held-back one showed it
    (review s18b)."""
    device = new_device(tmp_path, proxy.url, site_slug, name="boat-all-held")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http, tuning=replace(FAST_TUNING, batch_entries=4))
        client.sync_once()  # nothing to send yet: a success
        success = read_status(store, {}).last.succeeded_at
        assert success is not None
        add_observations(store, 6, "held")
        proxy.body_limit = 200
        with pytest.raises(ProxyBodyLimitError):
            client.sync_once()
        counts = store.outbox.counts()
        assert counts[OutboxState.ACKNOWLEDGED] == 0 and counts[OutboxState.QUEUED] == 6
        _assert_kept_as_ran_with_held_back(store, "outbox entries", success)
        sample = read_sample(store, {})
        assert sample.last_held_back and not sample.last_failed
        assert sample.last_success == parse_timestamp(success)


def test_an_audit_entry_over_a_proxys_limit_is_held_back_too(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """An operator re-queues many quarantined entries: one audit entry listing every
    sequence (about 9 kB). A 4 kB limit lets every outbox entry through, not that entry:
    anchoring stops there, and every later entry waits behind it. The sync was kept as a
    success, no gauge showing it (review s18d); it is held back, as an entry or a photo."""
    device = new_device(tmp_path, proxy.url, site_slug, name="boat-audit-held")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http, tuning=replace(FAST_TUNING, batch_entries=4))
        client.sync_once()  # the chain anchored whole: a success
        success = read_status(store, {}).last.succeeded_at
        with store.database.write() as connection:
            store.audit.append(
                connection, actor="officer", action="outbox.requeued", subject="outbox",
                details={"entries": 1200, "sequences": list(range(100000, 101200))},
            )  # fmt: skip
        add_observations(store, 6, "after")
        proxy.body_limit = 4000
        with pytest.raises(ProxyBodyLimitError) as raised:
            client.sync_once()
        report = raised.value.report
        assert isinstance(report, SyncReport) and report.push.acknowledged == 6
        assert report.audit.problem is not None and "too large" in report.audit.problem
        assert "audit entries" in report.summary()
        _assert_kept_as_ran_with_held_back(store, "audit entries", success)
        sample = read_sample(store, {})
        assert sample.last_held_back and not sample.last_failed
        proxy.body_limit = None
        assert client.sync_once().audit.behind == 0
        last = read_status(store, {}).last
        assert last.succeeded_at == last.attempted_at and last.held_back is None, last


def test_sync_now_prints_what_a_held_back_sync_did_and_does_not_run_it_again(
    proxy: FaultProxy, site_slug: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Waiting cannot make a proxy's body limit pass: `jaga sync now` runs the sync once
    (not --retries times), prints its summary (the rest was pushed and pulled), then the
    reason, and exits non-zero."""
    from main import main

    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store:
        _big_observation(store)
        add_observations(store, 5, "cli")
    for name, value in device.environment(proxy.url).items():
        monkeypatch.setenv(name, value)
    proxy.body_limit = 3000
    assert main(["sync", "now", "--db", str(device.path)]) == 1
    out, err = capsys.readouterr()
    assert sum("/changes" in line for line in proxy.request_lines) == 1
    assert "pushed 5 acknowledged" in out and "wait for the next sync" in out
    assert "body-size limit" in err and "retrying" not in err


def test_the_service_goes_on_at_once_after_a_held_back_sync_that_reached_its_limits(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """One entry over a proxy's limit plus a backlog over the per-sync limits: each held-back
    sync that moved something and has more to do is followed at once, counting no failure,
    as one that only reached its limits; the back-off starts once the backlog is through."""
    from sync.client import Backoff, Phase, SyncService, open_client
    from sync.store import Passphrase
    from tests.sync.client.devices import PASSPHRASE
    from tests.sync.client.test_middlebox_pages import States
    from tests.sync.conftest import FAST

    device = new_device(tmp_path, proxy.url, site_slug)
    tuning = replace(FAST_TUNING, batch_entries=4, max_batches_per_sync=2)
    with device.open() as store:
        _big_observation(store)
        add_observations(store, 30, "backlog")
    proxy.body_limit = 3000
    states = States()
    service = SyncService(
        lambda: open_client(
            device.path, Passphrase(PASSPHRASE), env={}, store_config=FAST, tuning=tuning
        ),
        backoff=Backoff(30.0, 300.0), interval_s=600.0, on_state=states,
    )  # fmt: skip
    service.start()
    try:
        backing_off = states.wait_for(lambda s: s.phase == Phase.BACKING_OFF)
    finally:
        service.stop()
    assert backing_off.failures == 1
    report = backing_off.last_report
    assert report is not None and report.unfinished is None  # the backlog went first
    assert report.push.held_back is not None
