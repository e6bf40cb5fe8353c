"""A device upgraded before its hub: the face photo upserts its store queued as it stripped
its photos' metadata were refused for good by the older hub ("photo ... is stored with a
different sha256") and quarantined. Once the hub says it takes them (its pull answers carry
``FACE_PHOTOS_RESTATED_HEADER``), they are sent again at the next push, audited; until then,
and for any other refusal, they wait for an operator."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.db import DEFAULT_DB_ALIAS

from sync.client.restated_photos import REQUEUED_BY
from sync.protocol import FACE_PHOTOS_RESTATED_HEADER
from sync.store import Consent, OutboxState, Photo, Store, Template
from sync.store.photos import load_photo
from tests.sync.client.devices import MODEL, enrol, new_device
from tests.sync.client.fakehub import SITE, FakeHub
from tests.sync.client.units import client_of, observations, states
from tests.sync.conftest import random_vector
from tests.sync.hub.hubkit import HubProcess
from tests.sync.images import CAMERA_SECRET, photo_with_metadata


def _quarantined_face_photo(
    store: Store, hub: FakeHub, reason: str | None = None
) -> tuple[int, str]:
    """Enrol a person with a photo; the hub refuses the photo's upsert for good, with an
    older hub's words unless ``reason``; returns the quarantined entry's sequence and the
    photo's uid."""
    enrol(store, SITE, "B-1001", 1, photo=True)
    photo_uid = next(e.entity_uid for e in store.outbox.entries() if e.entity == "photo")
    hub.reject[photo_uid] = reason or f"photo {photo_uid} is stored with a different sha256"
    client_of(store, hub).push()
    del hub.reject[photo_uid]
    (entry,) = [e for e in store.outbox.entries() if e.state == OutboxState.REJECTED]
    return entry.sequence, photo_uid


def _waiting(store: Store) -> dict[str, int]:
    """The entries not acknowledged, by state (acknowledged ones are forgotten in time)."""
    return {state: n for state, n in states(store).items() if state != "acknowledged"}


def test_an_older_hubs_refusal_is_sent_again_once_the_hub_takes_it(store: Store) -> None:
    hub = FakeHub()
    sequence, photo_uid = _quarantined_face_photo(store, hub)
    client_of(store, hub).sync_once()  # a hub not upgraded yet: it says nothing
    assert _waiting(store) == {"rejected": 1}
    hub.pull_headers[FACE_PHOTOS_RESTATED_HEADER] = "1"  # upgraded
    client_of(store, hub).sync_once()  # its pull answer requeues the entry
    assert _waiting(store) == {"queued": 1}, "the older hub's refusal stays quarantined"
    client_of(store, hub).sync_once()
    assert _waiting(store) == {}
    assert hub.stored[("photo", photo_uid)] == 1
    (audited,) = [a for a in store.audit.entries() if a.action == "outbox.requeued"]
    assert audited.actor == REQUEUED_BY
    assert json.loads(audited.details_json)["sequences"] == [sequence]


@pytest.mark.parametrize(
    "reason",
    [
        "photo 0b1c2d3e-0000-4000-8000-000000000000 is stored with a different sha256, which"
        " is not its bytes without their metadata either",  # an upgraded hub's: other bytes
        "photo 0b1c2d3e-0000-4000-8000-000000000000 belongs to another person, or to none",
    ],
)
def test_any_other_refusal_waits_for_an_operator(store: Store, reason: str) -> None:
    hub = FakeHub()
    hub.pull_headers[FACE_PHOTOS_RESTATED_HEADER] = "1"
    _quarantined_face_photo(store, hub, reason)
    observations(store, 1)
    client_of(store, hub).sync_once()
    client_of(store, hub).sync_once()
    assert _waiting(store) == {"rejected": 1}
    assert not [a for a in store.audit.entries() if a.action == "outbox.requeued"]


def test_a_device_upgraded_before_its_hub_has_its_stripped_photo_taken_after_the_upgrade(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Against a real hub: a face photo the hub kept whole, as an older hub did; the device,
    upgraded first, stripped its copy and the older hub refused its new sha256 (as the
    quarantine left it). The hub's upgrade strips its copy; the device's next syncs send the
    refused entry again, and the hub takes it as the same photo."""
    from sync.hub.face_photo_upgrade import strip_stored_face_photos
    from sync.hub.models import Photo as HubPhoto

    device = new_device(tmp_path, live_hub.url, site_slug)
    whole = photo_with_metadata(5)
    with device.open() as store, httpx.Client() as http:
        now = store.clock.now()
        store.people.enrol(  # as an older kiosk kept its photo: whole
            external_id="B-1001",
            display_name="Ada",
            site=site_slug,
            consent=Consent("kiosk-consent-v3", now, "officer-7", now + timedelta(days=365)),
            templates=[Template(MODEL, random_vector(1), 0.9, "camera")],
            operator="officer-7",
            duplicate_threshold=0.99,
            photos=[Photo(whole, "image/jpeg", now)],
        )
        device.client(store, http).sync_once()
    (photo_uid,) = [
        str(uid)
        for uid in HubPhoto.objects.filter(site__slug=site_slug).values_list("uid", flat=True)
    ]
    HubPhoto.objects.filter(uid=photo_uid).update(data=whole)  # as an older hub kept it
    with device.open() as store:  # the upgraded device strips its copy, queues the new sha256
        store.database.connection.execute(
            "UPDATE outbox SET state = 'rejected', reject_reason = ? WHERE entity = 'photo'"
            " AND state = 'queued'",
            (f"photo {photo_uid} is stored with a different sha256",),  # the older hub's
        )
        assert _waiting(store) == {"rejected": 1}
    strip_stored_face_photos(HubPhoto, DEFAULT_DB_ALIAS)  # the hub's upgrade
    with device.open() as store, httpx.Client() as http:
        device.client(store, http).sync_once()  # requeued by the pull
        device.client(store, http).sync_once()  # sent
        assert _waiting(store) == {}
        stripped = load_photo(store.database, photo_uid)
    kept = HubPhoto.objects.get(uid=photo_uid)
    assert bytes(kept.data) == stripped.data and CAMERA_SECRET not in stripped.data
    assert kept.sha256 == stripped.sha256 == hashlib.sha256(stripped.data).hexdigest()
