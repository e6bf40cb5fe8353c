"""The client against a real hub process: push, pull, uploads, erasure, review corrections."""

from __future__ import annotations

import hashlib
import threading
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import httpx

from sync.client import (
    Backoff,
    Phase,
    ServiceState,
    SitePolicy,
    SyncClient,
    SyncService,
    open_client,
)
from sync.client.status import read_status
from sync.store import Passphrase
from sync.store.photos import load_photo
from tests.sync.client import faults
from tests.sync.client.devices import (
    FAST_TUNING,
    MODEL,
    PASSPHRASE,
    add_access_events,
    add_observations,
    add_photo_observation,
    enrol,
    new_device,
)
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.hubcheck import drained, hub_photo_sha256, hub_tally
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess


def test_a_sync_pushes_everything_once_and_pulls_the_site_back(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 45, "live")
        add_access_events(store, site_slug, 5)
        enrol(store, site_slug, "B-1", seed=1)
        photo_uid = add_photo_observation(store, 150_000, seed=2, tag="with-photo")
        report = device.client(store, http).sync_once()
        assert report.push.acknowledged == 45 + 5 + 2 + 2 and report.push.rejected == 0
        assert report.push.batches == 3  # 20 entries a batch
        assert report.uploads.completed == 1
        assert drained(store)
        tally = hub_tally(site_slug, [store])
        assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
        assert hub_photo_sha256(photo_uid) == load_photo(store.database, photo_uid).sha256
        status = read_status(store, {})
        assert status.cursor == report.pull.cursor > 0
        assert status.pending_uploads == 0 and status.last.error is None


def test_an_erasure_on_one_device_erases_the_person_on_the_other(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, kiosk_b.open() as b, httpx.Client() as http:
        person = enrol(a, site_slug, "B-7", seed=7, photo=True)
        client_a, client_b = kiosk_a.client(a, http), kiosk_b.client(b, http)
        client_a.sync_once()
        client_b.sync_once()
        assert b.people.get(person).external_id == "B-7"
        assert len(b.gallery(MODEL)) == 1
        a.people.erase(person, operator="officer-7", reason="request")
        client_a.sync_once()
        pulled = client_b.sync_once().pull
        assert pulled.erased == 1
        assert b.people.count() == 0 and len(b.gallery(MODEL)) == 0
        assert b.audit.entries()[-1].action == "person.erased"
        assert drained(a) and drained(b)


def test_face_images_stay_on_the_device_unless_the_site_allows_them(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-9", seed=9, photo=True)
        photo_uid = store.database.query("SELECT photo_uid FROM photos")[0][0]
        report = device.client(store, http).sync_once()
        assert report.uploads.completed == 0
        assert hub_photo_sha256(photo_uid) is None  # metadata only: the bytes stayed here
        assert read_status(store, {}).withheld_face_images == 1
        # The hub counted it as a stuck upload (awaiting_upload), so an alert never cleared.
        assert hub_photo_states(site_slug) == {"withheld": 1}
        allowed = read_status(store, {"JAGA_SYNC_FACE_IMAGES": "1"})
        assert allowed.withheld_face_images == 0 and allowed.pending_uploads == 1
        expected = hashlib.sha256(load_photo(store.database, photo_uid).data).hexdigest()
        config = replace(device.config(), policy=SitePolicy(send_face_images=True))
        assert SyncClient(store, http, config).sync_once().uploads.completed == 1
        assert hub_photo_sha256(photo_uid) == expected
        assert hub_photo_states(site_slug) == {"stored": 1}


def hub_photo_states(site: str) -> dict[str, float]:
    """The site's photos by state in the hub's ``/metrics`` (read from its database), 0s left
    out."""
    from sync.hub.metrics_db import DatabaseCollector

    (family,) = [f for f in DatabaseCollector().collect() if f.name == "jaga_hub_photos"]
    ours = [s for s in family.samples if s.labels["site"] == site and s.value]
    return {s.labels["state"]: s.value for s in ours}


def test_the_background_service_rides_out_an_outage(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    with device.open() as store:
        add_observations(store, 50, "service")
    proxy.add(Rule(Action.REFUSE, "/push", times=4))
    states: list[ServiceState] = []
    done = threading.Event()

    def watch(state: ServiceState) -> None:
        states.append(state)
        if state.phase == Phase.IDLE and state.last_report is not None:
            done.set()

    def factory() -> AbstractContextManager[SyncClient]:
        return open_client(
            device.path, Passphrase(PASSPHRASE), env={"JAGA_HUB_URL": proxy.url},
            store_config=FAST, tuning=FAST_TUNING,
        )  # fmt: skip

    service = SyncService(factory, backoff=Backoff(0.05, 0.2), on_state=watch)
    service.start()
    try:
        assert done.wait(60), [s.phase for s in states]
    finally:
        service.stop()
    assert [s.failures for s in states if s.phase == Phase.BACKING_OFF] == [1, 2, 3, 4]
    with device.open() as store:
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    faults.record("hub unreachable for 4 attempts (background service)", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
