"""A species pack download the hub (or a load balancer in front of it) answers 429 or 503
with ``Retry-After``: the pack's next try waits at least that long, bounded as a push's or
a pull's wait is (``sync.client.transport_answers``), and not only its own back-off.

A real hub process and PostgreSQL behind a proxy that answers the pack's download in the
hub's place; the device's clock is the wall clock moved by hand past each wait.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sync.store.clock import format_timestamp, parse_timestamp
from tests.sync.client.devices import SkewedClock, new_device
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.test_faults_answers import retry_after_of
from tests.sync.client.test_packs import PACK_FILE, failures_kept, publish
from tests.sync.test_species_packs import make_pack

pytestmark = pytest.mark.usefixtures("species_packs_removed")

PACK_FIRST_WAIT_S = 60  # the pack's own back-off after one failure (``PACK_RETRY``)
# (Retry-After as sent, the wait the device keeps before its next download of the pack)
RETRY_AFTERS = {
    "fifteen minutes": ("900", 900),
    "absurdly many seconds": ("9" * 40, 3600),  # the parser's bound, as for a push
}


@pytest.mark.parametrize("status", ["429 Too Many Requests", "503 Service Unavailable"])
@pytest.mark.parametrize("form", list(RETRY_AFTERS))
def test_a_pack_downloads_retry_after_is_a_floor_under_its_back_off(
    form: str, status: str, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    sent, wait_s = RETRY_AFTERS[form]
    answer = retry_after_of(sent, datetime.now(UTC)).replace(
        b"429 Too Many Requests", status.encode(), 1
    )
    version = f"throttled.{site_slug}"
    publish(make_pack(tmp_path / "pack", seed=3), version)
    device = new_device(tmp_path, proxy.url, site_slug)
    downloaded = threading.Event()
    proxy.add(
        Rule(Action.ANSWER, PACK_FILE, times=1, answer=answer),
        Rule(Action.PASS, PACK_FILE, times=None, seen=downloaded),
    )
    clock = SkewedClock(timedelta(0))
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        refused = client.sync_once().species_pack_error
        assert refused is not None and status[:3] in refused, refused
        failed_at = parse_timestamp(str(failures_kept(store)["last_failure_at"]))
        next_try = format_timestamp(failed_at + timedelta(seconds=wait_s))
        assert refused.endswith(f"next try after {next_try}"), refused
        clock.offset += timedelta(seconds=PACK_FIRST_WAIT_S)  # the pack's own wait is over
        waiting = client.sync_once()
        assert not downloaded.is_set(), "downloaded again before the hub's Retry-After"
        assert waiting.new_species_pack is None and waiting.species_pack_error == refused
        clock.offset += timedelta(seconds=wait_s - PACK_FIRST_WAIT_S + 5)
        installed = client.sync_once()
        assert downloaded.is_set() and installed.new_species_pack == client.packs_dir / version
