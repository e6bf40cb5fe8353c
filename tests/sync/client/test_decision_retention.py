"""A kiosk's old decisions deleted by a sync once the hub holds them, against a real hub:
the hub keeps its copy of the chain, and takes the device's next entries without a break."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from main import main
from sync.store.retention import DEFAULT_KEEP_DAYS
from tests.sync.client.devices import Device, SkewedClock
from tests.sync.client.test_audit_anchor import breaks, chain, decisions, held, sync_now


def test_a_sync_deletes_old_decisions_the_hub_holds_and_the_chain_goes_on(
    kiosk: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions(kiosk, 5)
    sync_now(kiosk, capsys)
    anchored = held(kiosk)
    assert anchored == chain(kiosk)

    later = SkewedClock(timedelta(days=DEFAULT_KEEP_DAYS + 1))  # the decisions are old now
    with kiosk.open(later) as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
        assert store.access.count() == 0
        assert store.audit.checkpoint().sequence == anchored[-1][0] - 1  # the head is kept

    decisions(kiosk, 3)
    sync_now(kiosk, capsys)
    kept = chain(kiosk)
    assert kept[0] == anchored[-1]
    assert held(kiosk) == anchored + kept[1:]  # the hub's copy whole, the new entries on it
    assert breaks(kiosk) == []
    assert main(["audit", "verify", "--db", str(kiosk.path)]) == 0
    assert "deleted by retention" in capsys.readouterr().out


def test_a_kiosk_back_after_months_offline_keeps_what_it_delivers_for_the_window(
    kiosk: Device,
) -> None:
    """The sync that first delivers a kiosk's old decisions must not delete them: a hub
    restored from the night before would have them nowhere."""
    decisions(kiosk, 5)
    back = SkewedClock(timedelta(days=100))  # offline 100 days, now it syncs
    with kiosk.open(back) as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
        assert store.access.count() == 5
        assert store.audit.checkpoint().sequence == 0
    assert held(kiosk) == chain(kiosk)  # delivered and anchored all the same

    window_on = SkewedClock(timedelta(days=100 + DEFAULT_KEEP_DAYS + 1))
    with kiosk.open(window_on) as store, httpx.Client() as http:
        kiosk.client(store, http).sync_once()
        assert store.access.count() == 0
        assert store.audit.checkpoint().sequence > 0
        assert store.audit.verify().ok
