"""What a photo put back from the Catch panel's spool costs the link (``keep_pulled_photo``):
it is queued for the hub whether or not the hub holds its bytes, since a pull says only which
photo a catch names (photos never travel in pulls), not whether the hub has the bytes.

Checked in session 34 (spool) against a real hub: one that holds the bytes answers the
photo's entry as any re-push of its own photo (applied, nothing changed) and the upload's
start as complete, so no byte of the photo goes up again; one that holds only the photo's
metadata (the sync before the restore pushed it and was cut before the upload) gets the
bytes, which were then only in the spool entry. Not queued, that photo would never reach
the hub. Real stores, real spool, a real worker killed after the commit, a real hub on the
suite's PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from desktop.catch_store import CatchStore
from sync.store import Passphrase
from sync.store.backups import restore
from tests.desktop.test_catch_spool_pulled import site_slug
from tests.desktop.test_catch_spool_restored import (
    _forget_observation_uids,
    _sync,
    kept_and_committed,
    take_backup,
)
from tests.sync.client.devices import PASSPHRASE as HUB_PASSPHRASE
from tests.sync.client.devices import new_device
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["site_slug"]  # the fixture, used by name


@pytest.mark.parametrize("uploaded", [True, False], ids=["hub-has-bytes", "hub-has-metadata"])
def test_a_photo_put_back_goes_up_only_when_the_hub_lacks_its_bytes(
    uploaded: bool, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import Photo as HubPhoto

    boat = new_device(tmp_path, live_hub.url, site_slug, f"boat-upload-{uploaded}")
    before = tmp_path / "before.db"
    take_backup(boat.path, HUB_PASSPHRASE, before)
    catch = kept_and_committed(boat.path, tmp_path, HUB_PASSPHRASE)
    _forget_observation_uids(boat.path)
    with boat.open() as store, httpx.Client() as http:
        client = boat.client(store, http)
        client.push()  # the catch and its photo's metadata
        if uploaded:
            assert client.upload_photos().bytes_sent == len(catch.photo.data)
    assert HubPhoto.objects.get(uid=catch.uid).stored is uploaded
    restore(
        before, boat.path, Passphrase(HUB_PASSPHRASE), operator="test", force=True,
        discard_unsynced=True, config=FAST,
    )  # fmt: skip
    with boat.open() as store, httpx.Client() as http:
        boat.client(store, http).pull()  # the catch back, naming its photo
    assert CatchStore(boat.path, Passphrase(HUB_PASSPHRASE), FAST).pending() == []  # put back

    requests: list[httpx.Request] = []
    with boat.open() as store, httpx.Client(event_hooks={"request": [requests.append]}) as http:
        report = boat.client(store, http).sync_once()
    sent = report.uploads.bytes_sent
    chunks = [r for r in requests if r.method == "PUT" and "/uploads/" in r.url.path]
    if uploaded:
        assert sent == 0, f"{sent} bytes of a photo the hub holds went up again"
        assert chunks == [], f"{len(chunks)} chunks of a photo the hub holds went up again"
        up = sum(len(r.content) for r in requests)
        print(f"\nsync after the put-back: {len(requests)} requests, {up} body bytes up")
    else:
        assert sent == len(catch.photo.data), f"{sent} of the photo's bytes went up"
        assert chunks, "the photo's bytes went up outside its upload"
    (held,) = HubPhoto.objects.filter(uid=catch.uid)
    assert held.stored and bytes(held.data) == catch.photo.data
    assert report.uploads.completed == 1
    _sync(boat)
