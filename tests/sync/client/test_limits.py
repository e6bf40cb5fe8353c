"""A sync that reaches its per-sync limits, against a real hub: it says what it left, and the
background service goes on at once until the device is caught up."""

from __future__ import annotations

import functools
import threading
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from main import main
from sync.client import Phase, SyncClient, SyncService, open_client
from sync.client.service import Attempt
from sync.client.status import read_status
from sync.store import Passphrase, Store
from tests.sync.client.devices import (
    FAST_TUNING,
    PASSPHRASE,
    add_observations,
    add_photo_observation,
    new_device,
)
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.client.recorder import Recorder
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

# 20 entries a batch, 2 batches, 10 changes a page, 2 pages, 1 photo: each sync does a part.
LIMITED = replace(
    FAST_TUNING, max_batches_per_sync=2, pull_limit=10, max_pages_per_sync=2, max_uploads_per_sync=1
)
INTERVAL_S = 3600.0


def backlog(store: Store, catches: int) -> None:
    """Two catches with a photo (2 entries each, one upload each), then ``catches`` more."""
    add_photo_observation(store, 3000, seed=1, tag="first")
    add_photo_observation(store, 3000, seed=2, tag="second")
    add_observations(store, catches, "backlog")


def test_a_sync_that_reached_its_limits_says_what_is_left_not_ok(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        backlog(store, 45)  # 49 entries: 40 go, 9 stay
        report = device.client(store, http, tuning=LIMITED).sync_once()
        assert (report.push.acknowledged, report.push.batches) == (40, 2)
        assert (report.pull.pages, report.pull.applied + report.pull.skipped) == (2, 20)
        assert report.uploads.completed == 1
        summary = report.summary()
        assert "9 entries still queued" in summary, summary
        assert "more changes on the hub" in summary and "1 photo still to upload" in summary
        last = read_status(store, {}).last
        assert last.succeeded_at is None and last.error is None and not last.stopped
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    assert main(["sync", "status", "--db", str(device.path)]) == 0
    out = capsys.readouterr().out
    assert "(ok)" not in out and "failed" not in out, out
    assert "reached this sync's limits" in out, out
    assert "9 entries still queued, more changes on the hub, 1 photo still to upload" in out
    assert "last success never" in out, out
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http, tuning=LIMITED)
        for _ in range(4):  # the next syncs take the rest: 9 entries, 29 changes, 1 photo
            if client.sync_once().unfinished is None:
                break
        last = read_status(store, {}).last
        assert last.outcome() == "ok" and last.succeeded_at == last.attempted_at
        assert drained(store) and read_status(store, {}).pending_uploads == 0
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail


def test_the_service_goes_on_at_once_until_the_device_is_caught_up(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Not after its idle interval: a device back in range with days of catches would
    otherwise send 40 entries an hour."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store:
        backlog(store, 95)  # 99 entries: 3 syncs of 40 at most
    slept: list[float] = []
    idle = threading.Event()

    def fake_sleep(wake: threading.Event, seconds: float) -> None:
        slept.append(seconds)
        if seconds >= INTERVAL_S:  # the idle interval: caught up; wait for real, until stopped
            idle.set()
            wake.wait(seconds)

    def factory() -> AbstractContextManager[SyncClient]:
        return open_client(
            device.path, Passphrase(PASSPHRASE), env={"JAGA_HUB_URL": live_hub.url},
            store_config=FAST, tuning=LIMITED,
        )  # fmt: skip

    recorder, attempts = Recorder(), list[Attempt]()
    service = SyncService(
        factory, interval_s=INTERVAL_S, on_state=recorder, sleep=fake_sleep,
        on_attempt=attempts.append,
    )  # fmt: skip
    service.start()
    try:
        assert idle.wait(60), (slept, [s.phase for s in recorder.states])
    finally:
        service.stop()
    with device.open() as store:  # idle only once caught up
        assert drained(store) and read_status(store, {}).pending_uploads == 0
        assert read_status(store, {}).last.outcome() == "ok"
    reports = [s.last_report for s in recorder.states if s.phase == Phase.IDLE]
    assert reports[-1] is not None and reports[-1].unfinished is None
    assert attempts[-1] == Attempt.OK and set(attempts[:-1]) == {Attempt.PARTIAL}
    assert slept == [0.0] * (len(attempts) - 1) + [INTERVAL_S]


def test_sync_now_goes_on_until_the_device_is_caught_up(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The headless timer's ``jaga sync now`` does what the app's service does: a device
    back in range is caught up by one run, not by one run every 15 minutes."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store:
        backlog(store, 95)  # 99 entries, 2 photos: 3 syncs at least
    limited = functools.partial(open_client, tuning=LIMITED, store_config=FAST)
    monkeypatch.setattr("sync.client.client.open_client", limited)
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    assert main(["sync", "now", "--db", str(device.path)]) == 0
    summaries = capsys.readouterr().out.splitlines()
    assert len(summaries) >= 3, summaries
    assert all("reached this sync's limits" in line for line in summaries[:-1]), summaries
    assert "reached this sync's limits" not in summaries[-1], summaries
    with device.open() as store:
        assert drained(store) and read_status(store, {}).pending_uploads == 0
        assert read_status(store, {}).last.outcome() == "ok"
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
