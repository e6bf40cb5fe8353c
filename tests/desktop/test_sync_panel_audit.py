"""The sync panel shows the audit chain's anchoring as `jaga sync status` reads it: how many
entries wait to be anchored, when the hub last anchored the chain, and, standing out, an open
audit break the hub's admin must acknowledge, or another reason the chain is not anchored.

Each state is a real store's, left there by the real client syncing with a real hub
(``jaga hub run`` on embedded PostgreSQL), read by the app's own store check or by the
bridge after a sync. Set ``JAGA_TEST_SCREENSHOTS=FOLDER`` to keep a picture of the panel
showing a break.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from PySide6.QtWidgets import QApplication

from desktop.settings import AppSettings
from desktop.store_check import StoreCheck, check_store
from desktop.sync_panel import SyncPanel
from desktop.sync_text import local_time
from sync.client import Phase, SyncClient
from sync.client.report import SyncReport
from sync.store import Passphrase, Store
from sync.store.clock import parse_timestamp
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE as UNIT_PASSPHRASE
from tests.desktop.test_live_app import keep_screenshot
from tests.desktop.test_sync_bridge import run_until
from tests.sync.client.devices import PASSPHRASE, Device, add_access_events, new_device
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST
from tests.sync.hub.hubfixtures import site_slug
from tests.sync.hub.hubkit import HubProcess
from tests.sync.test_store_audit import tamper

__all__ = ["site_slug"]


def checked(device: Device) -> StoreCheck:
    """What the app reads from the store when it starts (or Resume checks again)."""
    settings = AppSettings(device.path, None, {PASSPHRASE_ENV: PASSPHRASE}, store_config=FAST)
    return check_store(settings)


def panel_showing(qapp: QApplication, check: StoreCheck) -> SyncPanel:
    panel = SyncPanel(Path("/data/jaga.db"))
    panel.resize(760, 420)
    panel.show()
    panel.show_check(check)
    qapp.processEvents()
    return panel


def sync(device: Device) -> SyncReport:
    with device.open() as store, httpx.Client() as http:
        return device.client(store, http).sync_once()


def decisions(device: Device, count: int) -> None:
    with device.open() as store:
        add_access_events(store, device.registration.site, count)


def shown_time(stored: str | None) -> str:
    assert stored is not None
    return local_time(parse_timestamp(stored))


def test_waiting_entries_the_last_anchoring_and_an_open_break_are_shown(
    qapp: QApplication, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.audit_breaks import acknowledge
    from sync.hub.models import AuditBreak

    device = new_device(tmp_path, live_hub.url, site_slug)
    decisions(device, 4)
    check = checked(device)
    assert check.status is not None
    entries = check.status.audit.entries
    panel = panel_showing(qapp, check)
    assert panel.audit.text() == f"{entries} entries wait to be anchored; never anchored"
    assert not panel.audit_issue.isVisible()

    sync(device)
    decisions(device, 2)
    check = checked(device)
    assert check.status is not None
    audit = check.status.audit
    assert (audit.anchored, audit.entries) == (entries, entries + 2)
    panel.show_check(check)
    assert panel.audit.text() == (
        f"2 entries wait to be anchored; last anchored {shown_time(audit.anchored_at)} "
        f"(up to entry {entries} of {entries + 2})"
    )
    assert not panel.audit_issue.isVisible()

    # Someone holding the key rewrites the chain's newest entries: the hub refuses it.
    with device.open() as store:
        tamper(store, f"DELETE FROM audit_log WHERE sequence > {entries - 1}")
        add_access_events(store, device.registration.site, 3)
    assert sync(device).push.acknowledged == 5  # the records still travel
    panel.show_check(checked(device))
    issue = panel.audit_issue.text()
    assert panel.audit_issue.isVisible()
    assert issue.startswith("Open audit break at the hub: it refuses this device's audit chain")
    assert "What to do: ask the hub's admin to look into it and acknowledge the break" in issue
    assert f"Details: the hub refused the audit chain: audit entry {entries + 1} does not" in issue
    qapp.processEvents()
    keep_screenshot(panel, "sync-panel-audit-break.png")

    assert sync(device).audit.problem is not None  # refused again while the break is open
    panel.show_check(checked(device))
    assert panel.audit_issue.isVisible() and panel.audit_issue.text().startswith("Open audit break")

    (recorded,) = AuditBreak.objects.filter(device__uid=device.registration.device_id)
    assert acknowledge(recorded, "operator")
    sync(device)
    check = checked(device)
    assert check.status is not None
    audit = check.status.audit
    panel.show_check(check)
    assert panel.audit.text() == (
        f"all {audit.entries} entries anchored; last anchored {shown_time(audit.anchored_at)}"
    )
    assert not panel.audit_issue.isVisible()


def test_a_hub_that_does_not_anchor_is_shown_after_each_sync(
    qapp: QApplication, registered_store: Path
) -> None:
    """The bridge reads the same status after a sync as the check before one; a problem
    that is not a break is shown too, with its own words and no call for the hub's admin."""
    hub = FakeHub()  # a hub from before audit chains were anchored (404)

    @contextlib.contextmanager
    def fake_hub_client() -> Iterator[SyncClient]:
        with Store.open(registered_store, Passphrase(UNIT_PASSPHRASE), config=FAST) as store:
            yield client_of(store, hub)

    receiver, _ = run_until(fake_hub_client, Phase.IDLE, "the first sync")
    idle = receiver.snapshots[receiver.phases().index(Phase.IDLE)]
    assert idle.audit is not None
    panel = SyncPanel(registered_store)
    panel.show()
    panel.show_snapshot(idle)
    qapp.processEvents()
    assert panel.audit.text() == "1 entry waits to be anchored; never anchored"  # store.created
    assert panel.audit_issue.isVisible()
    issue = panel.audit_issue.text()
    assert issue.startswith("Audit chain not anchored: the hub does not anchor audit chains")
    assert "acknowledge" not in issue
