"""A face image's entry sent again under a NEW key decides ``withheld`` afresh, from the
site's policy at its first send, instead of carrying what an older entry said: one
``jaga sync retry-uploads`` queues, and a photo entry an older release quarantined as
"idempotency key already used for different content" (it kept what the entry's last send
said, not its first), which ``jaga sync requeue`` sends under a new key (review s28)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from sync.client import SyncClient
from sync.client.config import SyncConfig
from sync.client.failed_uploads import retry_failed_uploads
from sync.store import OutboxState, Store
from tests.sync.client.devices import enrol, new_device
from tests.sync.client.hubcheck import drained
from tests.sync.client.test_live_sync import hub_photo_states
from tests.sync.client.test_withheld_retry import (
    LoseFirstPushAnswer,
    allowing,
    push_answer_lost,
    quarantined_reasons,
)
from tests.sync.hub.hubkit import HubProcess

OPERATOR = "cli:officer-7"
KEY_REUSED = "idempotency key already used for different content"


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


def quarantine_as_an_older_release_did(
    store: Store, http: httpx.Client, first: SyncConfig, then: SyncConfig
) -> None:
    """The photo's first send (under ``first``'s policy) is applied but its answer lost; an
    older release sent it again under ``then``'s, deciding ``withheld`` again and keeping
    that LAST answer in the entry (``json_set``). The hub refuses the key's other content
    for good: quarantined, with the last answer kept."""
    push_answer_lost(store, http, first)
    now_says = not then.policy.send_face_images
    with store.database.write() as connection:
        connection.execute(
            "UPDATE outbox SET payload = json_set(payload, '$.withheld', json(?))"
            " WHERE entity = 'photo' AND operation = 'upsert'",
            (json.dumps(now_says),),
        )
    SyncClient(store, http, then).sync_once()
    assert quarantined_reasons(store) == [KEY_REUSED]


def requeued_audit(store: Store) -> list[dict[str, object]]:
    assert store.audit.verify().ok
    return [
        json.loads(entry.details_json)
        for entry in store.audit.entries()
        if entry.action == "outbox.requeued"
    ]


def quarantined_photo(store: Store) -> tuple[int, str]:
    ((sequence, key),) = store.database.query(
        "SELECT sequence, idempotency_key FROM outbox WHERE state = ?",
        (OutboxState.REJECTED.value,),
    )
    return int(sequence), str(key)


def test_a_photo_an_older_release_quarantined_is_requeued_under_a_new_key_withheld(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Before: requeued under its key with the last send's answer, the entry was refused
    again for good, and the hub waited for bytes the policy keeps here."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client(transport=LoseFirstPushAnswer()) as http:
        enrol(store, site_slug, "B-3", seed=3, photo=True)
        deny = device.config()
        quarantine_as_an_older_release_did(store, http, allowing(device), deny)
        assert hub_photo_states(site_slug) == {"awaiting_upload": 1}
        sequence, old_key = quarantined_photo(store)

        assert store.outbox.requeue_quarantined(None, operator=OPERATOR) == 1
        report = SyncClient(store, http, deny).sync_once()

        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 0
        assert hub_photo_states(site_slug) == {"withheld": 1}
        assert drained(store)
        (entry,) = [e for e in store.outbox.entries() if e.entity == "photo"]
        assert (entry.sequence, entry.payload()["withheld"]) == (sequence, True)
        assert entry.idempotency_key != old_key
        assert requeued_audit(store) == [
            {"entries": 1, "sequences": [sequence], "new_keys": [sequence]}
        ]


def test_a_photo_an_older_release_quarantined_is_requeued_and_uploaded_once_allowed(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client(transport=LoseFirstPushAnswer()) as http:
        enrol(store, site_slug, "B-2", seed=2, photo=True)
        allow = allowing(device)
        quarantine_as_an_older_release_did(store, http, device.config(), allow)
        assert hub_photo_states(site_slug) == {"withheld": 1}

        assert store.outbox.requeue_quarantined(None, operator=OPERATOR) == 1
        report = SyncClient(store, http, allow).sync_once()

        assert quarantined_reasons(store) == []
        assert report.uploads.completed == 1
        assert hub_photo_states(site_slug) == {"stored": 1}
        assert drained(store)
