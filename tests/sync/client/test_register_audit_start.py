"""A new registration anchors the audit chain from the registration on, never what came
before it: registered with another hub (another organisation), or with another site of the
same hub, the device's earlier entries (enrolments with the old hub's person uids, access
decisions, an erasure's typed reason) are not the new device's to hand over. The new hub
takes the chain from the registration's own entry, linked by its previous hash, with no
break; ``jaga audit verify`` still checks the whole chain on the device. Against the real
hub, with real stores."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from main import main
from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.client.state import read_values, save_registration
from sync.client.status import read_audit_status
from sync.hub.models import AnchoredAuditEntry, AuditBreak
from sync.protocol import AUDIT_GAP
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, Device, add_access_events, enrol, register
from tests.sync.client.test_register_moved import env, problem, sync
from tests.sync.client.test_register_moved import register as register_with_code
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name

REASON = "asked by J. Doe"


def _records(db: Path, site: str) -> list[str]:
    """Two people enrolled, decisions, and one person erased with a typed reason; the
    people's uids."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        people = [enrol(store, site, "A-1", seed=1), enrol(store, site, "A-2", seed=2)]
        add_access_events(store, site, 3)
        assert store.people.erase(people[1], operator="officer-7", reason=REASON)
    return people


def _head_and_device(db: Path) -> tuple[int, str]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return store.audit.head()[0], read_values(store.database)["device_id"]


def _registered_at(db: Path) -> int:
    """The sequence of the newest registration entry."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        rows = store.database.query(
            "SELECT max(sequence) FROM audit_log WHERE action = 'sync.registered'"
        )
    return int(rows[0][0] or 0)


def _held(device_id: str) -> list[AnchoredAuditEntry]:
    return list(AnchoredAuditEntry.objects.filter(device__uid=device_id).order_by("sequence"))


def _assert_anchored_from_the_registration(db: Path, before: int, people: list[str]) -> None:
    """The new hub holds the chain from the registration's entry to the head, nothing of
    the ``before`` entries recorded earlier (nor the old ``people``), and records no break."""
    head, device_id = _head_and_device(db)
    held = _held(device_id)
    assert held, "the new registration anchored nothing"
    assert held[0].sequence > before, "entries before the registration"
    assert not [entry for entry in held if REASON in entry.details]
    text = " ".join(f"{entry.subject} {entry.details}" for entry in held)
    assert not [uid for uid in people if uid in text]
    first = held[0]
    assert first.action == "sync.registered"
    assert json.loads(first.details)["device_id"] == device_id
    assert first.sequence == _registered_at(db)
    assert held[-1].sequence == head
    assert not AuditBreak.objects.filter(device__uid=device_id).exists()
    assert problem(db) == ""
    assert main(["audit", "verify", "--db", str(db)]) == 0  # the whole local chain


def test_registered_with_another_site_the_new_device_gets_no_earlier_entry(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the new device's first sync sent its whole chain from entry 1 (site x's
    enrolments, decisions and the erasure's reason) into site y's device record."""
    x, y = f"{site_slug}-x", f"{site_slug}-y"
    db = tmp_path / "moved" / "jaga.db"
    db.parent.mkdir(parents=True)
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    assert register_with_code(env, db, live_hub.url, x) == 0
    people = _records(db, x)
    assert sync(db) == 0
    old_head, old_device = _head_and_device(db)
    assert _held(old_device)[-1].sequence == old_head  # site x's device holds it all

    assert register_with_code(env, db, live_hub.url, y) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_access_events(store, y, 2)  # what the device records at y is y's
        status = read_audit_status(store, read_values(store.database)["device_id"])
    # Before its first sync, the status counts what goes: the registration's entry on.
    assert status.waiting == status.entries - _registered_at(db) + 1 == 3
    assert status.lines()[0].startswith(
        f"audit        not anchored at the hub yet: from entry {_registered_at(db)}"
    )
    assert sync(db) == 0

    _assert_anchored_from_the_registration(db, old_head, people)
    held = _held(_head_and_device(db)[1])
    assert [entry.action for entry in held].count("access.decision") == 2


def test_registered_with_another_hub_it_gets_no_entry_of_the_old_hubs(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the new hub received the old hub's person uids, decisions and the erasure's
    typed reason, another organisation's records."""
    db = tmp_path / "another" / "jaga.db"
    db.parent.mkdir(parents=True)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration("https://old-hub.example", site_slug, uuid4(), "old-token")
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
    people = _records(db, site_slug)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        # The old hub's outbox rows would hold the code back: they were pushed there.
        store.database.execute("UPDATE outbox SET state = 'acknowledged'")
    old_head = _head_and_device(db)[0]

    assert register_with_code(env, db, live_hub.url, site_slug) == 0
    assert sync(db) == 0

    _assert_anchored_from_the_registration(db, old_head, people)


class _OlderHub(httpx.BaseTransport):
    """The real hub, but its audit endpoint answers as a hub before registration starts
    does to a chain that does not begin at entry 1: ``audit_gap``, send from entry 1. Keeps
    the first sequence of every audit batch sent."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.firsts: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/audit"):
            return self._real.handle_request(request)
        entries = json.loads(request.read())["entries"]
        if entries:
            self.firsts.append(int(entries[0]["sequence"]))
        if entries and entries[0]["sequence"] == 1:
            return self._real.handle_request(request)
        body = {"error": AUDIT_GAP, "reason": "send from entry 1", "expected_offset": 0}
        return httpx.Response(409, json=body)

    def close(self) -> None:
        """Closed with its client: the real transport's connections to the hub with it."""
        self._real.close()


def test_a_hub_that_wants_the_chain_from_entry_1_is_not_sent_what_came_before(
    kiosk: Device, live_hub: HubProcess
) -> None:
    """A hub older than registration starts asks for entry 1 (``audit_gap``): the device
    says why it does not send it, and sends nothing before its registration."""
    with kiosk.open() as store:
        add_access_events(store, kiosk.registration.site, 2)
    moved = replace(kiosk, registration=register(live_hub.url, kiosk.registration.site, "new"))
    with moved.open() as store:
        register_moving(
            store, moved.registration, store.clock.now(), send_face_images=False, operator="ops"
        )
        begins = store.audit.head()[0]
        older = _OlderHub()
        with httpx.Client(transport=older) as http:
            report = moved.client(store, http).sync_once().audit
    assert older.firsts and min(older.firsts) == begins
    assert report.problem is not None
    assert f"begins at its registration, entry {begins}" in report.problem
    assert "update it" in report.problem
