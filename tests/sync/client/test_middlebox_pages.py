"""A middlebox's own pages between a device and a live hub: a captive portal's or firewall's
HTML 401/403, a proxy's bare 413. None of them is the hub's verdict, so none pauses sync or
quarantines a record: they are an outage, backed off and retried, and the records reach the
hub once the page is gone. (Found by the review_net probes, trimmed to fast tests.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from main import main
from sync.client import (
    Backoff,
    HubUnavailableError,
    Phase,
    ServiceState,
    SyncClient,
    SyncService,
    open_client,
)
from sync.client.status import read_status
from sync.hub.auth import create_device
from sync.store import OutboxState, Passphrase, Store
from tests.sync.client.devices import (
    FAST_TUNING,
    PASSPHRASE,
    SkewedClock,
    add_observations,
    new_device,
)
from tests.sync.client.faultproxy import Action, FaultProxy, Rule, page
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.client.test_packs import PACK_FILE, publish
from tests.sync.conftest import FAST
from tests.sync.test_species_packs import make_pack

AUTH_PAGES = {401: "401 Unauthorized", 403: "403 Forbidden"}
TUNING = replace(FAST_TUNING, batch_entries=4)
WAIT_S = 60.0  # a bound for a hung test, not a timing claim


class States:
    """The service's states as they come, and waiting for one that satisfies a test."""

    def __init__(self) -> None:
        self.seen: list[ServiceState] = []
        self._changed = threading.Condition()

    def __call__(self, state: ServiceState) -> None:
        with self._changed:
            self.seen.append(state)
            self._changed.notify_all()

    def wait_for(self, wanted: Callable[[ServiceState], bool]) -> ServiceState:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((s for s in self.seen if wanted(s)), None), WAIT_S
            )
        assert found is not None, [(s.phase, s.last_error) for s in self.seen]
        return found


@pytest.mark.parametrize("status", list(AUTH_PAGES))
def test_a_middlebox_401_or_403_page_backs_off_and_the_service_syncs_once_it_is_gone(
    status: int, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A portal on hotel or boat Wi-Fi answers every request with its HTML page: the service
    backs off instead of pausing for an operator, and syncs on its own once it can pass."""
    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store:
        add_observations(store, 5, f"portal-{status}")
    proxy.add(Rule(Action.ANSWER, times=None, answer=page(AUTH_PAGES[status])))

    def client() -> AbstractContextManager[SyncClient]:
        return open_client(
            device.path, Passphrase(PASSPHRASE), env={}, store_config=FAST, tuning=TUNING
        )

    states = States()
    service = SyncService(client, backoff=Backoff(0.05, 0.2), on_state=states)
    service.start()
    try:
        first = states.wait_for(lambda s: s.phase in (Phase.PAUSED, Phase.BACKING_OFF))
        assert first.phase == Phase.BACKING_OFF, first.last_error
        assert f"{status}" in (first.last_error or "")
        proxy.clear()  # the portal is passed: the hub answers through it
        states.wait_for(lambda s: s.last_report is not None and s.last_report.push.acknowledged > 0)
    finally:
        service.stop()
    assert Phase.PAUSED not in {s.phase for s in states.seen}
    with device.open() as store:
        assert drained(store)
        assert hub_tally(site_slug, [store]).lost == 0


@pytest.fixture
def db(tmp_path: Path, site_slug: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store not registered yet, and what ``jaga sync register`` reads from the
    environment: its passphrase and a fresh device's one-time code."""
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JAGA_SYNC_CODE", create_device(site_slug, "kiosk-portal").code)
    return path


@pytest.mark.parametrize("status", list(AUTH_PAGES))
def test_a_middlebox_401_or_403_page_at_register_is_an_outage_and_the_code_still_works(
    status: int, proxy: FaultProxy, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(Rule(Action.ANSWER, times=None, answer=page(AUTH_PAGES[status])))
    assert main(["sync", "register", "--hub", proxy.url, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "register the device again" not in err and "paused" not in err, err
    assert f"{status}" in err and "not the hub" in err, err
    proxy.clear()
    assert main(["sync", "register", "--hub", proxy.url, "--db", str(db)]) == 0


def test_a_proxys_413_page_quarantines_nothing_and_status_names_the_limit(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A proxy in front of the hub refuses push bodies with its own 413 page for a while:
    batches are split, but no record is quarantined for it; the sync fails as an outage,
    ``jaga sync status`` says what refuses the bodies, and the records go once it lets them."""
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.ANSWER, "/push", times=None, answer=page("413 Payload Too Large")))
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 6, "proxy-413")
        client = device.client(store, http, tuning=TUNING)
        with pytest.raises(HubUnavailableError):
            client.sync_once()
        assert store.outbox.counts()[OutboxState.REJECTED] == 0
        assert proxy.applied[Action.ANSWER.value] > 1  # the batch was split, to no avail
        shown = "\n".join(read_status(store, {}).lines())
        assert "between this device and the hub refuses request bodies of" in shown, shown
        assert "client_max_body_size" in shown and "nothing is quarantined" in shown, shown
        proxy.clear()
        assert client.sync_once().push.acknowledged == 6
        assert drained(store)
        assert hub_tally(site_slug, [store]).lost == 0


@pytest.mark.usefixtures("species_packs_removed")  # packs are hub-wide
def test_a_portals_page_to_a_resumed_pack_download_keeps_what_arrived(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A cut pack download, then a captive portal's login page as 200 (its usual answer),
    then an answer resuming at the wrong byte: neither is the hub's, so the part held stays
    and the next try still asks only for the rest."""
    device = new_device(tmp_path, proxy.url, site_slug)
    data = publish(make_pack(tmp_path / "pack", seed=9), f"portal200.{site_slug}")
    wrong_range = (
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\n"
        b"Content-Length: 10\r\nConnection: close\r\n\r\n0123456789"
    )
    proxy.add(
        Rule(Action.TRUNCATE, PACK_FILE, after_bytes=20_000),
        Rule(Action.ANSWER, PACK_FILE, answer=page("200 OK")),
        Rule(Action.ANSWER, PACK_FILE, answer=wrong_range),
    )
    clock = SkewedClock(timedelta(0))
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack is None
        (held,) = [p for p in client.packs_dir.iterdir() if p.name.startswith(".download-")]
        kept = held.read_bytes()
        assert data.startswith(kept) and kept
        for _ in range(2):  # the portal's page, then the wrong range
            clock.offset += timedelta(hours=1)  # past the back-off
            assert client.sync_once(retry_pack=True).new_species_pack is None
            assert held.read_bytes() == kept
        proxy.add(Rule(Action.PASS, PACK_FILE, record=True))
        clock.offset += timedelta(hours=1)
        assert client.sync_once(retry_pack=True).new_species_pack is not None
    (request,) = proxy.recorded
    assert f"range: bytes={len(kept)}-".encode() in request.lower()


@pytest.mark.usefixtures("species_packs_removed")  # packs are hub-wide
def test_a_whole_pack_without_etag_answering_a_resume_installs(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A middlebox that ignores Range and strips ETag (a buffering or antivirus proxy)
    answers a resumed download with the whole, correct pack as a plain 200: its sha256
    proves it, so it installs instead of being thrown away as a portal's page each try."""
    device = new_device(tmp_path, proxy.url, site_slug)
    data = publish(make_pack(tmp_path / "pack", seed=11), f"etagless.{site_slug}")
    whole = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {len(data)}"
        "\r\nConnection: close\r\n\r\n"
    ).encode() + data
    proxy.add(
        Rule(Action.TRUNCATE, PACK_FILE, after_bytes=20_000),
        Rule(Action.ANSWER, PACK_FILE, times=None, answer=whole),
    )
    clock = SkewedClock(timedelta(0))
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack is None  # the cut
        clock.offset += timedelta(hours=1)  # past the back-off
        assert client.sync_once(retry_pack=True).new_species_pack is not None
        assert not [p for p in client.packs_dir.iterdir() if p.name.startswith(".download-")]
    assert proxy.applied[Action.ANSWER.value] == 1
