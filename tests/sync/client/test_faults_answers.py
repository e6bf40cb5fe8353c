"""Answers damaged on the way back, between a real client and a real hub: a pull page whose
body is garbage, cut, or a middlebox's page in its place; and a hub (or a load balancer)
asking the device to come back later, in each form ``Retry-After`` takes.

A damaged page is a clear ``HubUnavailableError``: nothing of it applied, the cursor where
the last whole page left it; the next sync pulls the rest, each record once.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from sync.client import (
    Backoff,
    HubUnavailableError,
    Phase,
    ServiceState,
    SyncClient,
    SyncService,
)
from sync.client.state import read_cursor
from sync.store import Store
from tests.sync.client.devices import FAST_TUNING, Device, add_observations, new_device
from tests.sync.client.faultproxy import Action, FaultProxy, Rule, page
from tests.sync.hub.hubkit import HubProcess

PAGE = 10
CHANGES = "/changes"
NOT_JSON = page("200 OK")  # a captive portal's login page, answered as if it were the hub
WRONG_JSON = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
    b'Connection: close\r\n\r\n{"changes": true}'
)
# (the fault on the second page, as rules)
PAGE_FAULTS: dict[str, Rule] = {
    "garbage over the start of the body": Rule(Action.MANGLE, CHANGES, after_bytes=0),
    "garbage in the middle of the body": Rule(Action.MANGLE, CHANGES, after_bytes=1500),
    "garbage over the last bytes": Rule(Action.MANGLE, CHANGES, after_bytes=1 << 30),
    "one byte flipped in a uid": Rule(Action.MANGLE, CHANGES, after_bytes=0, garbage=b"Z"),
    "a letter changed inside a catch's notes (still valid JSON)": Rule(
        Action.MANGLE, CHANGES, find=b"pulled-", garbage=b"PULLED-"
    ),
    "half the answer, then the link closes": Rule(Action.TRUNCATE, CHANGES, after_bytes=2000),
    "an HTML page with 200 in its place": Rule(Action.ANSWER, CHANGES, answer=NOT_JSON),
    "JSON of another shape": Rule(Action.ANSWER, CHANGES, answer=WRONG_JSON),
}


@pytest.fixture
def written(live_hub: HubProcess, site_slug: str, tmp_path: Path) -> list[str]:
    """Thirty catches another boat of the site pushed: three pages to pull."""
    writer = new_device(tmp_path, live_hub.url, site_slug, "writer")
    with writer.open() as store, httpx.Client() as http:
        uids = add_observations(store, 3 * PAGE, "pulled")
        writer.client(store, http).push()
    return uids


@pytest.mark.parametrize("fault", list(PAGE_FAULTS))
def test_a_damaged_page_applies_nothing_and_leaves_the_cursor_then_pulls_once(
    fault: str, written: list[str], proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    reader = new_device(tmp_path, proxy.url, site_slug, "reader")
    proxy.add(Rule(Action.PASS, CHANGES, times=1), replace(PAGE_FAULTS[fault]))
    tuning = replace(FAST_TUNING, pull_limit=PAGE)
    with reader.open() as store, httpx.Client() as http:
        client = reader.client(store, http, tuning=tuning)
        with pytest.raises(HubUnavailableError) as raised:
            client.sync_once()
        first_page_cursor = read_cursor(store.database, site_slug)
        assert (store.observations.count(), first_page_cursor > 0) == (PAGE, True), raised.value
        assert "hub" in str(raised.value)  # says what failed, not a parser's traceback
        proxy.clear()
        report = client.sync_once()
        held = {uid for uid in written if _holds(store, uid)}
        assert (store.observations.count(), len(held)) == (len(written), len(written))
        assert report.pull.applied == len(written) - PAGE
        assert read_cursor(store.database, site_slug) > first_page_cursor


def _holds(store: Store, uid: str) -> bool:
    with contextlib.suppress(Exception):
        return store.observations.get(uid).observation_uid == uid
    return False


def retry_after_of(value: str, date: datetime) -> bytes:
    body = b'{"error": "throttled", "reason": "too many requests"}'
    head = (
        f"HTTP/1.1 429 Too Many Requests\r\nDate: {format_datetime(date, usegmt=True)}\r\n"
        f"Retry-After: {value}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


HUB_NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
CAP_S = 300.0
# (Retry-After as sent, the least a device waits before its next attempt)
RETRY_AFTERS: dict[str, tuple[str, float]] = {
    "seconds": ("120", 120.0),
    "an HTTP date two minutes after the answer's": (
        format_datetime(HUB_NOW + timedelta(minutes=2), usegmt=True), 120.0),
    "an HTTP date in the past": (format_datetime(HUB_NOW - timedelta(days=1), usegmt=True), 0.0),
    "zero": ("0", 0.0),
    "absurdly many seconds": ("9" * 40, CAP_S),
    "a date ten years on": (format_datetime(HUB_NOW + timedelta(days=3650), usegmt=True), CAP_S),
    "a superscript digit": ("\u00b2", 0.0),
    "negative": ("-30", 0.0),
}  # fmt: skip


@pytest.mark.parametrize("form", list(RETRY_AFTERS))
def test_a_429s_retry_after_is_honoured_bounded_and_never_a_busy_loop(
    form: str, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """The service against the real hub, through a proxy that answers the push 429 twice;
    its sleeps are recorded, not slept (a fake clock)."""
    value, least_s = RETRY_AFTERS[form]
    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store:
        add_observations(store, 5, form)
    throttled = retry_after_of(value, HUB_NOW)  # latin-1: the superscript is one byte
    proxy.add(Rule(Action.ANSWER, "/push", times=2, answer=throttled))
    backoff = Backoff(base_s=1.0, cap_s=CAP_S)
    delays, states = _serve(device, backoff)
    synced = [s for s in states if s.phase == Phase.IDLE and s.last_report is not None]
    assert synced and synced[0].last_report is not None and synced[0].last_report.push.batches
    backing_off = [s for s in states if s.phase == Phase.BACKING_OFF]
    assert [s.failures for s in backing_off] == [1, 2], [s.last_error for s in backing_off]
    assert all("HubUnavailableError" in str(s.last_error) for s in backing_off)
    waits = delays[:2]
    assert all(backoff.base_s / 2 <= wait <= CAP_S for wait in waits), waits  # bounded, > 0
    assert all(wait >= least_s for wait in waits), waits  # honoured
    with device.open() as store:
        assert not store.outbox.queued(limit=1)


def _serve(device: Device, backoff: Backoff) -> tuple[list[float], list[ServiceState]]:
    """Run the service until its first successful sync; its delays and states."""
    delays: list[float] = []
    states: list[ServiceState] = []
    synced = threading.Event()

    def on_state(state: ServiceState) -> None:
        states.append(state)
        if state.phase == Phase.IDLE and state.last_report is not None:
            synced.set()

    def sleep(wake: threading.Event, seconds: float) -> bool:
        delays.append(seconds)
        if synced.is_set():  # done: wait for the stop, which sets ``wake``
            return wake.wait()
        return False

    @contextlib.contextmanager
    def open_client() -> Iterator[SyncClient]:
        with device.open() as store, httpx.Client() as http:
            yield device.client(store, http)

    service = SyncService(
        open_client, backoff=backoff, rng=random.Random(7), on_state=on_state, sleep=sleep
    )
    service.start()
    try:
        assert synced.wait(120), states[-1:]
    finally:
        service.stop(timeout_s=60)
    return delays, states
