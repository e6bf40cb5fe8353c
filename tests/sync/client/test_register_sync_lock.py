"""``jaga sync register`` while a sync runs. Found by review: register took no sync lock, so
a background sync made with hub A's registration went on pulling from A after hub B's was
saved, and the id A's answer named (``learn_hub_id``) was kept as B's: records of B were then
held for A, and A's sent to B. Register now waits for the sync's lock, a sync made before a
registration syncs no more once it is saved, and a pull's hub id is kept only for the
registration it was made with."""

from __future__ import annotations

import threading
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from sync.client import SitePolicy, SyncClient, SyncConfig
from sync.client.config import Registration
from sync.client.errors import RegisteredAgainError
from sync.client.hub_identity import learn_hub_id
from sync.client.lock import sync_lock, sync_lock_waiting
from sync.client.moved_site import register_moving
from sync.client.state import read_values, save_registration
from sync.store import Store
from tests.sync.client.devices import add_access_events, enrol

HUB_A = "https://hub-a.example"
HUB_B = "https://hub-b.example"
SITE = "north-gate"


def _save(store: Store, registration: Registration) -> None:
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)


def _move(store: Store, registration: Registration) -> None:
    register_moving(store, registration, store.clock.now(), send_face_images=False, operator="ops")


def test_a_pull_made_with_the_old_registration_does_not_name_the_new_hub(store: Store) -> None:
    id_a, id_b = uuid4(), uuid4()
    old = Registration(HUB_A, SITE, uuid4(), "token-a", id_a)
    _save(store, old)
    enrol(store, SITE, "OLD-1", seed=3)
    _move(store, Registration(HUB_B, SITE, uuid4(), "token-b", id_b))

    learn_hub_id(store, str(id_a), old.hub_url, old.device_id)  # the stale sync's pull

    assert read_values(store.database)["hub_id"] == str(id_b)
    add_access_events(store, SITE, 1)  # a decision at B's gate: B's
    _move(store, Registration(HUB_A, SITE, uuid4(), "token-a2", id_a))
    rows = store.database.query("SELECT entity, for_hub FROM outbox WHERE state = 'queued'")
    assert ("access_event", None) not in [tuple(row) for row in rows]


def test_a_pull_of_the_registered_hub_names_it(store: Store) -> None:
    registration = Registration(HUB_A, SITE, uuid4(), "token-a")
    _save(store, registration)
    hub_id = str(uuid4())

    learn_hub_id(store, hub_id, registration.hub_url, registration.device_id)

    assert read_values(store.database)["hub_id"] == hub_id


def test_a_client_made_before_a_registration_syncs_no_more(store: Store) -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(503)

    old = Registration(HUB_A, SITE, uuid4(), "token-a")
    _save(store, old)
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        client = SyncClient(store, http, SyncConfig(old, SitePolicy()))
        _move(store, Registration(HUB_B, SITE, uuid4(), "token-b"))

        with pytest.raises(RegisteredAgainError):
            client.sync_once()

    assert requests == []


def test_register_waits_for_a_running_sync_and_says_so(tmp_path: Path) -> None:
    store_path = tmp_path / "jaga.db"
    said = threading.Event()
    order: list[str] = []

    def register() -> None:
        with sync_lock_waiting(store_path, said.set):
            order.append("registered")

    with sync_lock(store_path):  # the sync running
        registering = threading.Thread(target=register)
        registering.start()
        assert said.wait(60)  # safety only: the line comes before the wait
        order.append("sync done")
    registering.join(60)

    assert order == ["sync done", "registered"]
