"""A device's audit chain anchored at a real hub by its syncs (``jaga sync now``), a chain
rewritten or rewound refused and reported by ``jaga sync status``, and a hub without the
endpoint, which must not hold a sync back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from main import main
from sync.client.client import SyncClient
from sync.client.errors import ProxyBodyLimitError
from sync.client.report import SyncReport
from sync.client.state import put_values
from sync.client.status import read_status
from sync.hub.audit_breaks import acknowledge
from sync.hub.models import AnchoredAuditEntry, AuditBreak, AuditChainState
from sync.store import Passphrase
from sync.store.backups import backup, restore
from tests.sync.client.devices import PASSPHRASE, Device, add_access_events
from tests.sync.client.hubcheck import drained
from tests.sync.conftest import FAST
from tests.sync.test_store_audit import tamper

NUMBER = "audit.batch_number"


def sync_now(device: Device, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["sync", "now", "--db", str(device.path)]) == 0
    return capsys.readouterr().out


def sync_status(device: Device, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["sync", "status", "--db", str(device.path)]) == 0
    return capsys.readouterr().out


def decisions(device: Device, count: int) -> None:
    with device.open() as store:
        add_access_events(store, device.registration.site, count)


def chain(device: Device) -> list[tuple[int, str]]:
    with device.open() as store:
        return [(row[0], row[7]) for row in store.audit.links(0, 10_000)]


def held(device: Device, segment: int = 0) -> list[tuple[int, str]]:
    rows = AnchoredAuditEntry.objects.filter(
        device__uid=device.registration.device_id, segment=segment
    )
    return list(rows.order_by("sequence").values_list("sequence", "entry_hash"))


def breaks(device: Device) -> list[AuditBreak]:
    return list(AuditBreak.objects.filter(device__uid=device.registration.device_id))


def test_the_hub_anchors_the_chain_across_syncs(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 5)
    assert "anchored 6 audit entries" in sync_now(kiosk, capsys)
    assert held(kiosk) == chain(kiosk)
    decisions(kiosk, 3)
    sync_now(kiosk, capsys)
    assert held(kiosk) == chain(kiosk) and len(held(kiosk)) == 9
    status = sync_status(kiosk, capsys)
    assert "audit        anchored at the hub up to entry 9 of 9, last at 20" in status


def test_newest_entries_removed_and_appended_again_are_refused_reported_and_recovered(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 4)
    sync_now(kiosk, capsys)  # the hub holds 1..5
    anchored = held(kiosk)
    with kiosk.open() as store:
        tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
        add_access_events(store, kiosk.registration.site, 3)  # 4..6, told another way
        assert store.audit.verify_chain().ok  # the chain alone is whole again
        assert not store.audit.verify().ok  # but the removed entries' events are left
    out = sync_now(kiosk, capsys)
    assert "pushed 3 acknowledged" in out  # the records still travel
    assert "audit chain the hub refused the audit chain: audit entry 6 does not follow" in out
    (recorded,) = breaks(kiosk)
    assert (recorded.kind, recorded.sequence, recorded.is_open) == ("unlinked", 5, True)
    assert held(kiosk) == anchored  # nothing of the rewrite is taken
    status = sync_status(kiosk, capsys)
    assert "audit        anchored at the hub up to entry 5 of 6" in status
    assert "audit issue  the hub refused the audit chain: audit entry 6" in status
    assert "acknowledge the break in the hub's admin" in status
    decisions(kiosk, 1)
    sync_now(kiosk, capsys)  # refused again, one request, no second break
    assert len(breaks(kiosk)) == 1 and "audit issue" in sync_status(kiosk, capsys)
    assert acknowledge(recorded, "operator")
    sync_now(kiosk, capsys)
    assert held(kiosk) == anchored  # the old segment stays
    assert held(kiosk, segment=1) == chain(kiosk)[4:]  # 5 (the break's), 6, 7: a new segment
    status = sync_status(kiosk, capsys)
    assert "up to entry 7 of 7" in status and "audit issue" not in status


def test_newest_entries_removed_are_refused_at_the_next_sync(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 4)
    sync_now(kiosk, capsys)  # the hub holds 1..5
    with kiosk.open() as store:
        tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    out = sync_now(kiosk, capsys)
    assert "the device's audit chain ends at entry 3, before entry 5 that the hub holds" in out
    (recorded,) = breaks(kiosk)
    assert (recorded.kind, recorded.sequence) == ("rewound", 3)


def test_a_restore_of_a_backup_older_than_the_hubs_head_is_a_break(
    kiosk: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 2)
    sync_now(kiosk, capsys)  # the hub holds 1..3
    with kiosk.open() as store:
        backup(store, tmp_path / "backup.db", operator="cli:admin")  # then entry 4 says so
        add_access_events(store, kiosk.registration.site, 2)
    sync_now(kiosk, capsys)  # the hub holds 1..6
    restore(
        tmp_path / "backup.db", kiosk.path, Passphrase(PASSPHRASE), operator="cli:admin",
        force=True, config=FAST,
    )  # fmt: skip
    out = sync_now(kiosk, capsys)  # sends 4 (store.restored) on: the hub holds another 4
    assert "audit entry 4 differs from the one the hub holds" in out
    (recorded,) = breaks(kiosk)
    assert (recorded.kind, recorded.sequence) == ("diverged", 4)
    acknowledge(recorded, "operator")
    sync_now(kiosk, capsys)
    assert [sequence for sequence, _ in held(kiosk, segment=1)] == [4]
    assert "audit issue" not in sync_status(kiosk, capsys)


@pytest.fixture
def old_hub() -> Iterator[httpx.Client]:
    """The real hub in this process, its URL map without the audit endpoint: a hub from
    before audit chains were anchored."""
    with override_settings(ROOT_URLCONF="tests.sync.client.oldhub_urls"):
        transport = httpx.WSGITransport(app=WSGIHandler())
        with httpx.Client(transport=transport) as http:
            yield http


def test_a_hub_without_the_endpoint_does_not_hold_the_sync_back(
    kiosk: Device, old_hub: httpx.Client
) -> None:
    with kiosk.open() as store:
        add_access_events(store, kiosk.registration.site, 4)
        client = kiosk.client(store, old_hub, hub_url="http://testserver")
        report = client.sync_once()
        assert report.push.acknowledged == 4 and drained(store)
        assert report.audit.problem is not None and "older than this device" in report.audit.problem
        assert report.unfinished is None  # caught up: nothing left it could send
        status = read_status(store, {})
        assert status.last.error is None and status.last.succeeded_at is not None
        assert "audit issue  the hub does not anchor audit chains" in "\n".join(status.lines())
        add_access_events(store, kiosk.registration.site, 1)
        assert client.sync_once().push.acknowledged == 1  # and the next sync goes on
    assert not held(kiosk)


def test_a_batch_number_behind_the_hubs_is_moved_past_it_and_the_chain_still_judged(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 2)
    sync_now(kiosk, capsys)
    decisions(kiosk, 1)
    sync_now(kiosk, capsys)  # the hub has seen this device's batches numbered up to 2
    with kiosk.open() as store:  # a restored backup brings back an older number
        store.database.connection.execute(
            "UPDATE sync_state SET value = '0' WHERE name = ?", (NUMBER,)
        )
        tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    out = sync_now(kiosk, capsys)
    assert "ends at entry 3, before entry 4 that the hub holds" in out  # judged, not stale
    (recorded,) = breaks(kiosk)
    assert (recorded.kind, recorded.sequence) == ("rewound", 3)


def test_a_batch_number_far_past_the_hubs_is_numbered_on_from_the_hubs(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 2)
    with kiosk.open() as store:  # the hub's count started again (a new code), say
        put_values(store.database, {NUMBER: str(5_000_000)}, store.clock.now())
    out = sync_now(kiosk, capsys)
    assert "audit chain" not in out, out  # no problem to report
    assert held(kiosk) == chain(kiosk)
    state = AuditChainState.objects.get(device__uid=kiosk.registration.device_id)
    assert state.batch_number == 1


def test_an_entry_too_large_to_send_still_tells_the_hub_the_chains_head(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 3)
    with kiosk.open() as store:
        store.audit.record(
            actor="cli:op", action="store.backed_up", subject="x", details={"r": "x" * 70_000}
        )
    decisions(kiosk, 2)
    out = sync_now(kiosk, capsys)
    assert "audit entry 5 cannot be sent" in out
    state = AuditChainState.objects.get(device__uid=kiosk.registration.device_id)
    assert (state.anchored_sequence, state.reported_sequence) == (4, 7)


def test_batches_are_sized_in_the_bytes_the_hub_counts(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    with kiosk.open() as store:  # 80 kB of UTF-8 each, in 20,000 characters
        for _ in range(60):
            store.audit.record(
                actor="cli:op", action="store.backed_up", subject="x",
                details={"r": "\U0001f41f" * 20_000},
            )  # fmt: skip
    out = sync_now(kiosk, capsys)
    assert "audit chain" not in out, out  # no problem to report
    assert held(kiosk) == chain(kiosk)


class _SmallBodies(httpx.BaseTransport):
    """The real hub behind a proxy that refuses bodies over ``limit`` bytes with a 413: the
    hub's own answer, or (``page``) the proxy's HTML page."""

    def __init__(self, limit: int, *, page: bool = False) -> None:
        self._hub = httpx.WSGITransport(app=WSGIHandler())
        self._limit = limit
        self._page = page

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if len(request.read()) > self._limit and self._page:
            return httpx.Response(413, text="<html>413 Request Entity Too Large</html>")
        if len(request.read()) > self._limit:
            return httpx.Response(413, json={"error": "too_large", "reason": "proxy limit"})
        return self._hub.handle_request(request)


@pytest.mark.parametrize("page", [False, True])
def test_a_body_too_large_for_the_way_to_the_hub_is_sent_in_smaller_batches(
    kiosk: Device, page: bool
) -> None:
    small = _SmallBodies(20_000, page=page)
    with kiosk.open() as store, httpx.Client(transport=small) as http:
        for _ in range(40):
            store.audit.record(
                actor="cli:op", action="store.backed_up", subject="x", details={"r": "y" * 2000}
            )
        report = kiosk.client(store, http, hub_url="http://testserver").sync_once()
        assert report.audit.problem is None and report.audit.anchored == 41
    assert held(kiosk) == chain(kiosk)


@pytest.mark.parametrize("page", [False, True])
def test_one_entry_too_large_for_the_way_to_the_hub_is_named_and_the_head_still_told(
    kiosk: Device, page: bool
) -> None:
    """A 413 with the hub's own code (``page`` False) is the hub's verdict: the sync is a
    success that names the entry. A proxy's page is its limit: the entry and those after it
    are held back, and the sync with them (``test_proxy_body_limit``)."""
    small = _SmallBodies(6_000, page=page)
    with kiosk.open() as store, httpx.Client(transport=small) as http:
        store.audit.record(
            actor="cli:op", action="store.backed_up", subject="x", details={"r": "y" * 8000}
        )
        for _ in range(2):
            store.audit.record(actor="cli:op", action="store.backed_up", subject="x", details={})
            client = kiosk.client(store, http, hub_url="http://testserver")
            report = _held_back_or_not(client, held=page)
            assert (report.audit.held_back is not None) == page
            problem = report.audit.problem or ""
            assert problem.startswith("audit entry 2 is too large for the way to the hub"), problem
            state = AuditChainState.objects.get(device__uid=kiosk.registration.device_id)
            assert (state.anchored_sequence, state.reported_sequence) == (1, len(chain(kiosk)))


def _held_back_or_not(client: SyncClient, *, held: bool) -> SyncReport:
    """The report of ``client.sync_once()``: raised with a proxy's limit when ``held``."""
    if not held:
        return client.sync_once()
    with pytest.raises(ProxyBodyLimitError) as raised:
        client.sync_once()
    assert isinstance(raised.value.report, SyncReport)
    return raised.value.report


class _AuditForbidden(httpx.BaseTransport):
    """The real hub behind a proxy that answers the audit endpoint alone with ``status``."""

    def __init__(self, status: int) -> None:
        self._hub = httpx.WSGITransport(app=WSGIHandler())
        self._status = status

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/audit"):
            return httpx.Response(self._status, json={"error": "forbidden", "reason": "proxy"})
        return self._hub.handle_request(request)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_at_the_audit_endpoint_does_not_fail_the_sync(
    kiosk: Device, status: int
) -> None:
    with kiosk.open() as store, httpx.Client(transport=_AuditForbidden(status)) as http:
        add_access_events(store, kiosk.registration.site, 2)
        report = kiosk.client(store, http, hub_url="http://testserver").sync_once()
        assert report.push.acknowledged == 2 and drained(store)
        assert report.audit.problem is not None and f"{status}" in report.audit.problem
        status_now = read_status(store, {})
        assert status_now.last.error is None and status_now.last.succeeded_at is not None


def test_a_batch_past_the_hubs_daily_limit_does_not_fail_the_sync(kiosk: Device) -> None:
    """The hub refuses the chain past its daily limit on audit bytes (``audit_quota``): the
    sync's records go through, and anchoring reports why it stopped."""
    with (
        override_settings(JAGA_HUB_AUDIT_DAILY_BYTES=1000),  # less than these three entries
        kiosk.open() as store,
        httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())) as http,
    ):
        add_access_events(store, kiosk.registration.site, 2)
        report = kiosk.client(store, http, hub_url="http://testserver").sync_once()
        assert report.push.acknowledged == 2 and drained(store)
        assert report.audit.problem is not None and "limit of 1000 bytes" in report.audit.problem
        status_now = read_status(store, {})
        assert status_now.last.error is None and status_now.last.succeeded_at is not None
    assert held(kiosk) == []
    assert AuditChainState.objects.get(device__uid=kiosk.registration.device_id).over_limit == 1
