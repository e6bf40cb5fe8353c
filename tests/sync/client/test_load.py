"""A bounded load test: many devices pushing at once to one hub process on loopback.

``LOAD_DEVICES`` devices (threads, each with its own encrypted store, HTTP client and
``SyncClient``) spread over ``LOAD_SITES`` sites hold ``LOAD_RECORDS`` fish observations
each and sync at the same moment. Reported: devices, records, wall time, throughput
(records per second, first request to last answer) and push latency percentiles as each
client saw them. Set ``JAGA_SYNC_LOAD_DEVICES`` / ``JAGA_SYNC_LOAD_RECORDS`` for a bigger run.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sync.client import RequestTiming
from tests.sync.client import faults
from tests.sync.client.devices import FAST_TUNING, Device, add_observations, new_device
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.hub.hubkit import HubProcess

# The suite's run: two devices a site, each pushing twice at once with the others (50 records
# a push), enough for the races the tally checks; the 20 x 200 run took 25 s of the suite.
LOAD_DEVICES = int(os.environ.get("JAGA_SYNC_LOAD_DEVICES", "10"))
LOAD_RECORDS = int(os.environ.get("JAGA_SYNC_LOAD_RECORDS", "100"))
LOAD_SITES = 5
TUNING = replace(FAST_TUNING, batch_entries=50, read_timeout_s=120.0)
JOIN_TIMEOUT_S = 300.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.mark.slow
def test_many_devices_pushing_at_once(live_hub: HubProcess, site_slug: str, tmp_path: Path) -> None:
    sites = [f"{site_slug}-{n}" for n in range(LOAD_SITES)]
    devices = [
        new_device(tmp_path, live_hub.url, sites[n % LOAD_SITES], f"device-{n}")
        for n in range(LOAD_DEVICES)
    ]
    for number, device in enumerate(devices):
        with device.open() as store:
            add_observations(store, LOAD_RECORDS, f"load-{number}")
    timings: list[RequestTiming] = []
    errors: list[BaseException] = []
    start = threading.Barrier(LOAD_DEVICES + 1)

    def run(device: Device) -> None:
        try:
            with device.open() as store, httpx.Client() as http:
                client = device.client(store, http, tuning=TUNING, observer=timings.append)
                start.wait(30)
                client.push()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(device,)) for device in devices]
    for thread in threads:
        thread.start()
    start.wait(30)
    began = time.monotonic()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    seconds = time.monotonic() - began
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    pushes = [t.seconds for t in timings if t.operation == "push"]
    assert all(t.status == 200 for t in timings)
    records = LOAD_DEVICES * LOAD_RECORDS
    figures = {
        "devices": float(LOAD_DEVICES),
        "records": float(records),
        "push requests": float(len(pushes)),
        "seconds": round(seconds, 2),
        "records/s": round(records / seconds, 1),
        "p50 ms": round(1000 * statistics.median(pushes), 1),
        "p95 ms": round(1000 * percentile(pushes, 0.95), 1),
        "max ms": round(1000 * max(pushes), 1),
    }
    faults.record_figures(f"load test ({TUNING.batch_entries} records a push)", figures)
    for site in sites:
        mine = [d for d in devices if d.registration.site == site]
        stores = [d.open() for d in mine]
        try:
            assert all(drained(store) for store in stores)
            tally = hub_tally(site, stores)
        finally:
            for store in stores:
                store.close()
        assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
