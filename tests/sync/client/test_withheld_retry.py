"""A face image's entry sent again under its first key after the site's policy changed: a
push whose answer was lost, or an acknowledged one queued again for a renewed hub
(``sync.store.resend``). The hub refuses a key that comes back with other content, so what
the first send said of the image (``withheld``) goes again unchanged, and the policy's
change follows as a notice (``sync.client.withheld``) or as the upload (review s28)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from main import main
from sync.client import SitePolicy, SyncClient
from sync.client.config import SyncConfig
from sync.client.errors import HubUnavailableError
from sync.store import Store
from tests.sync.client.devices import Device, enrol, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.client.test_live_sync import hub_photo_states
from tests.sync.client.test_withheld_flip import photo_entries
from tests.sync.hub.hubkit import HubProcess


class LoseFirstPushAnswer(httpx.HTTPTransport):
    """Delivers every request; the answer to the first push never reaches the client."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.armed and request.url.path.endswith("/push"):
            self.armed = False
            response.read()
            raise httpx.ReadError("connection reset after the hub answered")
        return response


def allowing(device: Device) -> SyncConfig:
    return replace(device.config(), policy=SitePolicy(send_face_images=True))


def quarantined_reasons(store: Store) -> list[str]:
    return [entry.reason for entry in store.outbox.quarantined()]


def push_answer_lost(store: Store, http: httpx.Client, config: SyncConfig) -> None:
    try:
        SyncClient(store, http, config).sync_once()
    except HubUnavailableError:
        return
    raise AssertionError("the first push's answer was meant to be lost")


def test_a_lost_answer_retried_after_the_policy_kept_face_images_tells_the_hub_once(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client(transport=LoseFirstPushAnswer()) as http:
        enrol(store, site_slug, "B-9", seed=9, photo=True)
        push_answer_lost(store, http, allowing(device))
        assert hub_photo_states(site_slug) == {"awaiting_upload": 1}  # the hub applied it
        deny = device.config()  # face images kept here from now on

        report = SyncClient(store, http, deny).sync_once()

        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 0
        assert hub_photo_states(site_slug) == {"withheld": 1}  # in the same sync
        assert drained(store)
        told = photo_entries(store)
        SyncClient(store, http, deny).sync_once()
        assert photo_entries(store) == told  # told once, not again each sync


def test_a_lost_answer_retried_after_the_policy_let_face_images_travel_uploads_it(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client(transport=LoseFirstPushAnswer()) as http:
        enrol(store, site_slug, "B-8", seed=8, photo=True)
        push_answer_lost(store, http, device.config())  # kept here: withheld
        assert hub_photo_states(site_slug) == {"withheld": 1}

        report = SyncClient(store, http, allowing(device)).sync_once()

        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 1
        assert hub_photo_states(site_slug) == {"stored": 1}
        assert drained(store)


def renew_log_epoch(tmp_path: Path) -> None:
    """The hub renews its log: each device queues again what it sent, under its first keys
    (``sync.store.resend``), to a hub that here still holds them. ``--again``: the hub's
    database is the session's, which another test may have renewed already."""
    assert main(["hub", "renew-log-epoch", "--again", "--data", str(tmp_path / "hub")]) == 0


def test_a_photo_sent_again_for_a_renewed_hub_after_the_policy_kept_face_images(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-7", seed=7, photo=True)
        client = SyncClient(store, http, allowing(device))
        client._pusher.push_all()
        client._puller.pull_all()  # the link drops before the upload
        renew_log_epoch(tmp_path)
        deny = device.config()

        report = SyncClient(store, http, deny).sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        assert quarantined_reasons(store) == []
        assert hub_photo_states(site_slug) == {"withheld": 1}
        assert drained(store)


def test_a_photo_sent_again_for_a_renewed_hub_after_the_policy_let_face_images_travel(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-6", seed=6, photo=True)
        SyncClient(store, http, device.config()).sync_once()  # kept here: withheld
        renew_log_epoch(tmp_path)

        report = SyncClient(store, http, allowing(device)).sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 1
        assert hub_photo_states(site_slug) == {"stored": 1}
        assert drained(store)


def lose_on_hub(photo_uid: str) -> None:
    """The hub's database restored from a backup taken before the photo was pushed: the
    photo (its bytes with it) and the keys its entries were applied under are gone."""
    from sync.hub.models import AppliedEntry, Photo

    Photo.objects.filter(uid=photo_uid).delete()
    AppliedEntry.objects.filter(entity="photo", entity_uid=photo_uid).delete()


def test_a_photo_uploaded_before_a_renewal_that_lost_it_is_told_withheld_in_that_sync(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Its bytes went up, so no notice was owed before the push; the renewal queues its
    entry again under its first key (saying they would follow) and drops the upload the
    hub lost, which the policy now keeps here. The notice goes in the push that follows
    the renewal, not a sync later: the hub would wait for the bytes till then."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-5", seed=5, photo=True)
        assert SyncClient(store, http, allowing(device)).sync_once().uploads.completed == 1
        ((photo_uid,),) = store.database.query("SELECT photo_uid FROM photos")
        lose_on_hub(str(photo_uid))
        renew_log_epoch(tmp_path)
        deny = device.config()

        report = SyncClient(store, http, deny).sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 0
        assert hub_photo_states(site_slug) == {"withheld": 1}  # in the same sync
        assert drained(store)
        told = photo_entries(store)
        SyncClient(store, http, deny).sync_once()
        assert photo_entries(store) == told  # told once
