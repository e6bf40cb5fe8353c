"""After a new registration code, the admin shows whether the chain that came next goes on
from the device's old one (the same store registering again) or is a new store's, which
does not: the old segment's entries stay either way. ``/metrics`` counts the new stores'
chains per site (``jaga_hub_audit_new_chains``), so a hub's operators can alert on one."""

from __future__ import annotations

import importlib
from pathlib import Path

from django.db import connection
from django.test import Client

from sync.hub.auth import issue_code
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AuditBreak, Device
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import (
    _registered_again,
    _sample,
    breaks,
    decide,
    held,
    links,
    send,
)

JUDGE_ISSUED = importlib.import_module("sync.hub.migrations.0011_audit_reissued_chain").JUDGE_ISSUED
NEW_CHAIN = "a new chain: does not continue the one before the code"


def new_chains(api: Api) -> float:
    """``jaga_hub_audit_new_chains`` for ``api``'s site, as ``/metrics`` has it."""
    families = {family.name: family for family in DatabaseCollector().collect()}
    return _sample(families["jaga_hub_audit_new_chains"], site=api.site)


def _listed(operator: Client, api: Api) -> str:
    """The Audit breaks page, for ``api``'s site."""
    site = Device.objects.get(uid=api.device_id).site_id
    page = operator.get(f"/admin/hub/auditbreak/?device__site__id__exact={site}")
    return str(page.content.decode())


def test_a_new_stores_chain_after_a_code_is_flagged_as_not_continuing_the_old_one(
    api: Api,
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    passphrase: Passphrase,
    *,
    operator: Client,
) -> None:
    decide(store, clock, 2)
    old = links(store)
    assert send(api, old).status_code == 200
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    (record,) = breaks(api)
    assert record.continues_old_chain is None and NEW_CHAIN not in _listed(operator, api)
    assert new_chains(api) == 0  # a code nothing came after yet
    with Store.create(tmp_path / "replacement.db", passphrase, clock=clock, config=FAST) as fresh:
        decide(fresh, clock, 1)
        assert send(again, links(fresh)).status_code == 200
    (judged,) = breaks(api)
    assert (judged.kind, judged.continues_old_chain) == ("reissued", False)
    assert NEW_CHAIN in _listed(operator, api)
    assert new_chains(api) == 1
    old_segment = [(q, h) for s, q, h in held(api) if s == 0]
    assert old_segment == [(link["sequence"], link["entry_hash"]) for link in old]  # kept


def test_the_same_store_after_a_code_is_shown_as_going_on(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    decide(store, clock, 1)
    assert send(again, links(store)).status_code == 200
    (record,) = breaks(api)
    assert record.continues_old_chain is True
    assert NEW_CHAIN not in _listed(operator, api)
    assert new_chains(api) == 0


def test_the_migration_judges_the_codes_issued_before_it(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 1)
    assert send(api, links(store)).status_code == 200
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    with Store.create(tmp_path / "replacement.db", passphrase, clock=clock, config=FAST) as fresh:
        assert send(again, links(fresh)).status_code == 200
    AuditBreak.objects.filter(device__uid=api.device_id).update(continues_old_chain=None)
    neighbour = Api.register_new(api.site, "kiosk-2")  # its code's chain is still to come
    assert send(neighbour, links(store)).status_code == 200
    issue_code(Device.objects.get(uid=neighbour.device_id))
    with connection.cursor() as cursor:
        cursor.execute(JUDGE_ISSUED)
    assert [b.continues_old_chain for b in breaks(api)] == [False]
    assert [b.continues_old_chain for b in breaks(neighbour)] == [None]
