"""A face image's entry sent again under a NEW key decides ``withheld`` afresh, from the
site's policy at its first send, instead of carrying what an older entry said: one
``jaga sync retry-uploads`` queues (review s28)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from sync.client import SyncClient
from sync.client.failed_uploads import retry_failed_uploads
from sync.store import Store
from tests.sync.client.devices import enrol, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.client.test_live_sync import hub_photo_states
from tests.sync.client.test_withheld_retry import (
    allowing,
    quarantined_reasons,
)
from tests.sync.hub.hubkit import HubProcess

OPERATOR = "cli:officer-7"


def photo_payloads(store: Store) -> list[dict[str, object]]:
    """Each photo upsert's payload, oldest first."""
    rows = store.database.query(
        "SELECT payload FROM outbox WHERE entity = 'photo' AND operation = 'upsert'"
        " ORDER BY sequence"
    )
    return [json.loads(payload) for (payload,) in rows]


def refuse_its_upload(photo_uid: str) -> None:
    """The hub's metadata of the photo is another's (another device's push replaced it):
    the device's upload of its bytes is refused for good (409 ``upload_conflict``)."""
    from sync.hub.models import Photo

    other = b"another device's photo"
    Photo.objects.filter(uid=photo_uid).update(
        sha256=hashlib.sha256(other).hexdigest(), byte_size=len(other)
    )


def test_a_retried_upload_decides_withheld_afresh_from_the_policy(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: the entry the retry queued said what the old one said (``withheld: False``,
    a face image allowed to travel then) though the policy kept face images by now; a
    notice had to follow it in a third entry."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        enrol(store, site_slug, "B-4", seed=4, photo=True)
        SyncClient(store, http, allowing(device))._pusher.push_all()
        ((photo_uid,),) = store.database.query("SELECT photo_uid FROM photos")
        refuse_its_upload(str(photo_uid))
        assert SyncClient(store, http, allowing(device)).sync_once().uploads.failed == 1
        deny = device.config()  # the cause dealt with, face images are kept here now

        assert retry_failed_uploads(store, None, operator=OPERATOR) == 1
        assert "withheld" not in photo_payloads(store)[-1]  # its first send decides
        report = SyncClient(store, http, deny).sync_once()

        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 0
        assert hub_photo_states(site_slug) == {"withheld": 1}
        assert [p.get("withheld") for p in photo_payloads(store)] == [False, True]  # no notice
        assert drained(store)
