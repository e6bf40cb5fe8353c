"""What the hub holds of each device's audit chain is counted as it is stored, so a
``/metrics`` scrape reads a row a device instead of the whole table."""

from __future__ import annotations

import importlib
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync.hub.audit_breaks import acknowledge
from sync.hub.auth import issue_code
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AnchoredAuditEntry, AuditChainState, Device
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import (
    _registered_again,
    _sample,
    breaks,
    decide,
    links,
    send,
)
from tests.sync.test_store_audit import tamper

COUNT_HELD = importlib.import_module("sync.hub.migrations.0009_audit_entries_counted").COUNT_HELD


def scraped_entries(site: str) -> float:
    """The site's anchored entries as a scrape shows them, read without the entries' table."""
    with CaptureQueriesContext(connection) as queries:
        families = {family.name: family for family in DatabaseCollector().collect()}
    assert not [q["sql"] for q in queries if "hub_anchoredauditentry" in q["sql"]]
    return _sample(families["jaga_hub_audit_entries"], site=site)


def held_rows(api: Api) -> int:
    return int(AnchoredAuditEntry.objects.filter(device__site__slug=api.site).count())


def test_the_scraped_count_follows_batches_breaks_and_new_segments(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)[:2]).status_code == 200
    assert scraped_entries(api.site) == held_rows(api) == 2
    assert send(api, links(store)).json()["stored"] == 3  # two held already, skipped
    assert send(api, links(store)).json()["stored"] == 0  # sent again
    assert scraped_entries(api.site) == held_rows(api) == 5
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=5)).status_code == 409  # a break stores nothing
    assert scraped_entries(api.site) == held_rows(api) == 5
    acknowledge(breaks(api)[0], "operator", "looked")
    assert send(api, links(store, after=4)).status_code == 200  # segment 1: 5 and 6
    assert scraped_entries(api.site) == held_rows(api) == 7
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    decide(store, clock, 1)
    assert send(again, links(store)).status_code == 200  # the same store: a copy of 6, and 7
    assert scraped_entries(api.site) == held_rows(api) == 9
    neighbour = Api.register_new(api.site, "kiosk-2")
    with Store.create(tmp_path / "other.db", passphrase, clock=clock, config=FAST) as other:
        assert send(neighbour, links(other)).status_code == 200
    assert scraped_entries(api.site) == held_rows(api) == 10


def test_the_migration_counts_the_entries_held_before_it(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200
    AuditChainState.objects.filter(device__uid=api.device_id).update(entries=0)  # as before
    with connection.cursor() as cursor:
        cursor.execute(COUNT_HELD)
    assert AuditChainState.objects.get(device__uid=api.device_id).entries == 3
