"""Faults on the wire: the fault proxy between a real client and a real hub process.

Each run is a fresh device of its own site with 70 records (60 fish observations, 10 access
events: four push batches), synced through the proxy with a fault on some of its requests,
retried until the outbox is drained; then the hub's PostgreSQL is counted. Runs vary which
batch the fault hits. The totals land in the fault table (``faults``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sync.store.photos import load_photo
from tests.sync.client import faults
from tests.sync.client.devices import (
    FAST_TUNING,
    add_access_events,
    add_observations,
    add_photo_observation,
    new_device,
    sync_until_drained,
)
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.hubcheck import Tally, drained, hub_photo_sha256, hub_tally

RUNS = 4
PUSH = "/push"
# (fault name, rules for run n, client read timeout)
SCENARIOS: dict[str, tuple[list[Rule], float]] = {
    "link drops before the hub sees the push": ([Rule(Action.REFUSE, PUSH, times=2)], 10.0),
    "push request cut mid-body": ([Rule(Action.CUT_REQUEST, PUSH, times=2, after_bytes=900)], 10.0),
    "answer truncated after the hub stored": (
        [Rule(Action.TRUNCATE, PUSH, times=2, after_bytes=60)], 10.0),
    "connection reset mid-answer": ([Rule(Action.RESET, PUSH, times=2, after_bytes=25)], 10.0),
    "answer mangled after the hub stored": (
        [Rule(Action.MANGLE, PUSH, times=2, after_bytes=20)], 10.0),
    "answer delayed past the client's timeout": (
        [Rule(Action.DELAY, PUSH, times=1, delay_s=1.5)], 1.0),
    "no answer at all (black hole)": ([Rule(Action.BLACKHOLE, PUSH, times=1)], 1.0),
    "pull answer cut": ([Rule(Action.TRUNCATE, "/changes", times=1, after_bytes=200)], 10.0),
    "every push delivered twice at once": ([Rule(Action.DUPLICATE, PUSH, times=None)], 10.0),
}  # fmt: skip


def fresh_rules(rules: list[Rule], run: int) -> list[Rule]:
    """Let ``run % 3`` pushes through first, so runs hit different batches."""
    return [Rule(Action.PASS, PUSH, times=run % 3), *(replace(rule) for rule in rules)]


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize("fault", list(SCENARIOS))
def test_a_fault_on_the_wire_loses_and_duplicates_nothing(
    fault: str, run: int, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    rules, timeout_s = SCENARIOS[fault]
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(*fresh_rules(rules, run))
    tuning = replace(FAST_TUNING, read_timeout_s=timeout_s)
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 60, f"{fault}-{run}")
        add_access_events(store, site_slug, 10)
        client = device.client(store, http, tuning=tuning)
        failures = sync_until_drained(client)
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    faults.record(fault, tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
    assert proxy.applied[rules[0].action.value] >= 1
    if rules[0].action not in (Action.DUPLICATE,):
        assert failures >= 1  # the fault really interrupted a sync


@pytest.mark.parametrize("run", range(RUNS))
def test_a_push_replayed_long_after_changes_nothing(
    run: int, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.PASS, PUSH, times=None, record=True))
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 60, f"replay-{run}")
        add_access_events(store, site_slug, 10)
        sync_until_drained(device.client(store, http))
        assert len(proxy.recorded) == 4
        for request in proxy.recorded:  # a stale duplicate, after everything settled
            head, _, body = proxy.replay(request).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert json.loads(body)["rejected"] == []
        tally = hub_tally(site_slug, [store])
    faults.record("stale duplicate of every push, replayed later", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail


UPLOAD_FAULTS = (Action.CUT_REQUEST, Action.TRUNCATE, Action.RESET, Action.REFUSE, Action.MANGLE)


@pytest.mark.parametrize("run", range(len(UPLOAD_FAULTS)))
def test_a_photo_upload_cut_mid_stream_resumes_and_arrives_whole(
    run: int, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """Two 300 kB photos in 64 KiB chunks; one chunk (a different one each run) is cut on
    the way up, or its answer is cut, reset or mangled on the way back, or its connection
    refused."""
    device = new_device(tmp_path, proxy.url, site_slug)
    fault = UPLOAD_FAULTS[run]
    after = 20_000 if fault == Action.CUT_REQUEST else 30
    proxy.add(Rule(Action.PASS, "PUT", times=1 + run), Rule(fault, "PUT", after_bytes=after))
    with device.open() as store, httpx.Client() as http:
        photos = [
            add_photo_observation(store, 300_000, seed=run * 2 + i, tag=f"p{i}") for i in (0, 1)
        ]
        client = device.client(store, http)
        failures = sync_until_drained(client)
        mangled = sum(
            hub_photo_sha256(uid) != load_photo(store.database, uid).sha256 for uid in photos
        )
        tally = hub_tally(site_slug, [store]) + Tally(0, mangled, 0, f"{mangled} photos differ")
    faults.record("photo upload cut mid-stream, resumed", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
    assert failures >= 1 and proxy.applied[fault.value] == 1
