"""A face image whose site stops letting it travel after the hub was told its bytes would
follow: the device tells the hub it now keeps it (``PhotoUpsert.withheld``), once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from sync.client import SitePolicy, SyncClient
from sync.client.status import read_status
from sync.client.withheld import queue_withheld_notices
from sync.store import Store
from tests.sync.client.devices import enrol, new_device
from tests.sync.client.test_live_sync import hub_photo_states
from tests.sync.hub.hubkit import HubProcess


def photo_entries(store: Store) -> int:
    rows = store.database.query("SELECT count(*) FROM outbox WHERE entity = 'photo'")
    return int(rows[0][0])


def test_a_photo_pushed_while_allowed_then_withheld_is_told_withheld(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-9", seed=9, photo=True)
        allow = replace(device.config(), policy=SitePolicy(send_face_images=True))
        SyncClient(store, http, allow)._pusher.push_all()  # the link drops before the upload
        assert hub_photo_states(site_slug) == {"awaiting_upload": 1}
        deny = device.config()
        report = SyncClient(store, http, deny).sync_once()
        assert report.uploads.completed == 0
        assert read_status(store, {}).withheld_face_images == 1
        # The hub waited for bytes that never come, so its upload alert never cleared.
        assert hub_photo_states(site_slug) == {"withheld": 1}
        told = photo_entries(store)
        SyncClient(store, http, deny).sync_once()
        assert photo_entries(store) == told  # told once, not again each sync
        assert hub_photo_states(site_slug) == {"withheld": 1}
        # Allowed again, the bytes go and the photo ends stored.
        assert SyncClient(store, http, allow).sync_once().uploads.completed == 1
        assert hub_photo_states(site_slug) == {"stored": 1}


def test_a_photo_pushed_withheld_is_not_told_again(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-9", seed=9, photo=True)
        SyncClient(store, http, device.config()).sync_once()
        SyncClient(store, http, device.config()).sync_once()
        assert photo_entries(store) == 1
        assert hub_photo_states(site_slug) == {"withheld": 1}


def test_a_notice_first_sent_once_the_photo_may_travel_again_leaves_it_awaited(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A notice queued while the policy kept the photo, whose push the link cut, then first
    sent once the policy lets the photo travel again: it said ``withheld`` all the same
    (fixed as it was queued), so the hub stopped waiting for bytes that are on their way,
    and a photo whose upload then stalls was shown withheld, its alert silent."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-9", seed=9, photo=True)
        allow = replace(device.config(), policy=SitePolicy(send_face_images=True))
        SyncClient(store, http, allow)._pusher.push_all()  # the link drops before the upload
        # A sync under the policy that keeps it queues the notice; the link drops before
        # the push.
        assert queue_withheld_notices(store, device.config().policy) == 1
        SyncClient(store, http, allow)._pusher.push_all()  # and again before the upload
        assert hub_photo_states(site_slug) == {"awaiting_upload": 1}
        assert SyncClient(store, http, allow).sync_once().uploads.completed == 1
        assert hub_photo_states(site_slug) == {"stored": 1}
