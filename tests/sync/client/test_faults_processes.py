"""Faults of whole processes: the hub SIGKILLed mid-batch and restarted, and the client
(``jaga sync now`` in its own process) SIGKILLed mid-push and resumed by a new process from
the store file alone. After each: every record on the hub exactly once, the outbox drained.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sync.client import HubUnavailableError
from sync.store import OutboxState
from tests.sync.client import faults
from tests.sync.client.devices import (
    FAST_TUNING,
    Device,
    add_access_events,
    add_observations,
    new_device,
    sync_until_drained,
)
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.hub.hubkit import REPO, HubProcess

HUB_KILL_RUNS = 4
CLIENT_KILLS = ("before the hub saw the batch", "after the hub stored the batch", "at random")
CLIENT_KILL_RUNS = 2
PUSH = "/push"
_kill_landed: dict[str, int] = {"before commit": 0, "after commit": 0}


@pytest.fixture(scope="module")
def killable_hub(
    hub_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    hub = HubProcess(hub_database, tmp_path_factory.mktemp("killable"), workers=1)
    hub.start()
    try:
        yield hub
    finally:
        hub.kill()  # it is killed on purpose all along; a graceful stop only costs time


def applied_for(device: Device) -> int:
    from sync.hub.models import AppliedEntry

    count: int = AppliedEntry.objects.filter(device__uid=device.registration.device_id).count()
    return count


@pytest.mark.parametrize("run", range(HUB_KILL_RUNS))
def test_a_hub_killed_mid_batch_restarts_and_nothing_is_lost_or_doubled(
    run: int, killable_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Even runs kill the hub while it applies a batch of 100 (a random moment into it);
    odd runs kill it right after it committed a batch whose answer the client never got."""
    device = new_device(tmp_path, killable_hub.url, site_slug)
    reached = threading.Event()
    after_commit = run % 2 == 1
    tuning = replace(FAST_TUNING, batch_entries=100, read_timeout_s=30.0)
    with FaultProxy(killable_hub.port) as tap, device.open() as store, httpx.Client() as http:
        add_observations(store, 280, f"hub-kill-{run}")  # three batches: one always follows
        add_access_events(store, site_slug, 20)
        hit = Rule(Action.TRUNCATE if after_commit else Action.PASS, PUSH, notify=reached)
        tap.add(Rule(Action.PASS, PUSH, times=run // 2 % 2), hit)
        killer = threading.Thread(target=_kill_hub, args=(killable_hub, reached, device, run))
        killer.start()
        client = device.client(store, http, hub_url=tap.url, tuning=tuning)
        with pytest.raises(HubUnavailableError):
            client.sync_once()
        killer.join(60)
        acknowledged = 100 * (run // 2 % 2)
        landed = "after commit" if applied_for(device) > acknowledged else "before commit"
        _kill_landed[landed] += 1
        killable_hub.start()
        sync_until_drained(client)
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    faults.record("hub SIGKILLed mid-batch, restarted", tally)
    faults.record_figures("hub kills landed", {k: float(v) for k, v in _kill_landed.items()})
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail


def _kill_hub(hub: HubProcess, reached: threading.Event, device: Device, run: int) -> None:
    if not reached.wait(30):
        return
    if run % 2:
        acknowledged = 100 * (run // 2 % 2)
        wait_until(lambda: applied_for(device) == acknowledged + 100, 30)
    else:  # inside the batch's transaction, a random moment into it
        wait_until(hub_transaction_open, 30)
        time.sleep(random.Random(run).uniform(0.0, 0.3))
    hub.kill()


def hub_transaction_open() -> bool:
    """Whether some other connection to the hub's database is inside a transaction (the
    only writer at this point is the killable hub applying the batch)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            " AND backend_type = 'client backend'"
        )
        (count,) = cursor.fetchone()
    return bool(count)


def sync_now(device: Device, hub_url: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(REPO / "main.py"), "sync", "now", "--db", str(device.path)]
    return subprocess.Popen(
        command, cwd=REPO, env=device.environment(hub_url), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_until(test: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


@pytest.mark.parametrize("run", range(CLIENT_KILL_RUNS))
@pytest.mark.parametrize("when", CLIENT_KILLS)
def test_a_client_killed_mid_push_is_resumed_by_a_new_process(
    when: str, run: int, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store:
        add_observations(store, 110, f"client-kill-{run}")
        add_access_events(store, site_slug, 10)
    seen, reached = threading.Event(), threading.Event()
    if when == CLIENT_KILLS[0]:
        proxy.add(Rule(Action.BLACKHOLE, PUSH, seen=seen))
    elif when == CLIENT_KILLS[1]:
        proxy.add(Rule(Action.DELAY, PUSH, delay_s=60.0, notify=reached))
    process = sync_now(device, proxy.url)
    try:
        if when == CLIENT_KILLS[0]:
            assert seen.wait(60)
        elif when == CLIENT_KILLS[1]:
            assert reached.wait(60)
            wait_until(lambda: applied_for(device) == 120, 30)  # committed; answer held
        else:
            time.sleep(random.Random(run).uniform(0.8, 2.5))
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    with device.open() as store:
        in_flight = store.outbox.counts()
    if when != CLIENT_KILLS[2]:
        assert in_flight[OutboxState.SENT] == 120  # killed with the whole batch in flight
    proxy.clear()
    resumed = sync_now(device, proxy.url)
    output, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, output
    with device.open() as store:
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    faults.record("client (jaga sync now) SIGKILLed mid-push, resumed", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
